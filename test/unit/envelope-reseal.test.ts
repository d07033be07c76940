// Local re-seal (what saving an open kms-sealed: editor does): the data key of the opened message held
// in memory, new messages to the same recipients and context with no KMS call, each with its own
// message id; a header rewritten under the same data key is adopted, one under another data key is not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommitmentPolicy, RawAesKeyringNode, RawAesWrappingSuiteIdentifier, buildClient } from '@aws-crypto/client-node';
import { inspect, sealBuffer, unsealBuffer, type Recipient } from '../../src/core/envelope';
import { ResealKey } from '../../src/core/envelope/reseal';
import { rewrapMessage } from '../../src/core/envelope/rewrap';
import { FakeCloudKms, FakeLocal, resolverOf } from './envelope/fakes';

async function* once(b: Buffer) {
  yield b;
}

async function setup() {
  const tencent = new FakeCloudKms('tencent').addKey('ap-guangzhou', 'tk-1');
  const alibaba = new FakeCloudKms('alibaba').addKey('cn-hangzhou', 'key-ali-1');
  const rT: Recipient = { provider: tencent, region: 'ap-guangzhou', key: 'tk-1' };
  const rA: Recipient = { provider: alibaba, region: 'cn-hangzhou', key: 'key-ali-1' };
  const calls = () =>
    tencent.calls.generate +
    tencent.calls.encrypt +
    tencent.calls.decrypt +
    alibaba.calls.generate +
    alibaba.calls.encrypt +
    alibaba.calls.decrypt;
  return { tencent, alibaba, rT, rA, calls, resolve: resolverOf(tencent, alibaba) };
}

test('100 re-seals from one open: zero KMS calls even with the keys disabled; same recipients and context, a new message id each', async () => {
  const { tencent, alibaba, rT, rA, calls, resolve } = await setup();
  const blob = await sealBuffer(Buffer.from('v0'), { recipients: [rT, rA], context: { app: 'billing' }, frameLength: 4096 });
  const before = await inspect(blob);
  const { plaintext, header, key: held } = await ResealKey.open(blob, { resolve });
  assert.equal(plaintext.toString(), 'v0');
  assert.equal(header.messageId, before.messageId);
  assert.ok(held);
  const key: ResealKey = held;
  const afterOpen = calls();
  // The KMS is now useless: both keys disabled (as if offline / throttled / key disabled).
  tencent.disable('ap-guangzhou', 'tk-1');
  alibaba.disable('cn-hangzhou', 'key-ali-1');
  const ids = new Set<string>([before.messageId]);
  let last = blob;
  for (let i = 1; i <= 100; i++) {
    const { blob: b, info } = await key.seal(Buffer.from(`v${i} ${'x'.repeat(i * 97)}`));
    assert.deepEqual(info.context, { app: 'billing' });
    assert.deepEqual(info.recipients, before.recipients, 'same recipients, in order');
    assert.equal(info.frameLength, 4096, "the opened message's frame length");
    assert.equal(key.messageId, info.messageId);
    ids.add(info.messageId);
    last = b;
  }
  assert.equal(calls(), afterOpen, 'no KMS call for 100 re-seals');
  assert.equal(ids.size, 101, 'a fresh message id (so a fresh derived key) per message');
  const lastInfo = await inspect(last);
  // The EDKs are kept byte for byte: the original recipients open the new message.
  tencent.enable('ap-guangzhou', 'tk-1');
  const opened = await unsealBuffer(last, { resolve });
  assert.equal(opened.plaintext.toString(), `v100 ${'x'.repeat(9700)}`);
  assert.equal(opened.header.messageId, lastInfo.messageId);
  key.dispose();
  await assert.rejects(key.seal(Buffer.from('after close')), /after dispose/);
});

test('a message re-sealed locally is an ordinary message: the stock Encryption SDK opens it with the local key', async () => {
  const local = new FakeLocal();
  const material = await local.addKey('team-key', 'team');
  const rL: Recipient = { provider: local, region: 'local', key: 'team' };
  const resolve = resolverOf(local);
  const blob = await sealBuffer(Buffer.from('hello'), { recipients: [rL], context: { purpose: 'editor' } });
  const { key } = await ResealKey.open(blob, { resolve });
  const { blob: next } = await key!.seal(Buffer.from('hello, edited'));
  const keyring = new RawAesKeyringNode({
    keyName: 'team-key',
    keyNamespace: 'local',
    unencryptedMasterKey: new Uint8Array(material),
    wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
  });
  const { plaintext, messageHeader } = await buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT).decrypt(keyring, next);
  assert.equal(Buffer.from(plaintext).toString(), 'hello, edited');
  assert.equal(messageHeader.encryptionContext.purpose, 'editor');
  key!.dispose();
});

test('adopt: a re-wrap that kept the data key is taken over without a KMS call; a new data key is refused', async () => {
  const { alibaba, rT, rA, calls, resolve } = await setup();
  const blob = await sealBuffer(Buffer.from('doc'), { recipients: [rT], context: { k: 'v' } });
  const { key } = await ResealKey.open(blob, { resolve });
  assert.ok(key);
  // Someone adds a recipient (same data key, EDK kept, one Encrypt for the new one).
  const rewrapped = await rewrapMessage(once(blob), { next: [{ keep: 0 }, { add: rA }] }, { resolve });
  const parts: Buffer[] = [];
  for await (const p of rewrapped.body) parts.push(p);
  rewrapped.dispose();
  const onDisk = Buffer.concat(parts);
  const n = calls();
  assert.equal(await key.adopt(once(onDisk)), true);
  const { blob: saved, info } = await key.seal(Buffer.from('doc, edited'));
  assert.equal(calls(), n, 'adopt and seal: no KMS call');
  assert.deepEqual(
    info.recipients.map((r) => r.providerId),
    ['tencent-kms', 'alibaba-kms'],
    'the added recipient is kept',
  );
  alibaba.calls.decrypt = 0;
  const viaAli = await unsealBuffer(saved, { resolve: async (name) => (name === 'alibaba' ? alibaba : undefined) });
  assert.equal(viaAli.plaintext.toString(), 'doc, edited');
  // A message under another data key (sealed afresh) is not adopted.
  const fresh = await sealBuffer(Buffer.from('other'), { recipients: [rT], context: { k: 'v' } });
  assert.equal(await key.adopt(once(fresh)), false);
  // A modified header (its context changed) is not adopted either.
  const tampered = Buffer.from(saved);
  const at = tampered.indexOf(Buffer.from('k'), 40);
  tampered[at] = 'j'.charCodeAt(0);
  assert.equal(await key.adopt(once(tampered)), false);
  key.dispose();
});
