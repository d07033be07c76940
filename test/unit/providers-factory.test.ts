// createProvider('tencent'|'alibaba') and the cloud factory: credentials and endpoint precedence,
// with the real credentials service (profiles.json + a SecretStore) and the emulator on 127.0.0.1.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KmsEnvelopeError } from '../../src/core/errors';
import { MemorySecretStore } from '../../src/core/secrets';
import { CredentialService } from '../../src/core/credentials/service';
import { createCloudProvider, envCredentials, profileResolverFrom } from '../../src/core/kms/cloud-factory';
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

test('env credentials and KMS_ENVELOPE_ENDPOINT reach the emulator through createProvider', async () => {
  const env = {
    TENCENTCLOUD_SECRET_ID: acct().tencent.secretId,
    TENCENTCLOUD_SECRET_KEY: acct().tencent.secretKey,
    ALIBABA_CLOUD_ACCESS_KEY_ID: acct().alibaba.accessKeyId,
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: acct().alibaba.accessKeySecret,
    KMS_ENVELOPE_ENDPOINT: em.url,
    KMS_ENVELOPE_CONFIG_DIR: join(dir, 'empty-config'),
    HOME: join(dir, 'nohome'),
  };
  const tc = await createProvider('tencent', { env, credentials: envCredentials('tencent', env) });
  assert.ok((await tc.listRegions()).includes('ap-guangzhou'));
  const ali = await createCloudProvider('alibaba', { env });
  assert.ok((await ali.listRegions()).includes('cn-hangzhou'));
  assert.equal(ali.profile, 'default');
});

test('missing env credentials → a credentials error naming the variables', async () => {
  const p = await createCloudProvider('alibaba', { env: { KMS_ENVELOPE_ENDPOINT: em.url }, retry: fast });
  const err = await p.listRegions().catch((e) => e);
  assert.ok(err instanceof KmsEnvelopeError);
  assert.equal(err.kind, 'credentials');
  assert.match(err.hint ?? '', /ALIBABA_CLOUD_ACCESS_KEY_ID/);
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
  const resolveProfile = profileResolverFrom(svc);
  em.resetCounters();
  const p = await createCloudProvider('tencent', { profile: 'emu', resolveProfile, env: {} });
  assert.equal(p.profile, 'emu');
  await p.listRegions();
  assert.equal(em.counters()['tencent:GetRegions'], 1);
  // --endpoint wins over the profile's endpoint: a closed port is reported by name.
  const q = await createCloudProvider('tencent', { profile: 'emu', resolveProfile, endpoint: 'http://127.0.0.1:1', env: {}, retry: fast });
  const err = await q.listRegions().catch((e) => e);
  assert.match(err.message, /127\.0\.0\.1:1\b/);
  // A profile name that does not exist: the service's error lists what exists.
  await assert.rejects(
    createCloudProvider('tencent', { profile: 'nope', resolveProfile, env: {} }),
    (e: KmsEnvelopeError) => e.kind === 'credentials' && /emu/.test(e.message),
  );
});
