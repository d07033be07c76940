// End to end with the envelope engine: seal to a Tencent key AND an Alibaba key at once (official
// SDKs → emulator), unseal with either cloud alone, and count the KMS calls the emulator saw.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { KmsEnvelopeError } from '../../src/core/errors';
import { sealBuffer, unsealBuffer, inspect, type ProviderResolver } from '../../src/core/envelope/index';
import { TencentKmsProvider } from '../../src/core/kms/tencent/index';
import { AlibabaKmsProvider } from '../../src/core/kms/alibaba/index';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index';
import { TEST_RETRY } from './provider-harness';
import { cliStep } from '../../src/cli/hints';

const TC = 'ap-guangzhou';
const ALI = 'cn-hangzhou';

describe('providers end to end: seal to Tencent + Alibaba, unseal with either', () => {
  let em: RunningEmulator;
  let tc: TencentKmsProvider;
  let ali: AlibabaKmsProvider;
  let tcAlias: string;
  let tcKeyId: string;
  let aliKeyId: string;
  const calls = () => {
    const c = em.counters();
    const n = (a: string) => (c[`tencent:${a}`] ?? 0) + (c[`alibaba:${a}`] ?? 0);
    return {
      generate: n('GenerateDataKey'),
      encrypt: n('Encrypt'),
      decrypt: n('Decrypt'),
      tcDecrypt: c['tencent:Decrypt'] ?? 0,
      aliDecrypt: c['alibaba:Decrypt'] ?? 0,
    };
  };

  before(async () => {
    em = await startEmulator({ port: 0 });
    const a = em.accounts[0];
    tc = new TencentKmsProvider({
      profile: 'e2e',
      endpoint: em.url,
      retry: TEST_RETRY,
      credentials: async () => ({ accessKeyId: a.tencent.secretId, accessKeySecret: a.tencent.secretKey }),
    });
    ali = new AlibabaKmsProvider({
      profile: 'e2e',
      endpoint: em.url,
      retry: TEST_RETRY,
      credentials: async () => ({ accessKeyId: a.alibaba.accessKeyId, accessKeySecret: a.alibaba.accessKeySecret }),
    });
    tcAlias = `e2e-${randomBytes(3).toString('hex')}`;
    tcKeyId = (await tc.createKey(TC, { alias: tcAlias, description: 'e2e' })).keyId;
    aliKeyId = (await ali.createKey(ALI, { alias: 'e2e-app', description: 'e2e' })).keyId;
  });
  after(async () => {
    tc.dispose();
    ali.dispose();
    await em.stop();
  });

  const only =
    (p: TencentKmsProvider | AlibabaKmsProvider): ProviderResolver =>
    async (name) =>
      name === p.name ? p : undefined;

  it('one GenerateDataKey + one Encrypt per seal; one Decrypt per unseal with either cloud alone', async () => {
    const plaintext = randomBytes(200_000);
    const context = { app: 'billing', env: 'prod' };
    // Resolve the Tencent alias once before counting (the alias lookup is a ListKeyDetail, cached).
    await tc.resolveKeyId(TC, tcAlias);
    em.resetCounters();
    const blob = await sealBuffer(plaintext, {
      recipients: [
        { provider: tc, region: TC, key: tcAlias },
        { provider: ali, region: ALI, key: aliKeyId },
      ],
      context,
    });
    assert.deepEqual(calls(), { generate: 1, encrypt: 1, decrypt: 0, tcDecrypt: 0, aliDecrypt: 0 });
    assert.equal(em.counters().total, 2, 'no other KMS call during seal');

    const info = await inspect(blob);
    assert.deepEqual(
      info.recipients.map((r) => [r.provider, r.region, r.keyId]),
      [
        ['tencent', TC, tcKeyId],
        ['alibaba', ALI, aliKeyId],
      ],
    );

    em.resetCounters();
    const viaTencent = await unsealBuffer(blob, { resolve: only(tc) });
    assert.ok(viaTencent.plaintext.equals(plaintext));
    assert.deepEqual(viaTencent.header.context, context);
    assert.deepEqual(calls(), { generate: 0, encrypt: 0, decrypt: 1, tcDecrypt: 1, aliDecrypt: 0 });

    em.resetCounters();
    const viaAlibaba = await unsealBuffer(blob, { resolve: only(ali) });
    assert.ok(viaAlibaba.plaintext.equals(plaintext));
    assert.deepEqual(calls(), { generate: 0, encrypt: 0, decrypt: 1, tcDecrypt: 0, aliDecrypt: 1 });
  });

  it('a disabled Tencent key: seal fails with an actionable error; unseal falls through to Alibaba', async () => {
    const blob = await sealBuffer(Buffer.from('hello'), {
      recipients: [
        { provider: tc, region: TC, key: tcKeyId },
        { provider: ali, region: ALI, key: 'alias/e2e-app' },
      ],
    });
    await tc.disableKey(TC, tcKeyId);
    try {
      const err = await sealBuffer(Buffer.from('x'), { recipients: [{ provider: tc, region: TC, key: tcKeyId }] }).catch((e) => e);
      assert.ok(err instanceof KmsEnvelopeError);
      assert.equal(err.kind, 'provider');
      assert.equal(err.details.providerCode, 'ResourceUnavailable.CmkDisabled');
      assert.match(
        err.hintIn(cliStep) ?? '',
        new RegExp(`^Enable it: \`kms-envelope keys enable --provider tencent --region ${TC} --key ${tcKeyId} --profile e2e\``),
      );

      const onlyTc = await unsealBuffer(blob, { resolve: only(tc) }).catch((e) => e);
      assert.ok(onlyTc instanceof KmsEnvelopeError);
      assert.equal(onlyTc.details.providerCode, 'ResourceUnavailable.CmkDisabled');

      em.resetCounters();
      const both: ProviderResolver = async (name) => (name === 'tencent' ? tc : name === 'alibaba' ? ali : undefined);
      const out = await unsealBuffer(blob, { resolve: both });
      assert.equal(out.plaintext.toString(), 'hello');
      assert.equal(calls().tcDecrypt, 1);
      assert.equal(calls().aliDecrypt, 1);
    } finally {
      await tc.enableKey(TC, tcKeyId);
    }
  });

  it('a changed encryption context in the header does not open (the KMS binds the context)', async () => {
    const blob = await sealBuffer(Buffer.from('bound'), {
      recipients: [{ provider: ali, region: ALI, key: aliKeyId }],
      context: { tenant: 'a' },
    });
    // A context the header does not have is refused before any KMS call.
    em.resetCounters();
    await assert.rejects(unsealBuffer(blob, { resolve: only(ali), context: { tenant: 'b' } }), KmsEnvelopeError);
    assert.equal(calls().decrypt, 0);
  });
});
