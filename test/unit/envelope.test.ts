// Envelope engine: buffer seal/unseal, recipients and KMS call counts, header/context checks,
// interop with the stock AWS Encryption SDK in both directions, armor, inspect.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  AlgorithmSuiteIdentifier,
  CommitmentPolicy,
  RawAesKeyringNode,
  RawAesWrappingSuiteIdentifier,
  buildClient,
} from '@aws-crypto/client-node';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { KmsEnvelopeError } from '../../src/core/errors';
import {
  ARMOR_PREFIX,
  CloudKeyring,
  DEFAULT_FRAME_LENGTH,
  armor,
  dearmor,
  findArmored,
  inspect,
  isSealed,
  MAX_CONTEXT_BYTES,
  sealBuffer,
  unsealBuffer,
  unsealFile,
  unsealStream,
  type Recipient,
} from '../../src/core/envelope';
import { FakeCloudKms, FakeLocal, pattern, resolverOf } from './envelope/fakes';
import { cliStep } from '../../src/cli/hints';

const stock = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
const SUITE = AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY;

async function setup() {
  const tencent = new FakeCloudKms('tencent').addKey('ap-guangzhou', 'tk-1', 'team-alias');
  const alibaba = new FakeCloudKms('alibaba').addKey('cn-hangzhou', 'key-ali-1');
  const local = new FakeLocal();
  const material = await local.addKey('team-key', 'team');
  const rT: Recipient = { provider: tencent, region: 'ap-guangzhou', key: 'team-alias' };
  const rA: Recipient = { provider: alibaba, region: 'cn-hangzhou', key: 'key-ali-1' };
  const rL: Recipient = { provider: local, region: 'local', key: 'team' };
  return { tencent, alibaba, local, material, rT, rA, rL };
}

const stockLocalKeyring = (material: Buffer, keyName = 'team-key') =>
  new RawAesKeyringNode({
    keyName,
    keyNamespace: 'local',
    unencryptedMasterKey: new Uint8Array(material),
    wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
  });

async function rejects(p: Promise<unknown>, kind: string, re: RegExp): Promise<KmsEnvelopeError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof KmsEnvelopeError, `expected KmsEnvelopeError, got ${(err as Error)?.stack}`);
    assert.equal(err.kind, kind, `kind of: ${err.message}`);
    assert.match(err.message, re);
    return err;
  }
  assert.fail(`expected a ${kind} error matching ${re}`);
}

test('round trips 0 B, 1 B, 4 KiB, one frame, exact multiples and multi-frame, local and cloud', async () => {
  const { tencent, local, rT, rL } = await setup();
  const frameLength = 4096;
  for (const size of [0, 1, 4096, frameLength - 1, frameLength + 1, 3 * frameLength, 3 * frameLength + 123]) {
    for (const r of [rL, rT]) {
      const pt = pattern(size, size + 7);
      const blob = await sealBuffer(pt, { recipients: [r], frameLength, context: { app: 'demo' } });
      assert.deepEqual([...blob.subarray(0, 3)], [0x02, 0x04, 0x78], 'format v2, suite 0x0478');
      const out = await unsealBuffer(blob, { resolve: resolverOf(local, tencent) });
      assert.ok(out.plaintext.equals(pt), `size ${size} via ${r.provider.name}`);
      assert.equal(out.header.suiteId, 0x0478);
      assert.equal(out.header.frameLength, frameLength);
    }
  }
  const def = await sealBuffer(Buffer.from('x'), { recipients: [rL] });
  assert.equal((await inspect(def)).frameLength, DEFAULT_FRAME_LENGTH);
});

test('the suite is the non-signing key-committing one, even as the SDK default would sign', async () => {
  const { rL } = await setup();
  const info = await inspect(await sealBuffer(Buffer.from('a'), { recipients: [rL] }));
  assert.equal(info.suiteId, SUITE);
  assert.equal(info.suiteName, 'ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY');
  assert.equal(info.version, 2);
  assert.deepEqual(info.context, {}, 'no aws-crypto-public-key: no signature');
});

