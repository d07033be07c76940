// ValuesService: sealing a file's values in place by the nearest policy (permissions kept, nothing
// written when nothing changes), unsealing, re-wrapping the header for the policy's current keys, and
// the environment several files give a process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseKeyRef } from '../../src/core/keyref';
import { KmsEnvelopeError } from '../../src/core/errors';
import type { Recipient } from '../../src/core/envelope';
import { ValuesService } from '../../src/core/services/values-service';
import { FakeCloudKms, FakeLocal, resolverOf } from './envelope/fakes';

async function setup() {
  const root = mkdtempSync(join(tmpdir(), 'kmsenv-values-svc-'));
  const tencent = new FakeCloudKms('tencent').addKey('ap-guangzhou', 'tk-1', 'app');
  const local = new FakeLocal();
  await local.addKey('team-key', 'team');
  const providers = { tencent, local } as const;
  const service = new ValuesService({
    resolve: resolverOf(tencent, local),
    recipients: async (refs) =>
      refs.map((ref): Recipient => {
        const r = parseKeyRef(ref);
        return { provider: providers[r.provider as 'tencent' | 'local'], region: r.region, key: r.key };
      }),
  });
  mkdirSync(join(root, 'config'));
  writeFileSync(
    join(root, '.kms-envelope.yaml'),
    'rules:\n  - path: "config/*"\n    keys: [tencent:ap-guangzhou:app]\n    values: "(?i)(password|token)"\n    context: { app: billing }\n',
  );
  return { root, tencent, local, service, done: () => rmSync(root, { recursive: true, force: true }) };
}

test('sealFile seals in place by the policy, keeps the permissions, and writes nothing when nothing is left to seal', async () => {
  const { root, tencent, service, done } = await setup();
  try {
    const file = join(root, 'config', 'app.env');
    const plain = '# app\nDB_PASSWORD=hunter2\nHOST=db\n';
    writeFileSync(file, plain);
    chmodSync(file, 0o640);
    const r = await service.sealFile(file);
    assert.deepEqual(r.sealed, ['DB_PASSWORD']);
    assert.equal(r.header?.context.app, 'billing');
    assert.equal(statSync(file).mode & 0o777, 0o640);
    const sealed = readFileSync(file, 'utf8');
    assert.match(sealed, /^# app\nDB_PASSWORD=kmsenv:f1:\S+\nHOST=db\n# kms-envelope: kmsenv:h1:\S+\n$/);
    const before = statSync(file).mtimeMs;
    const calls = { ...tencent.calls };
    const again = await service.sealFile(file);
    assert.equal(again.changed, false);
    assert.equal(statSync(file).mtimeMs, before, 'not rewritten');
    assert.deepEqual(tencent.calls, calls, 'no KMS call');
    assert.equal((await service.unsealText(file, sealed)).text, plain);
    // Another output: the original stays.
    const out = join(root, 'copy.env');
    await service.sealFile(file, { output: out });
    assert.equal(readFileSync(out, 'utf8'), sealed);
  } finally {
    done();
  }
});

test('a file no rule matches, or with no policy above it, is refused with a next step', async () => {
  const { root, service, done } = await setup();
  try {
    writeFileSync(join(root, 'other.env'), 'A_PASSWORD=x\n');
    await assert.rejects(
      service.sealFile(join(root, 'other.env')),
      (e: KmsEnvelopeError) => e.kind === 'usage' && /No rule in .* matches other\.env/.test(e.message) && !!e.hint,
    );
  } finally {
    done();
  }
});

test('rewrapFile applies the policy’s new keys and context to the header line only', async () => {
  const { root, tencent, local, service, done } = await setup();
  try {
    const file = join(root, 'config', 'values.yaml');
    writeFileSync(file, 'db:\n  password: s3cr3t\n  host: h\n');
    await service.sealFile(file);
    const sealed = readFileSync(file, 'utf8');
    writeFileSync(
      join(root, '.kms-envelope.yaml'),
      'rules:\n  - path: "config/*"\n    keys: [local:local:team]\n    values: "(?i)(password|token)"\n    context: { app: shop }\n',
    );
    await service.rewrapFile(file);
    const rewrapped = readFileSync(file, 'utf8');
    const a = sealed.split('\n');
    const b = rewrapped.split('\n');
    assert.deepEqual(
      a.flatMap((l, i) => (l === b[i] ? [] : [l.split(':')[0]])),
      ['kms-envelope'],
    );
    const only = new ValuesService({ resolve: resolverOf(local), recipients: async () => [] });
    assert.equal((await only.unsealText(file, rewrapped)).text, 'db:\n  password: s3cr3t\n  host: h\n');
    assert.equal((await only.unsealText(file, rewrapped)).header?.context.app, 'shop');
    assert.ok(tencent.calls.decrypt >= 1);
  } finally {
    done();
  }
});

test('env: several files, sealed values unsealed in memory, later files win', async () => {
  const { root, tencent, service, done } = await setup();
  try {
    const a = join(root, 'config', 'app.env');
    const b = join(root, 'config', 'values.yaml');
    writeFileSync(a, 'DB_PASSWORD=one\nSHARED=from-env\nEMPTY=\n');
    writeFileSync(b, 'API_TOKEN: two\nSHARED: from-yaml\nPORT: 8080\n');
    await service.sealFile(a);
    await service.sealFile(b);
    const calls = tencent.calls.decrypt;
    const env = await service.env([a, b]);
    assert.deepEqual(env, { DB_PASSWORD: 'one', SHARED: 'from-yaml', EMPTY: '', API_TOKEN: 'two', PORT: '8080' });
    assert.equal(tencent.calls.decrypt - calls, 2, 'one Decrypt per file');
    await assert.rejects(service.env([a], { context: { app: 'shop' } }), /app=billing, expected app=shop/);
  } finally {
    done();
  }
});
