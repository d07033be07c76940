// Envelope engine: tampering (every header byte, sampled body bytes), truncation, trailing data,
// streams with bounded memory, atomic files, cancellation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { CancelledError, KmsEnvelopeError } from '../../src/core/errors';
import { cliStep } from '../../src/cli/hints';
import { inspect, sealBuffer, sealFile, sealStream, unsealBuffer, unsealFile, unsealStream, type Recipient } from '../../src/core/envelope';
import { FakeCloudKms, FakeLocal, pattern, resolverOf } from './envelope/fakes';

async function setup() {
  const local = new FakeLocal();
  await local.addKey('team-key');
  const tencent = new FakeCloudKms('tencent').addKey('ap-guangzhou', 'tk-1');
  const rL: Recipient = { provider: local, region: 'local', key: 'team-key' };
  const rT: Recipient = { provider: tencent, region: 'ap-guangzhou', key: 'tk-1' };
  return { local, tencent, rL, rT, resolve: resolverOf(local, tencent) };
}

async function failure(p: Promise<unknown>): Promise<KmsEnvelopeError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof KmsEnvelopeError, `not a KmsEnvelopeError: ${(err as Error)?.stack}`);
    return err;
  }
  assert.fail('expected a failure');
}

const FRAME = 256;
/** Body of a blob sealed with FRAME-byte frames: n full frames + a final frame of `last` bytes. */
function bodyLength(full: number, last: number) {
  return full * (4 + 12 + FRAME + 16) + (4 + 4 + 12 + 4 + last + 16);
}

test('every header byte flipped: rejected with a specific format error (or the KMS naming the mangled key)', async () => {
  const { rL, resolve } = await setup();
  const pt = pattern(FRAME * 3 + 100);
  const blob = await sealBuffer(pt, { recipients: [rL], context: { app: 'demo', env: 'prod' }, frameLength: FRAME });
  const headerLength = blob.length - bodyLength(3, 100);
  // bytes of the local key's name inside the EDK's providerInfo (nothing can authenticate them
  // before a data key is found, so the provider's "not found" naming the altered key is the answer)
  const nameAt = blob.indexOf(Buffer.from('team-key'));
  const messages = new Set<string>();
  for (let i = 0; i < headerLength; i++) {
    const bad = Buffer.from(blob);
    bad[i] = bad[i]! ^ 0x01;
    const err = await failure(unsealBuffer(bad, { resolve }));
    const inName = i >= nameAt && i < nameAt + 8;
    assert.equal(err.kind, inName ? 'provider' : 'format', `offset ${i}: ${err.message}`);
    if (inName) assert.match(err.message, /Local key ".*" not found/);
    assert.doesNotMatch(err.message, /cannot open the blob:/, `offset ${i} got the generic fallback: ${err.message}`);
    assert.ok(err.hint, `offset ${i}: no next step for ${err.message}`);
    messages.add(err.message);
  }
  const all = [...messages].join('\n');
  for (const re of [
    /not a KMS Envelope blob/,
    /signing suite/,
    /unsupported algorithm suite/,
    /key commitment check failed/,
    /header authentication failed/,
    /malformed header: the encryption context section is corrupt/,
    /could not unwrap the data key/,
    /unsupported content type/,
  ]) {
    assert.match(all, re);
  }
});

test('cloud recipient: every header byte flipped is rejected, never opened', async () => {
  const { rT, resolve } = await setup();
  const blob = await sealBuffer(pattern(10), { recipients: [rT], context: { app: 'demo' }, frameLength: FRAME });
  const headerLength = blob.length - bodyLength(0, 10);
  for (let i = 0; i < headerLength; i++) {
    const bad = Buffer.from(blob);
    bad[i] = bad[i]! ^ 0x80;
    const err = await failure(unsealBuffer(bad, { resolve }));
    assert.ok(['format', 'provider'].includes(err.kind), `offset ${i}: ${err.kind} ${err.message}`);
  }
});