test('stock SDK opens our blobs and we open stock blobs (local raw-AES and cloud keyrings, edge sizes)', async () => {
  const { tencent, local, material, rL, rT } = await setup();
  const frameLength = 1024;
  const sizes = [0, 1, frameLength - 1, frameLength, frameLength + 1, 3 * frameLength, 5 * frameLength + 17];
  for (const size of sizes) {
    const pt = pattern(size, size + 1);
    // ours -> stock (RawAesKeyringNode with the documented namespace/name, and our CloudKeyring)
    const ours = await sealBuffer(pt, { recipients: [rL], frameLength, context: { env: 'prod' } });
    const s1 = await stock.decrypt(stockLocalKeyring(material), ours);
    assert.ok(s1.plaintext.equals(pt), `stock opens ours, ${size} B`);
    assert.equal(s1.messageHeader.encryptionContext.env, 'prod');
    const oursCloud = await sealBuffer(pt, { recipients: [rT], frameLength });
    const s2 = await stock.decrypt(new CloudKeyring({ provider: tencent, region: 'ap-guangzhou', key: 'tk-1' }), oursCloud);
    assert.ok(s2.plaintext.equals(pt), `stock + CloudKeyring opens ours, ${size} B`);
    // stock -> ours (stock writes an empty final frame for exact multiples)
    const theirs = await stock.encrypt(stockLocalKeyring(material), pt, {
      suiteId: SUITE,
      frameLength,
      encryptionContext: { env: 'prod' },
    });
    const o1 = await unsealBuffer(theirs.result, { resolve: resolverOf(local), context: { env: 'prod' } });
    assert.ok(o1.plaintext.equals(pt), `ours opens stock, ${size} B`);
    const theirsCloud = await stock.encrypt(new CloudKeyring(rT), pt, { suiteId: SUITE, frameLength });
    const o2 = await unsealBuffer(theirsCloud.result, { resolve: resolverOf(tencent) });
    assert.ok(o2.plaintext.equals(pt), `ours opens stock CloudKeyring blob, ${size} B`);
  }
});

