// Sealing the values of config files: round trips byte for byte, only sealed values and one header line
// change, one KMS call per file, values bound to their key paths (moved or copied ones refused, naming
// both paths), stable re-seals, header-only re-wrap, and the documented layout re-derived with node:crypto.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDecipheriv, hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NodeAlgorithmSuite, NodeDecryptionMaterial, unwrapDataKey } from '@aws-crypto/material-management-node';
import { RawAesKeyringNode, RawAesWrappingSuiteIdentifier } from '@aws-crypto/raw-aes-keyring-node';
import { deserializeFactory } from '@aws-crypto/serialize';
import { parse as parseYaml } from 'yaml';
import { CancelledError, KmsEnvelopeError } from '../../src/core/errors';
import { armor, sealBuffer, type Recipient } from '../../src/core/envelope';
import {
  HEADER_PREFIX,
  PATH_KEY,
  RECORD_PREFIX,
  ValuesSession,
  applyEdits,
  envValue,
  inspectValues,
  parsePolicy,
  parseValues,
  rewrapValues,
  ruleSelects,
  sealValues,
  unsealValues,
  type ValueSlot,
  type ValuesFormat,
} from '../../src/core/values';
import { FakeCloudKms, FakeLocal, resolverOf } from './envelope/fakes';

const FIXTURES = join(__dirname, '..', 'fixtures', 'values');
const fixture = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');

const SECRETS = parsePolicy(
  'rules:\n  - path: "**"\n    keys: [local:local:team]\n    values: "(?i)(password|secret|token|api[_-]?key|private)"\n',
  '/p/.kms-envelope.yaml',
).rules[0]!;
const ALL = parsePolicy('rules:\n  - path: "**"\n    keys: [local:local:team]\n    all: true\n', '/p/.kms-envelope.yaml').rules[0]!;
const secrets = (s: ValueSlot) => ruleSelects(SECRETS, s);
const all = (s: ValueSlot) => ruleSelects(ALL, s);

async function setup() {
  const tencent = new FakeCloudKms('tencent').addKey('ap-guangzhou', 'tk-1', 'team-alias');
  const alibaba = new FakeCloudKms('alibaba').addKey('cn-hangzhou', 'key-ali-1');
  const local = new FakeLocal();
  const material = await local.addKey('team-key', 'team');
  const rT: Recipient = { provider: tencent, region: 'ap-guangzhou', key: 'team-alias' };
  const rA: Recipient = { provider: alibaba, region: 'cn-hangzhou', key: 'key-ali-1' };
  const rL: Recipient = { provider: local, region: 'local', key: 'team' };
  const calls = () => ({ ...tencent.calls, ali: { ...alibaba.calls } });
  const reset = () => {
    for (const p of [tencent, alibaba]) Object.assign(p.calls, { generate: 0, encrypt: 0, decrypt: 0, raw: 0 });
  };
  return { tencent, alibaba, local, material, rT, rA, rL, calls, reset, resolve: resolverOf(tencent, alibaba, local) };
}

type Env = Awaited<ReturnType<typeof setup>>;

function seal(env: Env, text: string, format: ValuesFormat, select = secrets, recipients = [env.rT, env.rA], name = `app.${format}`) {
  return sealValues(text, { format, name, select, recipients: async () => recipients, resolve: env.resolve });
}
function unseal(env: Env, text: string, format: ValuesFormat, resolve = env.resolve, name = `app.${format}`) {
  return unsealValues(text, { format, name, resolve });
}

async function rejects(p: Promise<unknown>, kind: string, re: RegExp): Promise<KmsEnvelopeError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof KmsEnvelopeError, `expected KmsEnvelopeError, got ${(err as Error)?.stack}`);
    assert.equal(err.kind, kind, `kind of: ${err.message}`);
    assert.match(err.message, re);
    assert.ok(err.hint, `a next step for: ${err.message}`);
    return err;
  }
  assert.fail(`expected a ${kind} error matching ${re}`);
}

