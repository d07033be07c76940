// An Alibaba profile that reaches a KMS 3.0 instance, against the emulator: key operations go to
// the instance gateway and management to the public gateway (the emulator's counters show which
// gateway got which call), an instance-only profile seals and unseals but says how to add an
// AccessKey for the rest, and a file sealed through the instance opens through the public gateway
// and back (the blob names `alibaba-kms`, `<region>/<keyId>`, whichever gateway sealed it).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sealBuffer, unsealBuffer, inspect } from '../../src/core/envelope/engine';
import { KmsEnvelopeError } from '../../src/core/errors';
import { cliStep } from '../../src/cli/hints';
import { AlibabaKmsProvider } from '../../src/core/kms/alibaba/index';
import { AlibabaInstanceProvider } from '../../src/core/kms/alibaba-instance/provider';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index';
import { TEST_RETRY } from './provider-harness';

describe('Alibaba KMS 3.0 instance profiles (instance-only and transfer) against the emulator', () => {
  let em: RunningEmulator;
  const made: Array<{ dispose(): void }> = [];
  const publicGateway = () => {
    const a = em.accounts[0].alibaba;
    const p = new AlibabaKmsProvider({
      profile: 'public',
      credentials: async () => ({ accessKeyId: a.accessKeyId, accessKeySecret: a.accessKeySecret }),
      endpoint: em.url,
      retry: TEST_RETRY,
    });
    made.push(p);
    return p;
  };
  const instance = (o: { management?: boolean; password?: string } = {}) => {
    const i = em.instance!;
    const p = new AlibabaInstanceProvider({
      name: 'alibaba-instance',
      profile: o.management ? 'transfer' : 'instance',
      endpoint: i.url,
      region: i.region,
      caPem: i.caPem,
      secrets: async () => ({ clientKey: i.clientKey.json, password: o.password ?? i.clientKey.password }),
      management: o.management ? async () => publicGateway() : undefined,
      retry: TEST_RETRY,
    });
    made.push(p);
    return p;
  };
  const gatewayCounts = () => {
    const c = em.counters();
    const sum = (prefix: string) =>
      Object.entries(c)
        .filter(([k]) => k.startsWith(prefix))
        .reduce((n, [, v]) => n + v, 0);
    return { instance: sum('instance:'), public: sum('alibaba:') };
  };

  before(async () => {
    em = await startEmulator({ seed: true, instance: true });
  });
  after(async () => {
    for (const p of made) p.dispose();
    await em?.stop();
  });

  it('knows its instance id from the CA certificate when the endpoint is an address', () => {
    assert.equal(instance().instanceId, em.instance!.id);
  });

  it('an instance-only profile seals and unseals through the instance alone', async () => {
    const p = instance();
    em.resetCounters();
    const blob = await sealBuffer(Buffer.from('secret config'), {
      recipients: [{ provider: p, region: 'cn-hangzhou', key: 'seed-instance-enabled' }],
      context: { app: 'billing' },
    });
    const out = await unsealBuffer(blob, { resolve: async () => p });
    assert.equal(out.plaintext.toString(), 'secret config');
    assert.deepEqual(gatewayCounts(), { instance: 3, public: 0 }, 'AdvanceGenerateDataKey + AdvanceEncrypt, AdvanceDecrypt');
    const info = await inspect(blob);
    assert.equal(info.recipients[0].providerId, 'alibaba-kms');
    assert.equal(info.recipients[0].region, 'cn-hangzhou');
    assert.match(info.recipients[0].keyId, /^key-/, 'the resolved key id, never the alias');
  });

  it('an instance-only profile cannot list or manage keys, and says how to add an AccessKey', async () => {
    const p = instance();
    await assert.rejects(p.listKeys('cn-hangzhou'), (e: unknown) => {
      assert.ok(e instanceof KmsEnvelopeError);
      assert.equal(e.details.providerCode, 'InstanceOnlyProfile');
      assert.match(e.message, /with a client key only: the instance gateway cannot list keys/);
      assert.match(
        e.hintIn(cliStep) ?? '',
        /Add an AccessKey .* to the profile \(`kms-envelope profiles rotate --provider alibaba-instance --name instance --instance-endpoint … --ca-file … --client-key-file …`/,
      );
      assert.match(e.hint ?? '', /Sealing with a key you know works now: alibaba-instance:cn-hangzhou:/);
      return true;
    });
    await assert.rejects(p.disableKey('cn-hangzhou', 'seed-instance-enabled'), /cannot disable keys/);
  });

  it('a wrong password says so before any request', async () => {
    em.resetCounters();
    await assert.rejects(instance({ password: 'nope' }).generateDataKey('cn-hangzhou', 'seed-instance-enabled', {}), (e: unknown) => {
      assert.ok(e instanceof KmsEnvelopeError);
      assert.equal(e.kind, 'credentials');
      assert.match(e.message, /password of client key .* is wrong/);
      return true;
    });
    assert.equal(em.counters().total ?? 0, 0);
    // The region list (what a profile test calls) loads the client key too, so the test catches it.
    await assert.rejects(instance({ password: 'nope' }).listRegions(), /password of client key .* is wrong/);
    assert.deepEqual(await instance().listRegions(), ['cn-hangzhou']);
    assert.equal(em.counters().total ?? 0, 0, 'without a request');
  });

  it('a transfer profile: key operations to the instance, management to the public gateway', async () => {
    const p = instance({ management: true });
    em.resetCounters();
    const listed = await p.listKeys('cn-hangzhou');
    assert.deepEqual(
      listed.keys.map((k) => k.alias).sort(),
      ['seed-instance-disabled', 'seed-instance-enabled'],
      "only the instance keys, not the region's other keys",
    );
    assert.ok(listed.keys.every((k) => k.instanceId === em.instance!.id));
    const afterList = gatewayCounts();
    assert.equal(afterList.instance, 0);
    assert.ok(afterList.public > 0);
    const made = await p.createKey('cn-hangzhou', { alias: 'made-in-instance', description: 'through the transfer profile' });
    assert.equal(made.instanceId, em.instance!.id);
    await p.disableKey('cn-hangzhou', made.keyId);
    await p.enableKey('cn-hangzhou', made.keyId);
    em.resetCounters();
    const dk = await p.generateDataKey('cn-hangzhou', made.keyId, { f: '1' });
    const back = await p.decryptDataKey('cn-hangzhou', made.keyId, dk.ciphertext, { f: '1' });
    assert.deepEqual(back.plaintext, dk.plaintext);
    assert.deepEqual(gatewayCounts(), { instance: 3, public: 0 });
  });

  it('a sealed file crosses gateways: instance → public gateway, and public gateway → instance', async () => {
    const inst = instance();
    const pub = publicGateway();
    const viaInstance = await sealBuffer(Buffer.from('crossing'), {
      recipients: [{ provider: inst, region: 'cn-hangzhou', key: 'alias/seed-instance-enabled' }],
      context: { env: 'prod' },
    });
    em.resetCounters();
    assert.equal((await unsealBuffer(viaInstance, { resolve: async () => pub })).plaintext.toString(), 'crossing');
    assert.deepEqual(gatewayCounts(), { instance: 0, public: 1 });
    const viaPublic = await sealBuffer(Buffer.from('and back'), {
      recipients: [{ provider: pub, region: 'cn-hangzhou', key: 'alias/seed-instance-enabled' }],
      context: { env: 'prod' },
    });
    em.resetCounters();
    assert.equal((await unsealBuffer(viaPublic, { resolve: async () => inst })).plaintext.toString(), 'and back');
    assert.deepEqual(gatewayCounts(), { instance: 1, public: 0 });
  });
});
