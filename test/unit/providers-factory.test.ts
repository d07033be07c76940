// Building cloud providers: the registry builds them with the credentials it is handed, the
// credentials layer (openProvider) resolves a profile and hands its credentials in; credentials and
// endpoint precedence, with the real credentials service (profiles.json + a SecretStore) and the
// emulator on 127.0.0.1.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KmsEnvelopeError } from '../../src/core/errors';
import { MemorySecretStore } from '../../src/core/secrets';
import { CredentialService } from '../../src/core/credentials/service';
import { openProvider } from '../../src/core/credentials/connect';
import { createProvider } from '../../src/core/kms/registry';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index';

let em: RunningEmulator;
let dir: string;
before(async () => {
  em = await startEmulator({ port: 0 });
  dir = await mkdtemp(join(tmpdir(), 'kms-factory-'));
});
after(async () => {
  await em.stop();
  await rm(dir, { recursive: true, force: true });
});

const acct = () => em.accounts[0];
const fast = { maxAttempts: 1 };

test('env credentials and KMS_ENVELOPE_ENDPOINT reach the emulator through the env profile', async () => {
  const env = {
    TENCENTCLOUD_SECRET_ID: acct().tencent.secretId,
    TENCENTCLOUD_SECRET_KEY: acct().tencent.secretKey,
    ALIBABA_CLOUD_ACCESS_KEY_ID: acct().alibaba.accessKeyId,
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: acct().alibaba.accessKeySecret,
    KMS_ENVELOPE_ENDPOINT: em.url,
  };
  const svc = new CredentialService({
    secretStore: new MemorySecretStore(),
    configDir: join(dir, 'empty-config'),
    env,
    homeDir: join(dir, 'nohome'),
  });
  const tc = await openProvider(svc, 'tencent', { env });
  assert.ok((await tc.listRegions()).includes('ap-guangzhou'));
  assert.equal(tc.profile, 'env');
  // Handed credentials directly: the registry still takes the endpoint from KMS_ENVELOPE_ENDPOINT.
  const ali = await createProvider('alibaba', {
    env,
    credentials: async () => ({ accessKeyId: env.ALIBABA_CLOUD_ACCESS_KEY_ID, accessKeySecret: env.ALIBABA_CLOUD_ACCESS_KEY_SECRET }),
  });
  assert.ok((await ali.listRegions()).includes('cn-hangzhou'));
  assert.equal(ali.profile, 'default');
});

test('missing credentials → a credentials error naming the variables', async () => {
  const env = { KMS_ENVELOPE_ENDPOINT: em.url };
  const svc = new CredentialService({
    secretStore: new MemorySecretStore(),
    configDir: join(dir, 'empty-config'),
    env,
    homeDir: join(dir, 'nohome'),
  });
  const err = await openProvider(svc, 'alibaba', { env }).catch((e) => e);
  assert.ok(err instanceof KmsEnvelopeError);
  assert.equal(err.kind, 'credentials');
  assert.match(err.hint ?? '', /ALIBABA_CLOUD_ACCESS_KEY_ID/);
  // A provider built without credentials fails on its first call, saying the same.
  const p = await createProvider('alibaba', { env, retry: fast });
  const e2 = await p.listRegions().catch((e) => e);
  assert.ok(e2 instanceof KmsEnvelopeError);
  assert.equal(e2.kind, 'credentials');
  assert.match(e2.hint ?? '', /ALIBABA_CLOUD_ACCESS_KEY_ID/);
});

test('a stored profile supplies credentials and its endpoint; --endpoint overrides it', async () => {
  const svc = new CredentialService({
    secretStore: new MemorySecretStore(),
    configDir: join(dir, 'cfg'),
    env: {},
    homeDir: join(dir, 'home'),
  });
  await svc.addProfile(
    { provider: 'tencent', name: 'emu', endpoint: em.url, regions: ['ap-shanghai'] },
    { accessKeyId: acct().tencent.secretId, accessKeySecret: acct().tencent.secretKey },
  );
  em.resetCounters();
  const p = await openProvider(svc, 'tencent', { profile: 'emu', env: {} });
  assert.equal(p.profile, 'emu');
  await p.listRegions();
  assert.equal(em.counters()['tencent:GetRegions'], 1);
  // --endpoint wins over the profile's endpoint: a closed port is reported by name.
  const q = await openProvider(svc, 'tencent', { profile: 'emu', endpoint: 'http://127.0.0.1:1', env: {}, retry: fast });
  const err = await q.listRegions().catch((e) => e);
  assert.match(err.message, /127\.0\.0\.1:1\b/);
  // A profile name that does not exist: the service's error lists what exists.
  await assert.rejects(
    openProvider(svc, 'tencent', { profile: 'nope', env: {} }),
    (e: KmsEnvelopeError) => e.kind === 'credentials' && /emu/.test(e.message),
  );
});