/** The text between sealed values (and outside the header line) is the original's, byte for byte. */
function assertOnlyValuesChanged(original: string, sealed: string, format: ValuesFormat, sealedPaths: string[]) {
  const before = parseValues(original, format, 'x');
  const after = parseValues(sealed, format, 'x');
  const withoutHeader = applyEdits(sealed, [after.header!.remove]);
  const afterNoHeader = parseValues(withoutHeader, format, 'x');
  const gaps = (text: string, slots: ValueSlot[]) => {
    const out: string[] = [];
    let at = 0;
    for (const s of slots) {
      out.push(text.slice(at, s.start));
      at = s.end;
    }
    out.push(text.slice(at));
    return out;
  };
  const sealedSlotsBefore = before.slots.filter((s) => sealedPaths.includes(s.pathText));
  const recordSlots = afterNoHeader.slots.filter((s) => s.raw.includes(RECORD_PREFIX));
  assert.deepEqual(
    recordSlots.map((s) => s.pathText),
    sealedSlotsBefore.map((s) => s.pathText),
  );
  assert.deepEqual(gaps(withoutHeader, recordSlots), gaps(original, sealedSlotsBefore));
}

for (const [name, format, expected] of [
  [
    'app.yaml',
    'yaml',
    [
      'defaults.api_key',
      'database.password',
      'database.options.secret_token',
      'services[0].token',
      'services[1].token',
      'empty_secret',
      'unicode_secret',
    ],
  ],
  ['app.json', 'json', ['database.password', 'tokens[0]', 'tokens[1]', 'apiKey', 'secretNumber', 'nested.deep.privateKey']],
  ['app.jsonc', 'json', ['database.password', 'api_token']],
  ['app.env', 'dotenv', ['DB_PASSWORD', 'API_TOKEN', 'SECRET_KEY', 'MULTILINE_SECRET', 'BACKTICK_TOKEN', 'INDENTED_PASSWORD']],
] as const) {
  test(`${name}: seal by policy changes only the chosen values plus one header line; unseal gives back the same bytes; 1 KMS call each way`, async () => {
    const env = await setup();
    const text = fixture(name);
    const sealed = await seal(env, text, format);
    assert.deepEqual(sealed.sealed, [...expected]);
    assert.equal(sealed.newHeader, true);
    assert.deepEqual(env.calls(), { generate: 1, encrypt: 0, decrypt: 0, raw: 0, ali: { generate: 0, encrypt: 1, decrypt: 0, raw: 0 } });
    assertOnlyValuesChanged(text, sealed.text, format, [...expected]);

    // The sealed file is still a valid file of its format, every chosen value now a record.
    if (format === 'yaml') {
      const obj = parseYaml(sealed.text);
      assert.match(obj.database.password, /^kmsenv:f1:/);
      assert.equal(obj.database.user, 'billing');
      assert.match(obj['kms-envelope'], /^kmsenv:h1:/);
    }
    if (name === 'app.json') {
      const obj = JSON.parse(sealed.text);
      assert.match(obj.secretNumber, /^kmsenv:f1:/);
      assert.equal(obj.database.port, 5432);
    }
    if (format === 'dotenv') {
      const values = Object.fromEntries(parseValues(sealed.text, 'dotenv', 'x').slots.map((s) => [s.pathText, envValue(s.raw)]));
      assert.match(values.DB_PASSWORD!, /^kmsenv:f1:[A-Za-z0-9+/=]+$/);
      assert.equal(values.LOG_LEVEL, 'keep');
    }

    env.reset();
    const opened = await unseal(env, sealed.text, format);
    assert.equal(opened.text, text, 'byte-identical round trip');
    assert.deepEqual(opened.records, [...expected]);
    assert.deepEqual(env.calls(), { generate: 0, encrypt: 0, decrypt: 1, raw: 0, ali: { generate: 0, encrypt: 0, decrypt: 0, raw: 0 } });

    // Sealing again: nothing left to seal, no KMS call, same bytes.
    env.reset();
    const again = await seal(env, sealed.text, format);
    assert.equal(again.changed, false);
    assert.equal(again.text, sealed.text);
    assert.deepEqual(env.calls(), { generate: 0, encrypt: 0, decrypt: 0, raw: 0, ali: { generate: 0, encrypt: 0, decrypt: 0, raw: 0 } });
  });
}