test('stock messages of the default, signing suite 0x0578 open (signature checked), by buffer, stream and file; a changed byte does not', async () => {
  const { local, material } = await setup();
  const dir = await mkdtemp(join(tmpdir(), 'kms-signed-'));
  try {
    for (const [size, frameLength] of [
      [0, 4096],
      [1, 4096],
      [4096, 4096],
      [3 * 1024 + 5, 1024],
      [200_000, 65536],
    ]) {
      const pt = pattern(size, size + 3);
      // The SDK's default suite under REQUIRE_ENCRYPT_REQUIRE_DECRYPT: 0x0578, ECDSA P-384 signature in a footer.
      const { result } = await stock.encrypt(stockLocalKeyring(material), pt, { frameLength, encryptionContext: { env: 'prod' } });
      assert.equal(result.readUInt16BE(1), 0x0578);
      const info = await inspect(result);
      assert.equal(info.suiteName, 'ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY_ECDSA_P384');
      assert.deepEqual(info.context, { env: 'prod' }, 'the public key is the SDK’s, not the user’s context');
      const b = await unsealBuffer(result, { resolve: resolverOf(local), context: { env: 'prod' } });
      assert.ok(b.plaintext.equals(pt), `buffer, ${size} B`);
      const out = new PassThrough();
      const chunks: Buffer[] = [];
      out.on('data', (c: Buffer) => chunks.push(c));
      await unsealStream(Readable.from([result.subarray(0, 7), result.subarray(7)]), out, { resolve: resolverOf(local) });
      assert.ok(Buffer.concat(chunks).equals(pt), `stream, ${size} B`);
      const file = join(dir, `m-${size}`);
      await writeFile(file, result);
      await unsealFile(file, `${file}.out`, { resolve: resolverOf(local) });
      assert.ok((await readFile(`${file}.out`)).equals(pt), `file, ${size} B`);
    }
    const { result } = await stock.encrypt(stockLocalKeyring(material), pattern(5000), { frameLength: 1024 });
    for (const [at, re] of [
      [result.length - 1, /signature \(ECDSA P-384\) does not verify/],
      [result.length - 60, /signature \(ECDSA P-384\) does not verify|failed authentication/],
    ] as const) {
      const bad = Buffer.from(result);
      bad[at] = bad[at]! ^ 0x01;
      await rejects(unsealBuffer(bad, { resolve: resolverOf(local) }), 'format', re);
    }
    await rejects(unsealBuffer(result.subarray(0, result.length - 3), { resolve: resolverOf(local) }), 'format', /truncated/);
    await rejects(unsealBuffer(Buffer.concat([result, Buffer.from([0])]), { resolve: resolverOf(local) }), 'format', /after the signature/);
    // Our own blobs stay unsigned.
    const ours = await sealBuffer(pattern(10), { recipients: [{ provider: local, region: 'local', key: 'team' }] });
    assert.equal(ours.readUInt16BE(1), 0x0478);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('exactly one GenerateDataKey + (n-1) Encrypt per seal, one Decrypt per unseal; context reaches the KMS', async () => {
  const { tencent, alibaba, local, rT, rA, rL } = await setup();
  const blob = await sealBuffer(Buffer.from('multi'), { recipients: [rT, rA, rL], context: { z: '1', a: '2' } });
  assert.deepEqual(tencent.calls, { generate: 1, encrypt: 0, decrypt: 0, raw: 0 });
  assert.deepEqual(alibaba.calls, { generate: 0, encrypt: 1, decrypt: 0, raw: 0 });
  assert.equal(local.calls.raw, 1);
  assert.deepEqual(Object.keys(tencent.contexts[0]!), ['a', 'z'], 'canonical (sorted) context');
  assert.deepEqual(tencent.contexts[0], { a: '2', z: '1' });

  const info = await inspect(blob);
  assert.deepEqual(
    info.recipients.map((r) => [r.providerId, r.provider, r.region, r.keyId]),
    [
      ['tencent-kms', 'tencent', 'ap-guangzhou', 'tk-1'], // the resolved key id, not the alias
      ['alibaba-kms', 'alibaba', 'cn-hangzhou', 'key-ali-1'],
      ['local', 'local', 'local', 'team-key'],
    ],
  );
  // first reachable recipient works: exactly one Decrypt there and none elsewhere
  const out = await unsealBuffer(blob, { resolve: resolverOf(tencent, alibaba, local) });
  assert.equal(out.plaintext.toString(), 'multi');
  assert.equal(tencent.calls.decrypt, 1);
  assert.equal(alibaba.calls.decrypt, 0);
  assert.equal(local.calls.raw, 1);
  assert.deepEqual(tencent.contexts.at(-1), { a: '2', z: '1' });
  // each recipient alone opens it
  for (const only of [tencent, alibaba, local]) {
    const r = await unsealBuffer(blob, { resolve: resolverOf(only) });
    assert.equal(r.plaintext.toString(), 'multi', `${only.name} alone`);
  }
  assert.equal(alibaba.calls.decrypt, 1);
  assert.equal(local.calls.raw, 2);
  // a local first recipient generates the data key itself; clouds then only Encrypt
  const t2 = new FakeCloudKms('tencent').addKey('ap-guangzhou', 'tk-1', 'team-alias');
  await sealBuffer(Buffer.from('x'), { recipients: [rL, { ...rT, provider: t2 }] });
  assert.deepEqual(t2.calls, { generate: 0, encrypt: 1, decrypt: 0, raw: 0 });
});

test('plaintext data keys and key material handed out by providers are zeroed after use', async () => {
  const { tencent, local, rT, rA, rL } = await setup();
  const blob = await sealBuffer(Buffer.from('z'), { recipients: [rT, rA, rL] });
  await unsealBuffer(blob, { resolve: resolverOf(tencent) });
  await unsealBuffer(blob, { resolve: resolverOf(local) });
  assert.equal(tencent.handedOut.length, 2);
  for (const b of [...tencent.handedOut, ...local.handedOut])
    assert.ok(
      b.every((x) => x === 0),
      'zeroed',
    );
});

test('unseal failures: every recipient is listed with the reason and the next step', async () => {
  const { tencent, alibaba, rT, rA } = await setup();
  const blob = await sealBuffer(Buffer.from('s'), { recipients: [rT, rA] });
  const none = await rejects(
    unsealBuffer(blob, { resolve: resolverOf() }),
    'credentials',
    /tencent:ap-guangzhou:tk-1: no Tencent Cloud profile.*\n.*alibaba:cn-hangzhou:key-ali-1/,
  );
  assert.match(none.hintIn(cliStep)!, /profiles add --provider tencent/);
  tencent.disable('ap-guangzhou', 'tk-1');
  const both = await rejects(unsealBuffer(blob, { resolve: resolverOf(tencent) }), 'provider', /tk-1 in ap-guangzhou is disabled/);
  assert.match(both.message, /alibaba:cn-hangzhou:key-ali-1: no Alibaba Cloud profile/);
  assert.match(both.hint!, /Enable key tk-1 in ap-guangzhou/);
  assert.equal(both.details.providerCode, 'Disabled');
  assert.equal(
    (await unsealBuffer(blob, { resolve: resolverOf(tencent, alibaba) })).plaintext.toString(),
    's',
    'falls through to the next recipient',
  );
  // a single recipient: the provider's own error is kept
  const one = await sealBuffer(Buffer.from('s'), { recipients: [rA] });
  alibaba.disable('cn-hangzhou', 'key-ali-1');
  const kept = await rejects(
    unsealBuffer(one, { resolve: resolverOf(alibaba) }),
    'provider',
    /^Key key-ali-1 in cn-hangzhou is disabled\.$/,
  );
  assert.equal(kept.details.region, 'cn-hangzhou');
  // seal: the provider error passes through untouched
  await rejects(sealBuffer(Buffer.from('s'), { recipients: [rA] }), 'provider', /disabled/);
  await rejects(sealBuffer(Buffer.from('s'), { recipients: [] }), 'usage', /No recipient/);
  await rejects(sealBuffer(Buffer.from('s'), { recipients: [rT], context: { 'aws-crypto-x': '1' } }), 'usage', /reserved/);
});

test('local key with the right name but different material: format error naming the key', async () => {
  const { rL } = await setup();
  const blob = await sealBuffer(Buffer.from('secret'), { recipients: [rL] });
  const other = new FakeLocal();
  await other.addKey('team-key');
  await rejects(unsealBuffer(blob, { resolve: resolverOf(other) }), 'format', /local key "team-key" could not unwrap the data key/);
  const missing = new FakeLocal();
  await rejects(unsealBuffer(blob, { resolve: resolverOf(missing) }), 'provider', /Local key "team-key" not found/);
});

test('wrong or missing context: format error before any KMS call', async () => {
  const { tencent, rT } = await setup();
  const blob = await sealBuffer(Buffer.from('ctx'), { recipients: [rT], context: { app: 'billing', env: 'prod' } });
  await rejects(
    unsealBuffer(blob, { resolve: resolverOf(tencent), context: { env: 'dev' } }),
    'format',
    /encryption context mismatch: the blob has env=prod, expected env=dev/,
  );
  await rejects(unsealBuffer(blob, { resolve: resolverOf(tencent), context: { team: 'x' } }), 'format', /no "team" entry/);
  assert.equal(tencent.calls.decrypt, 0);
  const ok = await unsealBuffer(blob, { resolve: resolverOf(tencent), context: { env: 'prod' } });
  assert.deepEqual(ok.header.context, { app: 'billing', env: 'prod' });
});

test('EDK cap: more encrypted data keys than maxRecipients is a format error, no KMS call', async () => {
  const { tencent, alibaba, local, rT, rA, rL } = await setup();
  const blob = await sealBuffer(Buffer.from('cap'), { recipients: [rT, rA, rL] });
  await rejects(
    unsealBuffer(blob, { resolve: resolverOf(tencent), maxRecipients: 2 }),
    'format',
    /lists 3 encrypted data keys, more than the limit of 2/,
  );
  await rejects(inspect(blob, { maxRecipients: 2 }), 'format', /more than the limit of 2/);
  assert.equal(tencent.calls.decrypt, 0);
  assert.equal((await unsealBuffer(blob, { resolve: resolverOf(alibaba, local), maxRecipients: 3 })).plaintext.toString(), 'cap');
  const many = await sealBuffer(Buffer.from('m'), { recipients: Array.from({ length: 11 }, () => rA) });
  await rejects(unsealBuffer(many, { resolve: resolverOf(alibaba) }), 'format', /lists 11 .* limit of 10/);
});

test('inspect reads suite, frame length, context and recipients without calling any provider', async () => {
  const { tencent, alibaba, local, rT, rA } = await setup();
  const blob = await sealBuffer(Buffer.from('i'), { recipients: [rT, rA], context: { app: 'x' }, frameLength: 65536 });
  const before = JSON.stringify([tencent.calls, alibaba.calls, local.calls]);
  const info = await inspect(blob);
  assert.equal(JSON.stringify([tencent.calls, alibaba.calls, local.calls]), before);
  assert.equal(info.frameLength, 65536);
  assert.deepEqual(info.context, { app: 'x' });
  assert.equal(info.recipients.length, 2);
  assert.match(info.messageId, /^[0-9a-f]{64}$/);
  const { Readable } = await import('node:stream');
  assert.deepEqual(await inspect(Readable.from([blob.subarray(0, 10), blob.subarray(10)])), info);
  await rejects(inspect(Buffer.from('hello world, not a blob')), 'format', /not a KMS Envelope blob: the first byte is 0x68/);
  await rejects(inspect(Buffer.from(armor(blob))), 'format', /looks like base64 text|first byte is 0x6b/);
});

test('armor: prefix, one line, strict dearmor, found inside YAML / JSON / .env text, round trip', async () => {
  const { local, rL } = await setup();
  assert.ok(/[^A-Za-z0-9+/=]/.test(ARMOR_PREFIX), 'prefix holds a character base64 cannot');
  const blob = await sealBuffer(Buffer.from('db-password-42'), { recipients: [rL], context: { file: 'app.yaml' } });
  const text = armor(blob);
  assert.ok(text.startsWith(`${ARMOR_PREFIX}AgR4`));
  assert.ok(!/\s/.test(text), 'one line');
  assert.ok(dearmor(`\n  ${text}\r\n`).equals(blob), 'surrounding whitespace is fine');
  await rejects(
    Promise.resolve().then(() => dearmor('AgR4' + text)),
    'format',
    /expected text starting with "kmsenv:v1:"/,
  );
  await rejects(
    Promise.resolve().then(() => dearmor(text.slice(0, -3))),
    'format',
    /not valid base64/,
  );
  await rejects(
    Promise.resolve().then(() => dearmor(`${text.slice(0, 30)}!${text.slice(31)}`)),
    'format',
    /unexpected character "!" at position 30/,
  );
  await rejects(
    Promise.resolve().then(() => dearmor(ARMOR_PREFIX)),
    'format',
    /empty/,
  );

  const other = armor(await sealBuffer(Buffer.from('api-token'), { recipients: [rL] }));
  const docs = [
    `db:\n  host: localhost\n  password: ${text}\n  token: "${other}"\n`,
    JSON.stringify({ db: { password: text }, list: [other] }, null, 2),
    `# env\nDB_PASSWORD=${text}\nTOKEN='${other}'\nPLAIN=kmsenv:v1:\n`,
  ];
  for (const doc of docs) {
    const found = findArmored(doc);
    assert.equal(found.length, 2, doc);
    assert.equal(found[0]!.text, text);
    assert.equal(found[1]!.text, other);
    assert.equal(doc.slice(found[0]!.start, found[0]!.end), text);
    const opened = await unsealBuffer(dearmor(found[0]!.text), { resolve: resolverOf(local) });
    assert.equal(opened.plaintext.toString(), 'db-password-42');
  }
  assert.deepEqual(findArmored('nothing here: kmsenv:v2:abc, kmsenv:v1:'), []);
});

test('isSealed sniffs binary messages and armored text', async () => {
  const { rL } = await setup();
  const blob = await sealBuffer(Buffer.from('s'), { recipients: [rL] });
  assert.equal(isSealed(blob.subarray(0, 16)), true);
  assert.equal(isSealed(Buffer.from(`  \n${armor(blob)}`)), true);
  assert.equal(isSealed(Buffer.from(`\ufeff${armor(blob)}`)), true);
  assert.equal(isSealed(Buffer.from('hello')), false);
  assert.equal(isSealed(Buffer.from([0x02])), false);
  assert.equal(isSealed(Buffer.alloc(0)), false);
  assert.equal(isSealed(randomBytes(4).fill(0x41)), false);
});

test('encryption context at the format limit seals (stock SDK opens it); one byte over is a usage error before any KMS call', async () => {
  const { tencent, rT } = await setup();
  // serialised: pair count (2) + key length (2) + "k" + value length (2) + value
  const atLimit = { k: 'v'.repeat(MAX_CONTEXT_BYTES - 2 - 2 - 1 - 2) };
  const blob = await sealBuffer(Buffer.from('ctx'), { recipients: [rT], context: atLimit });
  const opened = await stock.decrypt(new CloudKeyring({ provider: tencent, region: 'ap-guangzhou', key: 'tk-1' }), blob);
  assert.equal(opened.plaintext.toString(), 'ctx');
  assert.equal(opened.messageHeader.encryptionContext.k, atLimit.k);
  const calls = { ...tencent.calls };
  for (const over of <Array<Record<string, string>>>[
    { k: `${atLimit.k}v` },
    { a: 'x'.repeat(40_000), b: 'y'.repeat(40_000) },
    { ['é'.repeat(33_000)]: '' },
  ]) {
    const err = await rejects(
      sealBuffer(Buffer.from('ctx'), { recipients: [rT], context: over }),
      'usage',
      /more than the format's limit of 65535 bytes/,
    );
    assert.equal(err.exitCode, 1);
  }
  assert.deepEqual(tencent.calls, calls, 'no KMS call for a context that cannot fit');
});

test('header length fields at edge values: format errors in words, never a parser internal', async () => {
  const { local, rL } = await setup();
  const blob = await sealBuffer(Buffer.from('edges'), { recipients: [rL], context: { app: 'demo' } });
  const contextLength = blob.readUInt16BE(35);
  const edkCountAt = 37 + contextLength;
  // offsets of every uint16 length in the header: context length, pair count, key/value lengths,
  // EDK count, and the three field lengths of the EDK
  const at = [35, 37, 39, 39 + 2 + 3, edkCountAt];
  for (let p = edkCountAt + 2, f = 0; f < 3; f++) {
    at.push(p);
    p += 2 + blob.readUInt16BE(p);
  }
  const internal = /DataView|Offset is outside|out of bounds|readPos|needs|Malformed Header|RangeError|TypeError|undefined/;
  let checked = 0;
  for (const offset of at) {
    for (const value of [0, 1, 2, 3, 0x7fff, 0xffff, blob.readUInt16BE(offset) + 1, blob.readUInt16BE(offset) - 1]) {
      const bad = Buffer.from(blob);
      bad.writeUInt16BE(value & 0xffff, offset);
      for (const input of [bad, bad.subarray(0, Math.max(38, offset + 4))]) {
        for (const run of [() => inspect(input), () => unsealBuffer(input, { resolve: resolverOf(local) })]) {
          const err = await run().then(
            () => undefined,
            (e: unknown) => e,
          );
          if (err === undefined) continue; // an edit that happens to leave a valid message
          assert.ok(err instanceof KmsEnvelopeError, `offset ${offset} = ${value}: ${(err as Error).stack}`);
          assert.doesNotMatch(err.message, internal, `offset ${offset} = ${value}`);
          assert.ok(err.hint, `offset ${offset} = ${value}: no next step for ${err.message}`);
          checked++;
        }
      }
    }
  }
  assert.ok(checked > 100, `${checked} failures checked`);
  // the one the adversarial run found: a context section of one byte
  const one = Buffer.from(blob);
  one.writeUInt16BE(1, 35);
  await rejects(inspect(one), 'format', /^malformed header: the encryption context section is corrupt$/);
});