test('body bytes flipped (frame headers, content, tags, final frame): format error naming the frame', async () => {
  const { rL, resolve } = await setup();
  const blob = await sealBuffer(pattern(FRAME * 3 + 100), { recipients: [rL], frameLength: FRAME });
  const bodyStart = blob.length - bodyLength(3, 100);
  const frameSize = 4 + 12 + FRAME + 16;
  const offsets: number[] = [];
  for (let f = 0; f < 3; f++) {
    const at = bodyStart + f * frameSize;
    for (let j = 0; j < 16; j++) offsets.push(at + j); // sequence number + IV
    offsets.push(at + 16, at + 16 + FRAME / 2, at + 16 + FRAME - 1); // content
    for (let j = 0; j < 16; j++) offsets.push(at + 16 + FRAME + j); // tag
  }
  for (let i = bodyStart + 3 * frameSize; i < blob.length; i++) offsets.push(i); // whole final frame
  for (const i of offsets) {
    const bad = Buffer.from(blob);
    bad[i] = bad[i]! ^ 0x01;
    const err = await failure(unsealBuffer(bad, { resolve }));
    assert.equal(err.kind, 'format', `offset ${i}: ${err.message}`);
    assert.match(err.message, /frame \d|truncated|final frame/, `offset ${i}: ${err.message}`);
    assert.ok(err.hint, `offset ${i}: no next step for ${err.message}`);
  }
  const f2 = Buffer.from(blob);
  f2[bodyStart + frameSize + 20] ^= 0x01;
  assert.match((await failure(unsealBuffer(f2, { resolve }))).message, /^frame 2 failed authentication: the body was modified$/);
  // swapping two whole frames is caught by the sequence numbers
  const swapped = Buffer.concat([
    blob.subarray(0, bodyStart),
    blob.subarray(bodyStart + frameSize, bodyStart + 2 * frameSize),
    blob.subarray(bodyStart, bodyStart + frameSize),
    blob.subarray(bodyStart + 2 * frameSize),
  ]);
  assert.match((await failure(unsealBuffer(swapped, { resolve }))).message, /frame out of order: expected frame 1, found 2/);
});

test('truncation at many points and trailing data: format errors; unsealFile leaves no output', async () => {
  const { rL, resolve } = await setup();
  const blob = await sealBuffer(pattern(FRAME * 2 + 50), { recipients: [rL], frameLength: FRAME });
  const headerLength = blob.length - bodyLength(2, 50);
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'envelope-trunc-'));
  try {
    const cuts = [
      0,
      1,
      3,
      36,
      60,
      headerLength - 1,
      headerLength,
      headerLength + 5,
      headerLength + 16,
      headerLength + 100,
      headerLength + 16 + FRAME + 8,
      headerLength + 288,
      blob.length - 60,
      blob.length - 20,
      blob.length - 1,
    ];
    for (const cut of cuts) {
      const err = await failure(unsealBuffer(blob.subarray(0, cut), { resolve }));
      assert.equal(err.kind, 'format', `cut ${cut}: ${err.message}`);
      assert.match(err.message, cut === 0 ? /empty input/ : /^truncated: the message ends (inside|after)/, `cut ${cut}`);
      assert.match(
        err.hintIn(cliStep) ?? '',
        cut === 0 ? /kms-envelope inspect/ : /get the whole sealed file again/,
        `cut ${cut}: ${err.hint}`,
      );
      const input = path.join(dir, 'in.sealed');
      const output = path.join(dir, 'out.txt');
      await fsp.writeFile(input, blob.subarray(0, cut));
      const fileErr = await failure(unsealFile(input, output, { resolve }));
      assert.equal(fileErr.kind, 'format');
      assert.equal(fileErr.details.file, input);
      assert.deepEqual(await fsp.readdir(dir), ['in.sealed'], `cut ${cut}: no output, no temp file`);
    }
    assert.match(
      (await failure(unsealBuffer(blob.subarray(0, headerLength + 100), { resolve }))).message,
      /ends inside frame 1 \(84 of 256 bytes\)/,
    );
    assert.match(
      (await failure(unsealBuffer(blob.subarray(0, headerLength + 2 * 288), { resolve }))).message,
      /ends after frame 2, before its final frame/,
    );
    const trailing = Buffer.concat([blob, Buffer.from([0])]);
    assert.match((await failure(unsealBuffer(trailing, { resolve }))).message, /unexpected data after the final frame/);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

/** A readable of `total` pseudo-random bytes in chunks of varying size; hashes what it emits. */
function source(total: number) {
  const hash = createHash('sha256');
  const block = pattern((1 << 20) + 4096, 99);
  let sent = 0;
  let i = 0;
  const stream = new Readable({
    read() {
      if (sent >= total) return void this.push(null);
      const n = Math.min(total - sent, [65536, 1 << 20, 12345, 300000][i++ % 4]!);
      const chunk = Buffer.from(block.subarray(sent % 4096, (sent % 4096) + n));
      hash.update(chunk);
      sent += n;
      this.push(chunk);
    },
  });
  return { stream, digest: () => hash.digest('hex') };
}

function hashSink() {
  const hash = createHash('sha256');
  let bytes = 0;
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      cb();
    },
  });
  return { sink, result: () => ({ digest: hash.digest('hex'), bytes }) };
}