test('all: true seals every value; a file with nothing to seal is left alone without a KMS call', async () => {
  const env = await setup();
  for (const [name, format] of [
    ['app.yaml', 'yaml'],
    ['app.json', 'json'],
    ['app.env', 'dotenv'],
  ] as const) {
    const text = fixture(name);
    const sealed = await seal(env, text, format, all, [env.rL]);
    assert.equal(sealed.sealed.length, parseValues(text, format, name).slots.length);
    assert.equal((await unseal(env, sealed.text, format)).text, text);
  }
  env.reset();
  const none = await seal(env, 'host: a\nport: 1\n', 'yaml');
  assert.deepEqual([none.changed, none.text, none.header], [false, 'host: a\nport: 1\n', undefined]);
  assert.equal(env.tencent.calls.generate, 0);
});

test('a 16-character value is one short record whatever the number of recipients (<= 120 characters)', async () => {
  const env = await setup();
  for (const recipients of [[env.rL], [env.rT, env.rA], [env.rT, env.rA, env.rL]]) {
    const sealed = await seal(env, 'password: 0123456789abcdef\n', 'yaml', secrets, recipients);
    const line = sealed.text.split('\n')[0]!;
    const token = line.slice('password: '.length);
    assert.equal(token.length, 70, token);
    assert.ok(line.length <= 120);
    assert.equal(sealed.text.split('\n').filter((l) => l.startsWith('kms-envelope: ' + HEADER_PREFIX)).length, 1);
  }
});

test('a value moved or copied to another key refuses to unseal, naming both paths; from another file too', async () => {
  const env = await setup();
  const text = 'db:\n  password: hunter2\napi:\n  token: tok-123\nother:\n  secret: s3\n';
  const sealed = (await seal(env, text, 'yaml')).text;
  const tokenAt = (path: string) => parseValues(sealed, 'yaml', 'x').slots.find((s) => s.pathText === path)!;
  const pw = tokenAt('db.password');
  const tok = tokenAt('api.token');
  // Swap the two sealed values.
  const swapped = applyEdits(sealed, [
    { start: pw.start, end: pw.end, text: tok.raw },
    { start: tok.start, end: tok.end, text: pw.raw },
  ]);
  const err = await rejects(unseal(env, swapped, 'yaml'), 'format', /2 sealed values are not where they were sealed/);
  assert.match(err.message, /the value at db\.password was sealed for api\.token: it was moved or copied there/);
  assert.match(err.message, /the value at api\.token was sealed for db\.password/);
  // Copied over another one.
  const copied = applyEdits(sealed, [{ start: tok.start, end: tok.end, text: pw.raw }]);
  await rejects(
    unseal(env, copied, 'yaml'),
    'format',
    /^app\.yaml: the value at api\.token was sealed for db\.password: it was moved or copied there\.$/,
  );
  // Sealing more values into such a file refuses too (records are checked before anything is kept).
  await rejects(seal(env, copied + 'new_secret: x\n', 'yaml'), 'format', /api\.token was sealed for db\.password/);
  // A record from another file (another data key) at the same path.
  const other = (await seal(env, text, 'yaml')).text;
  const foreign = parseValues(other, 'yaml', 'x').slots.find((s) => s.pathText === 'db.password')!;
  const mixed = applyEdits(sealed, [{ start: pw.start, end: pw.end, text: foreign.raw }]);
  await rejects(unseal(env, mixed, 'yaml'), 'format', /the value at db\.password was not sealed for this place in this file/);
  // A flipped byte in a record.
  const flipped = sealed.replace(pw.raw, pw.raw.slice(0, 20) + (pw.raw[20] === 'A' ? 'B' : 'A') + pw.raw.slice(21));
  await rejects(unseal(env, flipped, 'yaml'), 'format', /db\.password was not sealed for this place/);
  // A record without its header.
  await rejects(
    unseal(env, sealed.replace(/^kms-envelope: .*\n/m, ''), 'yaml'),
    'format',
    /has 3 sealed values .* but no kms-envelope header entry/,
  );
});

