// Envelope engine, file fast paths (sealFile / unsealFile, also used by the CLI for file → file):
// on one thread, block reads into reused buffers, one write in flight, background fdatasync; for
// large files, worker threads with positional reads and writes (parallel.ts). Both must write exactly
// the message layout the stream path writes, for every size around frame and block edges, and the
// stock SDK must open what they write; a damaged blob gets the same error from both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RawAesKeyringNode, RawAesWrappingSuiteIdentifier, buildClient, CommitmentPolicy } from '@aws-crypto/client-node';
import { inspect, sealBuffer, sealFile, unsealBuffer, unsealFile, type Recipient } from '../../src/core/envelope';
import { createAtomicFile } from '../../src/core/atomic';
import { parallelStats, parallelTuning, parallelWorkers } from '../../src/core/envelope/parallel';
import { FakeLocal, pattern, resolverOf } from './envelope/fakes';

const stock = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
const MiB = 1024 * 1024;

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'envelope-fast-'));
  try {
    return await fn(dir);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

/** Runs fn with the parallel path taken for every non-empty file (true) or for none (false). */
async function withParallel<T>(on: boolean, fn: () => Promise<T>): Promise<T> {
  const saved = parallelTuning.minBytes;
  parallelTuning.minBytes = on ? 1 : Number.MAX_SAFE_INTEGER;
  try {
    return await fn();
  } finally {
    parallelTuning.minBytes = saved;
  }
}

for (const parallel of [false, true])
  test(`sealFile / unsealFile (${parallel ? 'worker threads' : 'one thread'}): every size around frame and block edges matches the stream layout and opens everywhere`, () =>
    withParallel(parallel, () => edges(parallel)));

async function edges(parallel: boolean) {
  if (parallel) assert.ok(parallelWorkers() >= 2, 'this machine has at least 2 cores (else the parallel path never runs)');
  const before = { ...parallelStats };
  const local = new FakeLocal();
  const material = await local.addKey('team-key');
  const rL: Recipient = { provider: local, region: 'local', key: 'team-key' };
  const resolve = resolverOf(local);
  const stockKeyring = new RawAesKeyringNode({
    keyName: 'team-key',
    keyNamespace: 'local',
    unencryptedMasterKey: new Uint8Array(material),
    wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
  });
  await withDir(async (dir) => {
    // frame 1000: blocks of 1048 frames (1,048,000 B); frame 4096: blocks of 256 frames (1 MiB);
    // frame 1 MiB: one frame per block; frame 3 MiB: one (larger) frame per block.
    const cases: Array<[number, number[]]> = [
      [1000, [0, 1, 999, 1000, 1001, 1_048_000, 1_048_001, 2 * 1_048_000, 2 * 1_048_000 + 5]],
      [4096, [4096 * 256 - 1, 4096 * 256, 4096 * 256 + 1, 3 * MiB + 17]],
      [MiB, [0, 1, MiB - 1, MiB, MiB + 1, 2 * MiB, 3 * MiB + 7]],
      [3 * MiB, [3 * MiB, 7 * MiB + 1]],
    ];
    for (const [frameLength, sizes] of cases) {
      for (const size of sizes) {
        const label = `frame ${frameLength}, ${size} B`;
        const data = pattern(size);
        const plain = path.join(dir, 'plain.bin');
        const sealed = path.join(dir, 'plain.bin.sealed');
        await fsp.writeFile(plain, data);
        const progress: number[] = [];
        const info = await sealFile(plain, sealed, {
          recipients: [rL],
          context: { size: String(size) },
          frameLength,
          onProgress: (n) => progress.push(n),
        });
        assert.equal(progress.at(-1) ?? 0, size, `${label}: progress reaches the size`);
        const blob = await fsp.readFile(sealed);
        // Same message layout (length is a function of header, frame length and size) as the stream path.
        const viaStream = await sealBuffer(data, { recipients: [rL], context: { size: String(size) }, frameLength });
        assert.equal(blob.length, viaStream.length, `${label}: same length as the stream path`);
        assert.equal(info.frameLength, frameLength);
        assert.deepEqual(await inspect(blob), info);
        // The stream path opens it; the stock SDK opens it; unsealFile opens it and the stream path's blob.
        assert.ok((await unsealBuffer(blob, { resolve })).plaintext.equals(data), `${label}: stream path opens the file path's blob`);
        if (size <= 2 * MiB)
          assert.ok((await stock.decrypt(stockKeyring, blob)).plaintext.equals(Buffer.from(data)), `${label}: stock SDK opens it`);
        const out = path.join(dir, 'out.bin');
        await unsealFile(sealed, out, { resolve, context: { size: String(size) } });
        assert.ok((await fsp.readFile(out)).equals(data), `${label}: unsealFile round trip`);
        await fsp.writeFile(sealed, viaStream);
        await unsealFile(sealed, out, { resolve });
        assert.ok((await fsp.readFile(out)).equals(data), `${label}: unsealFile opens the stream path's blob`);
      }
    }
    assert.deepEqual((await fsp.readdir(dir)).sort(), ['out.bin', 'plain.bin', 'plain.bin.sealed'], 'no temp files left');
  });
  // 22 cases, 20 of them non-empty: a seal on worker threads for each non-empty input (an empty one
  // has nothing to split), two unseals for each blob (an empty input's blob still has a final frame).
  assert.equal(parallelStats.runs - before.runs, parallel ? 20 + 2 * 22 : 0, 'which path ran');
  assert.equal(parallelStats.fallbacks, before.fallbacks, 'no fallback on good blobs');
}

test('unsealFile on a tampered large blob: format error naming the frame, no output, no temp file', async () => {
  const local = new FakeLocal();
  await local.addKey('team-key');
  const rL: Recipient = { provider: local, region: 'local', key: 'team-key' };
  await withDir(async (dir) => {
    const plain = path.join(dir, 'plain.bin');
    await fsp.writeFile(plain, pattern(5 * MiB + 3));
    await sealFile(plain, path.join(dir, 's'), { recipients: [rL] });
    const blob = await fsp.readFile(path.join(dir, 's'));
    blob[blob.length - 2 * MiB] ^= 0x40; // inside frame 4 of 6
    await fsp.writeFile(path.join(dir, 's'), blob);
    for (const parallel of [false, true])
      await withParallel(parallel, () =>
        assert.rejects(unsealFile(path.join(dir, 's'), path.join(dir, 'o'), { resolve: resolverOf(local) }), (err: Error) => {
          assert.match(err.message, /frame 4 failed authentication/);
          return true;
        }),
      );
    assert.deepEqual((await fsp.readdir(dir)).sort(), ['plain.bin', 's']);
  });
});

test('a damaged blob gets the same error on worker threads as on one thread, and no output', async () => {
  const local = new FakeLocal();
  await local.addKey('team-key');
  const rL: Recipient = { provider: local, region: 'local', key: 'team-key' };
  const resolve = resolverOf(local);
  const fl = 65536;
  const regular = fl + 32;
  await withDir(async (dir) => {
    const plain = path.join(dir, 'plain.bin');
    await fsp.writeFile(plain, pattern(40 * fl + 123)); // 41 frames: 3 blocks of 16
    await withParallel(true, () => sealFile(plain, path.join(dir, 'good'), { recipients: [rL], frameLength: fl }));
    const blob = await fsp.readFile(path.join(dir, 'good'));
    const body = 40 * regular + 40 + 123;
    const at = (seq: number) => blob.length - body + (seq - 1) * regular;
    const edit = (fn: (b: Buffer) => void) => {
      const c = Buffer.from(blob);
      fn(c);
      return c;
    };
    const damages: Array<[string, Buffer]> = [
      ['a bit flipped in frame 20', edit((b) => (b[at(20) + 100] ^= 1))],
      ['a bit flipped in the final tag', edit((b) => (b[b.length - 1] ^= 1))],
      [
        'frames 5 and 6 swapped',
        Buffer.concat([blob.subarray(0, at(5)), blob.subarray(at(6), at(7)), blob.subarray(at(5), at(6)), blob.subarray(at(7))]),
      ],
      ['frame 7 numbered 8', edit((b) => b.writeUInt32BE(8, at(7)))],
      ['the final frame one byte longer', edit((b) => b.writeUInt32BE(124, at(41) + 20))],
      ['cut inside the final frame', blob.subarray(0, blob.length - 10)],
      ['cut after frame 40', blob.subarray(0, at(41))],
      ['cut after frame 32 (a block edge)', blob.subarray(0, at(33))],
      ['one byte of trailing data', Buffer.concat([blob, Buffer.from('x')])],
      [`${regular} bytes of trailing data`, Buffer.concat([blob, blob.subarray(at(3), at(4))])],
    ];
    const before = parallelStats.fallbacks;
    for (const [label, damaged] of damages) {
      await fsp.writeFile(path.join(dir, 'bad'), damaged);
      const messages: string[] = [];
      for (const parallel of [false, true]) {
        await withParallel(parallel, () =>
          assert.rejects(unsealFile(path.join(dir, 'bad'), path.join(dir, 'out'), { resolve }), (err: Error) => {
            messages.push(err.message);
            return true;
          }),
        );
      }
      assert.equal(messages[1], messages[0], `${label}: the same error on both paths`);
      assert.deepEqual((await fsp.readdir(dir)).sort(), ['bad', 'good', 'plain.bin'], `${label}: no output, no temp file`);
    }
    // The ones whose size still fits the layout went to the workers and came back to the one-thread reader.
    assert.ok(parallelStats.fallbacks - before >= 5, `fallbacks: ${parallelStats.fallbacks - before}`);
    await withParallel(true, () => unsealFile(path.join(dir, 'good'), path.join(dir, 'out'), { resolve }));
    assert.ok((await fsp.readFile(path.join(dir, 'out'))).equals(await fsp.readFile(plain)));
  });
});

test('a seal or unseal on worker threads stops when cancelled: no output, no temp file', async () => {
  const local = new FakeLocal();
  await local.addKey('team-key');
  const rL: Recipient = { provider: local, region: 'local', key: 'team-key' };
  await withDir(async (dir) => {
    const plain = path.join(dir, 'plain.bin');
    await fsp.writeFile(plain, pattern(64 * MiB));
    await withParallel(true, async () => {
      const ac = new AbortController();
      await assert.rejects(
        sealFile(plain, path.join(dir, 's'), {
          recipients: [rL],
          signal: ac.signal,
          onProgress: (n) => n >= 4 * MiB && ac.abort(),
        }),
        /Cancelled/,
      );
      assert.deepEqual(await fsp.readdir(dir), ['plain.bin']);
      await sealFile(plain, path.join(dir, 's'), { recipients: [rL] });
      const ac2 = new AbortController();
      await assert.rejects(
        unsealFile(path.join(dir, 's'), path.join(dir, 'o'), {
          resolve: resolverOf(local),
          signal: ac2.signal,
          onProgress: (n) => n >= 4 * MiB && ac2.abort(),
        }),
        /Cancelled/,
      );
      assert.deepEqual((await fsp.readdir(dir)).sort(), ['plain.bin', 's']);
    });
  });
});

test('atomic file writer: writes land in order even unawaited, commit renames (mode 0600), abort removes, no write after', async () => {
  await withDir(async (dir) => {
    const target = path.join(dir, 'out');
    const f = await createAtomicFile(target);
    const parts = Array.from({ length: 200 }, (_, i) => Buffer.alloc(1 + (i % 7) * 100_000, i));
    const pending = parts.map((p) => f.write([p])); // not awaited one by one: still in call order
    await Promise.all(pending);
    // Before commit: an unnamed file (Linux, O_TMPFILE) shows nothing; elsewhere one hidden temp file.
    assert.deepEqual(await fsp.readdir(dir), f.unnamed ? [] : [path.basename(f.tempPath)], 'nothing but the temp file before commit');
    await assert.rejects(fsp.stat(target));
    await f.commit();
    assert.ok((await fsp.readFile(target)).equals(Buffer.concat(parts)));
    assert.equal((await fsp.stat(target)).mode & 0o777, 0o600);
    await assert.rejects(f.write([Buffer.from('late')]), /after the output/);

    const g = await createAtomicFile(path.join(dir, 'gone'));
    await g.write([Buffer.alloc(70 * MiB, 1)]); // past the background-sync threshold
    await g.write([Buffer.from('x')]);
    await g.abort();
    await g.abort();
    assert.deepEqual(await fsp.readdir(dir), ['out']);
  });
});