test('streams: 64 MiB sealed and unsealed through a pipe with bounded memory', async () => {
  const { rL, resolve } = await setup();
  const total = 64 * 1024 * 1024;
  const src = source(total);
  const pipe = new PassThrough();
  const out = hashSink();
  let peak = 0;
  const base = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss - base)), 20);
  let sealedProgress = 0;
  try {
    const [sealedInfo, openedInfo] = await Promise.all([
      sealStream(src.stream, pipe, { recipients: [rL], context: { stream: 'yes' }, onProgress: (n) => (sealedProgress = n) }),
      unsealStream(pipe, out.sink, { resolve, context: { stream: 'yes' } }),
    ]);
    assert.equal(sealedInfo.messageId, openedInfo.messageId);
  } finally {
    clearInterval(timer);
  }
  const r = out.result();
  assert.equal(r.bytes, total);
  assert.equal(r.digest, src.digest());
  assert.equal(sealedProgress, total);
  assert.ok(peak < 96 * 1024 * 1024, `RSS grew by ${(peak / 2 ** 20).toFixed(1)} MiB`);
});

test('files: atomic seal/unseal round trip, input untouched, private mode, io errors name the file', async () => {
  const { rL, resolve } = await setup();
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'envelope-files-'));
  try {
    const plain = path.join(dir, 'plain.bin');
    const sealed = path.join(dir, 'plain.bin.sealed');
    const opened = path.join(dir, 'opened.bin');
    const data = pattern(3 * 1024 * 1024 + 7);
    await fsp.writeFile(plain, data);
    const progress: number[] = [];
    const info = await sealFile(plain, sealed, { recipients: [rL], context: { file: 'plain.bin' }, onProgress: (n) => progress.push(n) });
    assert.equal(progress.at(-1), data.length);
    assert.ok((await fsp.readFile(plain)).equals(data), 'input untouched');
    assert.equal((await fsp.stat(sealed)).mode & 0o777, 0o600);
    assert.deepEqual(await inspect(await fsp.readFile(sealed)), info);
    const back = await unsealFile(sealed, opened, { resolve, context: { file: 'plain.bin' } });
    assert.equal(back.messageId, info.messageId);
    assert.ok((await fsp.readFile(opened)).equals(data));
    // wrong context: no output file at a new path, existing output untouched at an old one
    const err = await failure(unsealFile(sealed, path.join(dir, 'never.bin'), { resolve, context: { file: 'other' } }));
    assert.equal(err.kind, 'format');
    await fsp.writeFile(path.join(dir, 'keep.bin'), 'old');
    await failure(unsealFile(sealed, path.join(dir, 'keep.bin'), { resolve, context: { file: 'other' } }));
    assert.equal(await fsp.readFile(path.join(dir, 'keep.bin'), 'utf8'), 'old');
    assert.deepEqual((await fsp.readdir(dir)).sort(), ['keep.bin', 'opened.bin', 'plain.bin', 'plain.bin.sealed']);
    const missing = await failure(sealFile(path.join(dir, 'nope'), path.join(dir, 'x'), { recipients: [rL] }));
    assert.equal(missing.kind, 'io');
    assert.match(missing.message, /Cannot read .*nope: no such file/);
    const noDir = await failure(sealFile(plain, path.join(dir, 'no', 'such', 'dir', 'x'), { recipients: [rL] }));
    assert.equal(noDir.kind, 'io');
    assert.match(noDir.message, /its folder does not exist/);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('cancellation: AbortSignal stops seal/unseal with CancelledError and removes temp output', async () => {
  const { rL, tencent, rT, resolve } = await setup();
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'envelope-cancel-'));
  try {
    const plain = path.join(dir, 'big.bin');
    await fsp.writeFile(plain, pattern(8 * 1024 * 1024));
    const ac = new AbortController();
    const err = await failure(
      sealFile(plain, path.join(dir, 'big.sealed'), { recipients: [rL], signal: ac.signal, onProgress: () => ac.abort() }),
    );
    assert.ok(err instanceof CancelledError, err.message);
    assert.deepEqual(await fsp.readdir(dir), ['big.bin'], 'no output, no temp file');

    await sealFile(plain, path.join(dir, 'big.sealed'), { recipients: [rL], frameLength: 65536 });
    const ac2 = new AbortController();
    const err2 = await failure(
      unsealFile(path.join(dir, 'big.sealed'), path.join(dir, 'big.out'), {
        resolve,
        signal: ac2.signal,
        onProgress: (n) => n > 2 * 1024 * 1024 && ac2.abort(),
      }),
    );
    assert.ok(err2 instanceof CancelledError, err2.message);
    assert.deepEqual((await fsp.readdir(dir)).sort(), ['big.bin', 'big.sealed']);

    const pre = new AbortController();
    pre.abort();
    assert.ok((await failure(sealBuffer(Buffer.from('x'), { recipients: [rT], signal: pre.signal }))) instanceof CancelledError);
    assert.ok((await failure(unsealBuffer(Buffer.from('x'), { resolve, signal: pre.signal }))) instanceof CancelledError);
    assert.equal(tencent.calls.generate, 0, 'no KMS call once cancelled');
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});