test('the header is authenticated: a changed context, recipient or tag is refused', async () => {
  const env = await setup();
  const sealed = (await seal(env, 'password: p\n', 'yaml', secrets, [env.rL])).text;
  const header = parseValues(sealed, 'yaml', 'x').header!;
  const bytes = Buffer.from(header.token.slice(HEADER_PREFIX.length), 'base64');
  const withBytes = (b: Buffer) =>
    applyEdits(sealed, [{ start: header.start, end: header.end, text: HEADER_PREFIX + b.toString('base64') }]);
  // The last byte is in the header auth tag.
  const tag = Buffer.from(bytes);
  tag[tag.length - 1]! ^= 1;
  await rejects(unseal(env, withBytes(tag), 'yaml'), 'format', /header authentication failed/);
  // A byte of the file id (in the encryption context) changed: refused (the local key's wrapping binds the context, as the header auth tag does).
  const ctx = Buffer.from(bytes);
  const at = ctx.indexOf(Buffer.from('kmsenv:file-id')) + 'kmsenv:file-id'.length + 3;
  ctx[at] = ctx[at] === 0x41 ? 0x42 : 0x41;
  await rejects(unseal(env, withBytes(ctx), 'yaml'), 'format', /header authentication failed|could not unwrap the data key/);
  // Truncated, extra bytes, not base64.
  await rejects(unseal(env, withBytes(bytes.subarray(0, bytes.length - 5)), 'yaml'), 'format', /cut short|malformed/);
  await rejects(unseal(env, withBytes(Buffer.concat([bytes, Buffer.from([0])])), 'yaml'), 'format', /extra bytes/);
  await rejects(unseal(env, sealed.replace(HEADER_PREFIX, 'kmsenv:h9:'), 'yaml'), 'format', /does not start with kmsenv:h1:/);
  // A whole sealed message (its header has a frame length and no file id) is not a values header.
  const message = await sealBuffer(Buffer.from('x'), { recipients: [env.rL], context: { 'kmsenv:file-id': 'A'.repeat(43) } });
  await rejects(unseal(env, withBytes(message), 'yaml'), 'format', /header of a sealed message, not of sealed values/);
});

test('stable re-seal from the command line: put one value back in plaintext, seal again, one line changes, one Decrypt', async () => {
  const env = await setup();
  const text = fixture('app.yaml');
  const sealed = (await seal(env, text, 'yaml')).text;
  const slot = parseValues(sealed, 'yaml', 'x').slots.find((s) => s.pathText === 'database.password')!;
  const edited = applyEdits(sealed, [{ start: slot.start, end: slot.end, text: '"new password"' }]);
  env.reset();
  const resealed = await seal(env, edited, 'yaml');
  assert.deepEqual(resealed.sealed, ['database.password']);
  assert.equal(resealed.kept, 6);
  assert.deepEqual(env.calls(), { generate: 0, encrypt: 0, decrypt: 1, raw: 0, ali: { generate: 0, encrypt: 0, decrypt: 0, raw: 0 } });
  const a = sealed.split('\n');
  const b = resealed.text.split('\n');
  assert.equal(a.length, b.length);
  assert.deepEqual(
    a.flatMap((l, i) => (l === b[i] ? [] : [i])),
    [a.findIndex((l) => l.includes('password: kmsenv'))],
  );
  const back = await unseal(env, resealed.text, 'yaml');
  assert.equal(back.text, text.replace('"p@ss: w\\"ord # not a comment"', '"new password"'));
});

test('the editor session: unchanged values keep their records, a no-op save writes nothing and calls no KMS', async () => {
  const env = await setup();
  const text = fixture('app.env');
  const sealed = (await seal(env, text, 'dotenv')).text;
  env.reset();
  const { session, text: plain } = await ValuesSession.open(sealed, { format: 'dotenv', name: 'app.env', resolve: env.resolve });
  try {
    assert.equal(plain, text);
    assert.equal(env.tencent.calls.decrypt, 1);
    env.reset();
    const same = await session.seal(plain, { select: secrets, recipients: async () => [env.rT] });
    assert.deepEqual([same.changed, same.text], [false, sealed]);
    const edited = plain
      .replace("export API_TOKEN='single $quoted'", "export API_TOKEN='rotated'")
      .replace('LOG_LEVEL=keep', 'LOG_LEVEL=debug');
    const saved = await session.seal(edited, { select: secrets, recipients: async () => [env.rT] });
    assert.deepEqual(saved.sealed, ['API_TOKEN']);
    assert.equal(saved.reused, 5);
    const a = sealed.split('\n');
    const b = saved.text.split('\n');
    assert.deepEqual(
      a.flatMap((l, i) => (l === b[i] ? [] : [l.split('=')[0]])),
      ['export API_TOKEN', 'LOG_LEVEL'],
    );
    // A value added under a selected key is sealed too; a value sealed before stays sealed even if the policy no longer selects it.
    const more = await session.seal(edited + 'NEW_SECRET=x\n', {
      select: (s) => s.pathText === 'NEW_SECRET',
      recipients: async () => [env.rT],
    });
    const recordsNow = parseValues(more.text, 'dotenv', 'x')
      .slots.filter((s) => s.raw.startsWith(RECORD_PREFIX))
      .map((s) => s.pathText);
    assert.deepEqual(recordsNow, [
      'DB_PASSWORD',
      'API_TOKEN',
      'SECRET_KEY',
      'MULTILINE_SECRET',
      'BACKTICK_TOKEN',
      'INDENTED_PASSWORD',
      'NEW_SECRET',
    ]);
    assert.deepEqual(
      env.calls(),
      { generate: 0, encrypt: 0, decrypt: 0, raw: 0, ali: { generate: 0, encrypt: 0, decrypt: 0, raw: 0 } },
      'saves call no KMS',
    );
    assert.equal((await unseal(env, more.text, 'dotenv')).text, edited + 'NEW_SECRET=x\n');
  } finally {
    session.dispose();
  }
});

