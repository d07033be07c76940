// Envelope library: what an input holds (binary message, armored message, armored values in other
// text, at any size and chunking) and the streaming armor encoder/decoder against armor()/dearmor().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KmsEnvelopeError } from '../../src/core/errors';
import {
  ARMOR_PREFIX,
  armor,
  armorDecoder,
  armorEncoder,
  dearmor,
  findArmored,
  openSealedInput,
  scanArmored,
  sealBuffer,
  sniffFile,
  sniffHead,
  unsealStream,
} from '../../src/core/envelope';
import { FakeLocal, resolverOf } from './envelope/fakes';

/** Feeds `data` in pieces of random sizes between 1 and `max` bytes. */
function chunked(data: Buffer, max: number): Readable {
  const pieces: Buffer[] = [];
  for (let i = 0; i < data.length;) {
    const n = Math.min(data.length - i, 1 + randomInt(max));
    pieces.push(data.subarray(i, i + n));
    i += n;
  }
  return Readable.from(pieces, { objectMode: false });
}

async function collect(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

async function setup() {
  const local = new FakeLocal();
  await local.addKey('team-key');
  const seal = (text: string) => sealBuffer(Buffer.from(text), { recipients: [{ provider: local, region: 'local', key: 'team-key' }] });
  return { local, seal, resolve: resolverOf(local) };
}

test('scanArmored finds what findArmored finds, with byte offsets and lines, whatever the chunking', async () => {
  const { seal } = await setup();
  const a = armor(await seal('one'));
  const b = armor(await seal('two'));
  // Padding variants, cut values, a prefix split by chunking, a run that swallows a second prefix, non-ASCII text.
  const tricky = [
    `${ARMOR_PREFIX}QUJD`,
    `${ARMOR_PREFIX}QUI=`,
    `${ARMOR_PREFIX}QQ==`,
    `${ARMOR_PREFIX}QQ=`,
    `${ARMOR_PREFIX}QUJDRA`,
    `${ARMOR_PREFIX}`,
    'kmsenv:v2:QUJD',
    'kmsenv:v1',
    `${ARMOR_PREFIX}QUJDkmsenv:v1:QUJD`,
    `${ARMOR_PREFIX}QUJD=${ARMOR_PREFIX}QUJD`,
    'päss wörd ✓ — ',
  ];
  for (let round = 0; round < 40; round++) {
    const parts: string[] = [];
    for (let i = 0; i < 12; i++) {
      const pick = randomInt(4);
      parts.push(pick === 0 ? a : pick === 1 ? b : tricky[randomInt(tricky.length)]!);
      parts.push(['\n', ' ', '"', ': ', '\r\n', '', 'x'][randomInt(7)]!);
    }
    const text = parts.join('');
    const want = findArmored(text);
    const got = await scanArmored(chunked(Buffer.from(text), round % 2 ? 7 : 4096));
    assert.deepEqual(
      got.map((v) => v.text),
      want.map((w) => w.text),
      text,
    );
    const bytes = Buffer.from(text);
    for (const [i, v] of got.entries()) {
      assert.equal(v.offset, Buffer.byteLength(text.slice(0, want[i]!.start)));
      assert.equal(bytes.subarray(v.offset, v.end).toString(), v.text);
      const before = text.slice(0, want[i]!.start);
      assert.equal(v.line, before.split('\n').length);
      assert.equal(v.column, Buffer.byteLength(before.slice(before.lastIndexOf('\n') + 1)) + 1);
    }
  }
});

test('openSealedInput: binary, armored (BOM, whitespace, tiny chunks), values in text; empty and plain text are format errors', async () => {
  const { seal, resolve } = await setup();
  const blob = await seal('secret value');
  const open = async (data: Buffer, max = 1 << 16) => openSealedInput(chunked(data, max), 'in.txt');
  const unseal = async (r: Readable) => {
    const out: Buffer[] = [];
    const sink = new (await import('node:stream')).Writable({
      write(c, _e, cb) {
        out.push(c as Buffer);
        cb();
      },
    });
    await unsealStream(r, sink, { resolve });
    return Buffer.concat(out).toString();
  };

  const bin = await open(blob);
  assert.equal(bin.kind, 'message');
  assert.equal(bin.kind === 'message' && bin.form, 'binary');
  assert.equal(await unseal((bin as { stream: Readable }).stream), 'secret value');

  for (const text of [armor(blob), `\ufeff  \n${armor(blob)}\n`, `${armor(blob)}   \r\n`]) {
    const arm = await open(Buffer.from(text), 3);
    assert.equal(arm.kind === 'message' && arm.form, 'armored', text);
    assert.equal(await unseal((arm as { stream: Readable }).stream), 'secret value');
  }

  const second = armor(await seal('other'));
  const env = Buffer.from(`# app\nDB=${armor(blob)}\nTOKEN="${second}"\n`);
  const vals = await open(env, 5);
  assert.equal(vals.kind, 'values');
  if (vals.kind !== 'values') return;
  assert.deepEqual(
    vals.values.map((v) => [v.line, v.column]),
    [
      [2, 4],
      [3, 8],
    ],
  );
  assert.ok(dearmor(vals.values[0]!.text).equals(blob));
  assert.equal(env.subarray(vals.values[1]!.offset, vals.values[1]!.end).toString(), second);

  for (const [data, re] of [
    [Buffer.alloc(0), /in\.txt is empty/],
    [Buffer.from('just text\n'), /in\.txt is not a KMS Envelope blob: it starts with bytes 6a 75 73 74/],
  ] as const) {
    await assert.rejects(open(data), (err: unknown) => err instanceof KmsEnvelopeError && err.kind === 'format' && re.test(err.message));
  }
});

test('streaming armor: armorEncoder output equals armor(), armorDecoder output equals dearmor(), at any chunking', async () => {
  for (const size of [0, 1, 2, 3, 4, 100, 65_537]) {
    const data = randomBytes(size);
    const text = (await collect(chunked(data, 11).pipe(armorEncoder()))).toString();
    assert.equal(text, `${armor(data)}\n`);
    if (size === 0) continue; // like dearmor(), the decoder refuses an empty value
    const back = armorDecoder('x');
    const [decoded] = await Promise.all([collect(back), pipeline(chunked(Buffer.from(`  ${text}`), 5), back)]);
    assert.ok(decoded.equals(data), `size ${size}`);
  }
  for (const [bad, re] of [
    ['kmsenv:v2:QUJD', /expected "kmsenv:v1:" at the start/],
    [`${ARMOR_PREFIX}QUJD!`, /unexpected character "!" at position 14/],
    [`${ARMOR_PREFIX}QUJ`, /not a multiple of 4/],
    [ARMOR_PREFIX, /empty after the prefix/],
  ] as const) {
    const dec = armorDecoder('bad.txt');
    await assert.rejects(Promise.all([collect(dec), pipeline(Readable.from([Buffer.from(bad)]), dec)]), (err: unknown) => {
      return err instanceof KmsEnvelopeError && err.kind === 'format' && re.test(err.message) && /^bad\.txt /.test(err.message);
    });
  }
});

test('sniffHead and sniffFile tell binary, armored, other and empty apart', async () => {
  const { seal } = await setup();
  const blob = await seal('x');
  assert.equal(sniffHead(blob.subarray(0, 3)), 'binary');
  assert.equal(sniffHead(Buffer.from(`\n\t ${armor(blob)}`)), 'armored');
  assert.equal(sniffHead(Buffer.from('kmsenv:v1')), 'other');
  assert.equal(sniffHead(Buffer.from('{"a": 1}')), 'other');
  assert.equal(sniffHead(Buffer.alloc(0)), 'empty');
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'kms-sniff-'));
  try {
    const f = path.join(dir, 'b');
    await fsp.writeFile(f, Buffer.concat([Buffer.from('\n'), Buffer.from(armor(blob))]));
    const fh = await fsp.open(f, 'r');
    try {
      assert.equal(await sniffFile(fh), 'armored');
      // the file position is kept: a read from the current position still starts at byte 0
      const b = Buffer.alloc(1);
      await fh.read(b, 0, 1, null);
      assert.equal(b.toString(), '\n');
    } finally {
      await fh.close();
    }
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});
