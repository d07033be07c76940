// Bulk standalone values through the ESDK caching materials manager: one data key (one GenerateDataKey
// + one Encrypt per further recipient) for the values of one operation, one Decrypt to unseal them, each
// value still its own message; the documented limits; nothing shared between operations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommitmentPolicy, RawAesKeyringNode, RawAesWrappingSuiteIdentifier, buildClient } from '@aws-crypto/client-node';
import { inspect, sealBuffer, unsealBuffer, type Recipient } from '../../src/core/envelope';
import { BULK_CACHE_LIMITS, bulkSealMaterials, bulkUnsealMaterials } from '../../src/core/envelope/cache';
import { FakeCloudKms, FakeLocal, resolverOf } from './envelope/fakes';

async function setup() {
  const tencent = new FakeCloudKms('tencent').addKey('ap-guangzhou', 'tk-1');
  const alibaba = new FakeCloudKms('alibaba').addKey('cn-hangzhou', 'key-ali-1');
  const rT: Recipient = { provider: tencent, region: 'ap-guangzhou', key: 'tk-1' };
  const rA: Recipient = { provider: alibaba, region: 'cn-hangzhou', key: 'key-ali-1' };
  return { tencent, alibaba, rT, rA, resolve: resolverOf(tencent, alibaba) };
}

test('50 values sealed in one operation: one GenerateDataKey + one Encrypt; unsealed with one Decrypt; each its own message', async () => {
  const { tencent, alibaba, rT, rA, resolve } = await setup();
  const recipients = [rT, rA];
  const materials = await bulkSealMaterials(recipients);
  const values = Array.from({ length: 50 }, (_, i) => Buffer.from(`secret-${i}`));
  const blobs: Buffer[] = [];
  for (const v of values) blobs.push(await sealBuffer(v, { recipients, materials, context: { app: 'billing' } }));
  assert.deepEqual([tencent.calls.generate, tencent.calls.encrypt, alibaba.calls.encrypt], [1, 0, 1]);
  const ids = new Set(await Promise.all(blobs.map(async (b) => (await inspect(b)).messageId)));
  assert.equal(ids.size, 50, 'a message id (and so a derived key) per value');

  const unsealing = bulkUnsealMaterials(resolve);
  for (const [i, b] of blobs.entries()) {
    const { plaintext } = await unsealBuffer(b, { resolve, materials: unsealing });
    assert.equal(plaintext.toString(), `secret-${i}`);
  }
  assert.equal(tencent.calls.decrypt + alibaba.calls.decrypt, 1);
  // Without the cache every value is its own Decrypt.
  await unsealBuffer(blobs[0]!, { resolve });
  await unsealBuffer(blobs[1]!, { resolve });
  assert.equal(tencent.calls.decrypt + alibaba.calls.decrypt, 3);
});

test('limits: another context, more than the message limit, or another operation means another data key', async () => {
  const { tencent, rT } = await setup();
  const materials = await bulkSealMaterials([rT]);
  await sealBuffer(Buffer.from('a'), { recipients: [rT], materials, context: { env: 'prod' } });
  await sealBuffer(Buffer.from('b'), { recipients: [rT], materials, context: { env: 'staging' } });
  assert.equal(tencent.calls.generate, 2, 'one data key per context');
  for (let i = 0; i < BULK_CACHE_LIMITS.maxMessagesEncrypted; i++)
    await sealBuffer(Buffer.from('v'), { recipients: [rT], materials, context: { env: 'x' } });
  assert.equal(tencent.calls.generate, 3);
  await sealBuffer(Buffer.from('v'), { recipients: [rT], materials, context: { env: 'x' } });
  assert.equal(tencent.calls.generate, 4, `a new data key after ${BULK_CACHE_LIMITS.maxMessagesEncrypted} values`);
  await sealBuffer(Buffer.alloc(BULK_CACHE_LIMITS.maxBytesEncrypted + 1), { recipients: [rT], materials, context: { env: 'x' } });
  assert.equal(tencent.calls.generate, 5, 'a value over the byte limit gets its own data key');
  const other = await bulkSealMaterials([rT]);
  await sealBuffer(Buffer.from('c'), { recipients: [rT], materials: other, context: { env: 'prod' } });
  assert.equal(tencent.calls.generate, 6, 'nothing is shared between operations');
});

test('a value sealed through the cache is an ordinary message: the stock Encryption SDK opens it', async () => {
  const local = new FakeLocal();
  const material = await local.addKey('team-key', 'team');
  const rL: Recipient = { provider: local, region: 'local', key: 'team' };
  const materials = await bulkSealMaterials([rL]);
  const blob = await sealBuffer(Buffer.from('hello'), { recipients: [rL], materials });
  const keyring = new RawAesKeyringNode({
    keyName: 'team-key',
    keyNamespace: 'local',
    unencryptedMasterKey: new Uint8Array(material),
    wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
  });
  const { plaintext } = await buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT).decrypt(keyring, blob);
  assert.equal(Buffer.from(plaintext).toString(), 'hello');
});