test('re-wrap: a recipient added changes only the header line; the new recipient alone opens every value', async () => {
  const env = await setup();
  const text = fixture('app.json');
  const sealed = (await seal(env, text, 'json', secrets, [env.rT])).text;
  env.reset();
  const rewrapped = await rewrapValues(sealed, { format: 'json', name: 'app.json', resolve: env.resolve, recipients: [env.rT, env.rA] });
  assert.deepEqual(env.calls(), { generate: 0, encrypt: 1, decrypt: 1, raw: 0, ali: { generate: 0, encrypt: 1, decrypt: 0, raw: 0 } });
  assert.deepEqual(
    rewrapped.header.recipients.map((r) => r.provider),
    ['tencent', 'alibaba'],
  );
  const a = sealed.split('\n');
  const b = rewrapped.text.split('\n');
  assert.deepEqual(
    a.flatMap((l, i) => (l === b[i] ? [] : [i])),
    [1],
  );
  assert.equal((await unseal(env, rewrapped.text, 'json', resolverOf(env.alibaba))).text, text);
  // Replacing the recipients (tencent removed) and the context: still only the header line.
  const moved = await rewrapValues(rewrapped.text, {
    format: 'json',
    name: 'app.json',
    resolve: env.resolve,
    recipients: [env.rL],
    context: { app: 'billing' },
  });
  assert.deepEqual(moved.header.context.app, 'billing');
  assert.equal((await unseal(env, moved.text, 'json', resolverOf(env.local))).text, text);
  await rejects(unseal(env, moved.text, 'json', resolverOf(env.tencent)), 'credentials', /No recipient|local/);
});

test('the documented layout, re-derived with node:crypto and the stock header parser, opens a record', async () => {
  const env = await setup();
  const sealed = (await seal(env, 'db:\n  password: "s3cr3t"\n', 'yaml', secrets, [env.rL])).text;
  const doc = parseValues(sealed, 'yaml', 'x');
  // Header: an ESDK v2 message header + auth tag, parsed by the stock deserializer.
  const bytes = Buffer.from(doc.header!.token.slice(HEADER_PREFIX.length), 'base64');
  const parsed = deserializeFactory((b: Uint8Array) => Buffer.from(b).toString('utf8'), NodeAlgorithmSuite).deserializeMessageHeader(bytes);
  assert.ok(parsed);
  const h = parsed.messageHeader;
  assert.equal(h.version, 2);
  assert.equal(h.suiteId, 0x0478);
  assert.equal(h.frameLength, 0);
  assert.equal(parsed.headerLength + 16, bytes.length);
  // The data key, unwrapped by the stock raw-AES keyring from the local EDK.
  const keyring = new RawAesKeyringNode({
    keyName: 'team-key',
    keyNamespace: 'local',
    unencryptedMasterKey: new Uint8Array(env.material),
    wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
  });
  const m = await keyring.onDecrypt(new NodeDecryptionMaterial(new NodeAlgorithmSuite(0x0478), h.encryptionContext), [
    ...h.encryptedDataKeys,
  ]);
  const dataKey = Buffer.from(unwrapDataKey(m.getUnencryptedDataKey()));
  // Key commitment of the header, as the ESDK spec derives it (salt = message id).
  const commit = Buffer.from(hkdfSync('sha512', dataKey, h.messageId, Buffer.from('COMMITKEY'), 32));
  assert.deepEqual(commit, Buffer.from((h as { suiteData: Uint8Array }).suiteData));
  // Value key: the ESDK derivation with the file id as the salt.
  const fileId = Buffer.from(h.encryptionContext['kmsenv:file-id']!, 'base64url');
  assert.equal(fileId.length, 32);
  const info = Buffer.concat([Buffer.from([0x04, 0x78]), Buffer.from('DERIVEKEY')]);
  const valueKey = Buffer.from(hkdfSync('sha512', dataKey, fileId, info, 32));
  // Record: IV ‖ ciphertext ‖ tag; AAD = uint16 length, uint16 count, uint16 key length, key, uint16 value length, value.
  const record = Buffer.from(doc.slots[0]!.raw.slice(RECORD_PREFIX.length), 'base64');
  const kv = (s: string) => {
    const b = Buffer.from(s, 'utf8');
    return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
  };
  const pairs = Buffer.concat([Buffer.from([0, 1]), kv(PATH_KEY), kv('db.password')]);
  const aad = Buffer.concat([Buffer.from([pairs.length >> 8, pairs.length & 0xff]), pairs]);
  const d = createDecipheriv('aes-256-gcm', valueKey, record.subarray(0, 12)).setAAD(aad);
  d.setAuthTag(record.subarray(record.length - 16));
  assert.equal(Buffer.concat([d.update(record.subarray(12, record.length - 16)), d.final()]).toString('utf8'), '"s3cr3t"');
  m.zeroUnencryptedDataKey();
  dataKey.fill(0);
});

test('standalone kmsenv:v1 values in a file are unsealed too (one Decrypt each); one bound to another path is refused', async () => {
  const env = await setup();
  const a = armor(await sealBuffer(Buffer.from('pasted'), { recipients: [env.rT] }));
  const bound = armor(await sealBuffer(Buffer.from('bound'), { recipients: [env.rT], context: { [PATH_KEY]: 'db.password' } }));
  env.reset();
  const out = await unseal(env, `db:\n  password: ${bound}\n  other: "${a}"\n`, 'yaml');
  assert.equal(out.text, 'db:\n  password: bound\n  other: "pasted"\n');
  assert.deepEqual(out.standalone, ['db.password', 'db.other']);
  assert.equal(env.tencent.calls.decrypt, 2);
  await rejects(unseal(env, `db:\n  secret: ${bound}\n`, 'yaml'), 'format', /the value at db\.secret was sealed for db\.password/);
  // Sealing leaves standalone values as they are.
  const sealed = await seal(env, `password: ${a}\n`, 'yaml');
  assert.equal(sealed.changed, false);
});

test('required context is checked before any KMS call; inspect reads the header without one; cancel is a cancel', async () => {
  const env = await setup();
  const sealed = (
    await sealValues('token: t\n', {
      format: 'yaml',
      name: 'a.yaml',
      select: secrets,
      recipients: async () => [env.rT],
      resolve: env.resolve,
      context: { app: 'billing' },
    })
  ).text;
  env.reset();
  await rejects(
    unsealValues(sealed, { format: 'yaml', name: 'a.yaml', resolve: env.resolve, context: { app: 'shop' } }),
    'format',
    /app=billing, expected app=shop/,
  );
  assert.equal(env.tencent.calls.decrypt, 0);
  const info = inspectValues(sealed, { format: 'yaml', name: 'a.yaml' });
  assert.deepEqual(info.records, ['token']);
  assert.equal(info.header?.context.app, 'billing');
  assert.equal(info.header?.recipients[0]?.keyId, 'tk-1');
  assert.equal(env.tencent.calls.decrypt, 0);
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(unsealValues(sealed, { format: 'yaml', name: 'a.yaml', resolve: env.resolve, signal: ac.signal }), CancelledError);
  await assert.rejects(
    sealValues('token: t\n', {
      format: 'yaml',
      name: 'a.yaml',
      select: secrets,
      recipients: async () => [env.rT],
      resolve: env.resolve,
      signal: ac.signal,
    }),
    CancelledError,
  );
  await rejects(
    sealValues('token: t\n', {
      format: 'yaml',
      name: 'a.yaml',
      select: secrets,
      recipients: async () => [env.rT],
      resolve: env.resolve,
      context: { 'kmsenv:x': '1' },
    }),
    'usage',
    /reserved by kms-envelope/,
  );
});
