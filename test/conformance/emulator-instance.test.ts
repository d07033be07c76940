// The emulator's Alibaba Cloud KMS 3.0 instance gateway against our instance client, over real
// TLS on 127.0.0.1 with the instance's own CA and a client key the emulator issued (PKCS#12):
// round trips, the refusals a user meets (wrong CA, wrong password, a changed body or header, a
// stale date, an unknown or revoked client key, unknown and disabled keys, throttling) with the
// message each gets, protobuf error bodies, counters and faults shared with the public gateways,
// and ciphertexts that cross between the instance gateway and the public Alibaba gateway.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KmsEnvelopeError } from '../../src/core/errors';
import { loadClientKey, type ClientKey } from '../../src/core/kms/alibaba-instance/client-key';
import { InstanceClient } from '../../src/core/kms/alibaba-instance/client';
import { decodeError, decodeResponse, encodeRequest } from '../../src/core/kms/alibaba-instance/proto';
import { signedHeaders } from '../../src/core/kms/alibaba-instance/signing';
import { AlibabaKmsProvider } from '../../src/core/kms/alibaba/index';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index';
import { alibabaClient, aliCall } from './helpers/sdk-clients';
import { TEST_RETRY } from './provider-harness';

const ENABLED = 'alias/seed-instance-enabled';
const DISABLED = 'alias/seed-instance-disabled';

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** Sends one hand-built request (for what our client never sends: changed bodies and headers). */
function rawPost(url: string, ca: string, headers: Record<string, string>, body: Buffer): Promise<Raw> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: Number(u.port),
        method: 'POST',
        path: '/',
        ca,
        headers: { ...headers, 'content-length': String(body.length) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('emulator: Alibaba KMS 3.0 instance gateway over TLS, with our instance client', () => {
  let em: RunningEmulator;
  let key: ClientKey;
  let client: InstanceClient;
  const clients: InstanceClient[] = [];
  const make = (o: Partial<ConstructorParameters<typeof InstanceClient>[0]> = {}) => {
    const c = new InstanceClient({
      endpoint: em.instance!.url,
      caPem: em.instance!.caPem,
      clientKey: key,
      region: 'cn-hangzhou',
      profile: 'instance',
      retry: TEST_RETRY,
      ...o,
    });
    clients.push(c);
    return c;
  };
  const signed = (api: string, body: Buffer, extra?: Record<string, string>) =>
    signedHeaders({ apiName: api, body, clientKeyId: key.id, privateKey: key.privateKey, date: new Date().toUTCString(), extra });

  before(async () => {
    em = await startEmulator({ seed: true, instance: true });
    key = await loadClientKey({ json: em.instance!.clientKey.json, password: em.instance!.clientKey.password, source: 'test' });
    client = make();
  });
  after(async () => {
    for (const c of clients) c.close();
    await em?.stop();
  });

  it('writes the CA (PEM) and the client key files the console would hand out, 0600, beside each other', () => {
    const f = em.instance!.files;
    assert.match(f.ca, new RegExp(`PrivateKmsCA_${em.instance!.id}\\.pem$`));
    assert.equal(readFileSync(f.ca, 'utf8'), em.instance!.caPem);
    assert.deepEqual(JSON.parse(readFileSync(f.clientKey, 'utf8')).KeyId, em.instance!.clientKey.id);
    assert.equal(readFileSync(f.password, 'utf8'), em.instance!.clientKey.password);
    for (const p of [f.clientKey, f.password]) assert.equal(statSync(p).mode & 0o777, 0o600, p);
    assert.match(em.instance!.id, /^kst-[a-z0-9]+$/);
    assert.match(em.instance!.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it('encrypts, decrypts and makes data keys; the context is bound; counters name the instance APIs', async () => {
    em.resetCounters();
    const enc = await client.encrypt(ENABLED, Buffer.from('hello'), { app: 'billing' });
    assert.match(enc.keyId, /^key-/);
    const raw = Buffer.from(enc.ciphertextBlob, 'base64');
    assert.equal(raw.subarray(0, 36).toString(), enc.keyVersionId, 'KMS 1.0 form: key version id first');
    const dec = await client.decrypt(enc.ciphertextBlob, { app: 'billing' });
    assert.equal(dec.plaintext.toString(), 'hello');
    assert.equal(dec.keyId, enc.keyId);
    await assert.rejects(client.decrypt(enc.ciphertextBlob, { app: 'other' }), (e: unknown) => {
      assert.ok(e instanceof KmsEnvelopeError);
      assert.equal(e.details.providerCode, 'InvalidCiphertext');
      assert.match(e.message, /refused to decrypt/);
      assert.match(e.hint ?? '', /encryption context differs/);
      return true;
    });
    const dk = await client.generateDataKey(ENABLED, {});
    assert.equal(dk.plaintext.length, 32);
    const back = await client.decrypt(dk.ciphertextBlob, {});
    assert.equal(back.plaintext.toString(), dk.plaintext.toString('base64'), 'the data key is sealed as its base64 text, as KMS 1.0 does');
    assert.deepEqual(Object.fromEntries(Object.entries(em.counters()).filter(([k]) => k.startsWith('instance:'))), {
      'instance:AdvanceEncrypt': 2,
      'instance:AdvanceDecrypt': 3,
      'instance:AdvanceGenerateDataKey': 1,
    });
  });

  it('a ciphertext crosses gateways: sealed through the instance, opened through the public gateway, and back', async () => {
    const acct = em.accounts[0];
    const pub = new AlibabaKmsProvider({
      profile: 'public',
      credentials: async () => ({ accessKeyId: acct.alibaba.accessKeyId, accessKeySecret: acct.alibaba.accessKeySecret }),
      endpoint: em.url,
      retry: TEST_RETRY,
    });
    em.resetCounters();
    const dk = await client.generateDataKey(ENABLED, { file: 'a.env' });
    const opened = await pub.decryptDataKey('cn-hangzhou', dk.keyId, Buffer.from(dk.ciphertextBlob, 'utf8'), { file: 'a.env' });
    assert.deepEqual(opened.plaintext, dk.plaintext, 'the public gateway opens what the instance sealed');
    assert.equal(opened.keyId, dk.keyId);
    const wrapped = await pub.encryptDataKey('cn-hangzhou', dk.keyId, dk.plaintext, { file: 'a.env' });
    const viaInstance = await client.decrypt(wrapped.ciphertext.toString('utf8'), { file: 'a.env' });
    assert.equal(viaInstance.plaintext.toString(), dk.plaintext.toString('base64'), 'the instance opens what the public gateway sealed');
    const c = em.counters();
    assert.equal(c['alibaba:Decrypt'], 1);
    assert.equal(c['alibaba:Encrypt'], 1);
    assert.equal(c['instance:AdvanceDecrypt'], 1);
    // The public gateway shows the instance's keys with their instance id.
    const ali = alibabaClient(em.url, acct.alibaba);
    const meta = (await aliCall(ali, 'DescribeKey', { KeyId: dk.keyId }, 'cn-hangzhou')).KeyMetadata;
    assert.equal(meta.DKMSInstanceId, em.instance!.id);
    const made = (await aliCall(ali, 'CreateKey', { DKMSInstanceId: em.instance!.id, Description: 'in the instance' }, 'cn-hangzhou'))
      .KeyMetadata;
    assert.equal(made.DKMSInstanceId, em.instance!.id);
    assert.equal(
      (await client.encrypt(made.KeyId, Buffer.from('x'), {})).keyId,
      made.KeyId,
      'a key created with DKMSInstanceId serves the instance',
    );
    const plain = (await aliCall(ali, 'CreateKey', {}, 'cn-hangzhou')).KeyMetadata.KeyId as string;
    await assert.rejects(client.encrypt(plain, Buffer.from('x'), {}), /no key .* in this instance/);
    const missing = await aliCall(ali, 'CreateKey', { DKMSInstanceId: 'kst-hzznosuchinstance' }, 'cn-hangzhou').then(
      () => 'created',
      (e: { code?: string }) => e.code,
    );
    assert.equal(missing, 'Forbidden.DKMSInstanceNotFound');
    pub.dispose();
  });

  it('the wrong CA certificate is refused as a CA mismatch naming the profile', async () => {
    const other = await startEmulator({ instance: true });
    try {
      const c = make({ caPem: other.instance!.caPem });
      await assert.rejects(c.encrypt(ENABLED, Buffer.from('x'), {}), (e: unknown) => {
        assert.ok(e instanceof KmsEnvelopeError);
        assert.equal(e.kind, 'credentials');
        assert.match(e.message, /certificate is not signed by the CA certificate of profile instance/);
        assert.match(e.hint ?? '', /PrivateKmsCA_/);
        return true;
      });
    } finally {
      await other.stop();
    }
  });

  it('a stale date is refused as clock skew; a date 10 minutes off is accepted', async () => {
    await assert.rejects(make({ now: () => Date.now() - 20 * 60_000 }).encrypt(ENABLED, Buffer.from('x'), {}), (e: unknown) => {
      assert.ok(e instanceof KmsEnvelopeError);
      assert.equal(e.kind, 'credentials');
      assert.equal(e.details.providerCode, 'RequestTimeTooSkewed');
      assert.match(e.message, /more than 15 minutes/);
      assert.match(e.hint ?? '', /clock/);
      return true;
    });
    await make({ now: () => Date.now() + 10 * 60_000 }).encrypt(ENABLED, Buffer.from('x'), {});
  });

  it('a changed body, a changed signed header or a bad Authorization is refused with the gateway codes, as protobuf', async () => {
    const body = encodeRequest('AdvanceEncrypt', { KeyId: ENABLED, Plaintext: Buffer.from('hello') });
    const url = em.instance!.url;
    const ca = em.instance!.caPem;
    const ok = await rawPost(url, ca, signed('AdvanceEncrypt', body), body);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['content-type'], 'application/x-protobuf');
    assert.match(String(ok.headers['x-kms-migrationkeyversionid']), /^[0-9a-f-]{36}$/);

    const tampered = Buffer.from(body);
    tampered[tampered.length - 1] ^= 1;
    const r1 = await rawPost(url, ca, signed('AdvanceEncrypt', body), tampered);
    assert.equal(r1.status, 400);
    assert.deepEqual(
      { ...decodeError(r1.body), RequestId: '' },
      {
        StatusCode: 400,
        ErrorCode: 'InvalidParam',
        ErrorMessage: 'The Param Content-SHA256 is invalid.',
        RequestId: '',
      },
    );

    const h = signed('AdvanceEncrypt', tampered);
    const r2 = await rawPost(url, ca, { ...h, 'content-sha256': signed('AdvanceEncrypt', body)['content-sha256'] }, body);
    assert.equal(decodeError(r2.body)?.ErrorCode, 'SignatureNotMatch', 'a body hash that is not the signed one');
    assert.equal(r2.status, 401);

    const r3 = await rawPost(url, ca, { ...signed('AdvanceEncrypt', body), 'x-kms-apiname': 'AdvanceGenerateDataKey' }, body);
    assert.equal(decodeError(r3.body)?.ErrorCode, 'SignatureNotMatch', 'a signed x-kms- header changed');

    const r4 = await rawPost(url, ca, { ...signed('AdvanceEncrypt', body), 'x-kms-extra': 'added' }, body);
    assert.equal(decodeError(r4.body)?.ErrorCode, 'SignatureNotMatch', 'an x-kms- header added after signing');

    const r5 = await rawPost(url, ca, { ...signed('AdvanceEncrypt', body), authorization: 'Basic abc' }, body);
    assert.deepEqual([r5.status, decodeError(r5.body)?.ErrorMessage], [400, 'The Param Authorization is invalid.']);

    const r6 = await rawPost(url, ca, { ...signed('AdvanceEncrypt', body), 'x-kms-apiversion': 'dkms-gcs-0.1' }, body);
    assert.deepEqual([r6.status, decodeError(r6.body)?.ErrorCode], [400, 'InvalidApiVersion']);
    const r7 = await rawPost(url, ca, { ...signed('Nope', body), 'x-kms-apiname': 'Nope' }, body);
    assert.deepEqual([r7.status, decodeError(r7.body)?.ErrorCode], [400, 'InvalidApiName']);
    const r8 = await rawPost(url, ca, { ...signed('AdvanceEncrypt', body), date: '2024-01-01T00:00:00Z' }, body);
    assert.deepEqual([r8.status, decodeError(r8.body)?.ErrorMessage], [400, 'The Param Date is invalid.']);
    const noKey = signed('AdvanceEncrypt', body);
    delete (noKey as Record<string, string>)['x-kms-acccesskeyid'];
    const r9 = await rawPost(url, ca, noKey, body);
    assert.deepEqual([r9.status, decodeError(r9.body)?.ErrorCode], [400, 'MissingParameter']);
    const r10 = await rawPost(url, ca, { ...signed('AdvanceEncrypt', body), 'x-kms-signaturemethod': 'HMAC-SHA1' }, body);
    assert.match(decodeError(r10.body)?.ErrorMessage ?? '', /x-kms-signaturemethod is invalid\. message:"HMAC-SHA1"/);
    const garbage = Buffer.from([0xff, 0xff, 0xff]);
    const r11 = await rawPost(url, ca, signed('AdvanceEncrypt', garbage), garbage);
    assert.deepEqual([r11.status, decodeError(r11.body)?.ErrorCode], [400, 'InvalidParameter']);
    const r12 = await rawPost(url, ca, signed('Sign', Buffer.alloc(0)), Buffer.alloc(0));
    assert.deepEqual([r12.status, decodeError(r12.body)?.ErrorCode], [400, 'UnsupportedOperation']);
  });

  it('the low-version API resolves the key from x-kms-migrationkeyversionid (signed), as the TransferClient sends it', async () => {
    const body = encodeRequest('Encrypt', { KeyId: ENABLED, Plaintext: Buffer.from('low') });
    const r = await rawPost(em.instance!.url, em.instance!.caPem, signed('Encrypt', body), body);
    assert.equal(r.status, 200);
    const version = String(r.headers['x-kms-migrationkeyversionid']);
    const enc = decodeResponse('Encrypt', r.body);
    const dbody = encodeRequest('Decrypt', { CiphertextBlob: enc.CiphertextBlob, Iv: enc.Iv });
    const d = await rawPost(
      em.instance!.url,
      em.instance!.caPem,
      signed('Decrypt', dbody, { 'x-kms-migrationkeyversionid': version }),
      dbody,
    );
    assert.equal(d.status, 200);
    assert.equal(decodeResponse('Decrypt', d.body).Plaintext.toString(), 'low');
  });

  it('an unknown, revoked or expired client key and a mismatched key file are refused with what to do', async () => {
    const extra = await em.instance!.issueClientKey();
    const extraKey = await loadClientKey({ json: extra.json, password: extra.password, source: 'extra.json' });
    await make({ clientKey: extraKey }).encrypt(ENABLED, Buffer.from('x'), {});
    em.instance!.revokeClientKey(extra.id);
    await assert.rejects(make({ clientKey: extraKey }).encrypt(ENABLED, Buffer.from('x'), {}), (e: unknown) => {
      assert.ok(e instanceof KmsEnvelopeError);
      assert.equal(e.kind, 'credentials');
      assert.equal(e.details.providerCode, 'Unauthorized');
      assert.match(e.message, new RegExp(`does not accept client key ${extra.id.replace('.', '\\.')}`));
      assert.match(e.hint ?? '', /Create a client key/);
      return true;
    });
    const old = await em.instance!.issueClientKey({ notBefore: Date.now() - 86_400_000 * 10, notAfter: Date.now() - 1000 });
    const oldKey = await loadClientKey({ json: old.json, password: old.password, source: 'old.json' });
    await assert.rejects(make({ clientKey: oldKey }).encrypt(ENABLED, Buffer.from('x'), {}), /does not accept client key .*expired/);
    // The id of one client key with the private key of another: the signature does not verify.
    await assert.rejects(
      make({ clientKey: { ...key, privateKey: extraKey.privateKey } }).encrypt(ENABLED, Buffer.from('x'), {}),
      (e: unknown) => {
        assert.ok(e instanceof KmsEnvelopeError);
        assert.equal(e.details.providerCode, 'SignatureNotMatch');
        assert.match(e.message, /refused the signature of client key/);
        return true;
      },
    );
  });

  it('unknown and disabled keys, and throttling (retried, then reported)', async () => {
    await assert.rejects(client.encrypt('key-hzzdoesnotexist00000', Buffer.from('x'), {}), (e: unknown) => {
      assert.ok(e instanceof KmsEnvelopeError);
      assert.equal(e.kind, 'provider');
      assert.equal(e.details.providerCode, 'Forbidden.KeyNotFound');
      assert.match(e.message, /no key key-hzzdoesnotexist00000 in this instance/);
      return true;
    });
    await assert.rejects(client.encrypt(DISABLED, Buffer.from('x'), {}), /is disabled \(Rejected\.Disabled/);
    em.resetCounters();
    em.setFaults({ 'instance:AdvanceEncrypt': { throttle: { count: 2 } } });
    await client.encrypt(ENABLED, Buffer.from('x'), {});
    assert.equal(em.counters()['instance:AdvanceEncrypt'], 3, 'two throttled attempts, then through');
    em.setFaults({ 'instance:*': { throttle: { count: 10 } } });
    await assert.rejects(client.encrypt(ENABLED, Buffer.from('x'), {}), (e: unknown) => {
      assert.ok(e instanceof KmsEnvelopeError);
      assert.equal(e.details.providerCode, 'Rejected.Throttling');
      assert.equal(e.details.retryable, true);
      assert.match(e.message, /throttled AdvanceEncrypt .* after 4 attempts/);
      assert.match(e.hint ?? '', /QPS/);
      return true;
    });
    em.setFaults({ 'instance:AdvanceDecrypt': { error: { count: 1 } } });
    const enc = await client.encrypt(ENABLED, Buffer.from('y'), {});
    assert.equal((await client.decrypt(enc.ciphertextBlob, {})).plaintext.toString(), 'y', 'InternalFailure is retried');
    em.setFaults({ 'instance:AdvanceEncrypt': { drop: { count: 1 } } });
    await client.encrypt(ENABLED, Buffer.from('z'), {});
    em.setFaults({});
    assert.equal(em.counters()['alibaba:Encrypt'] ?? 0, 0, 'faults of the instance do not count as public calls');
  });

  it('keeps its CA, client key and keys across restarts with --state', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kms-inst-state-'));
    try {
      const state = join(dir, 'emu.json');
      const a = await startEmulator({ seed: true, instance: true, statePath: state });
      const ka = await loadClientKey({ json: a.instance!.clientKey.json, password: a.instance!.clientKey.password, source: 'a' });
      const ca = new InstanceClient({
        endpoint: a.instance!.url,
        caPem: a.instance!.caPem,
        clientKey: ka,
        region: 'cn-hangzhou',
        profile: 'p',
      });
      const enc = await ca.encrypt(ENABLED, Buffer.from('kept'), {});
      ca.close();
      await a.stop();
      assert.equal(statSync(join(dir, 'emu-instance', `clientKey_${a.instance!.clientKey.id}.json`)).mode & 0o777, 0o600);
      const b = await startEmulator({ seed: true, instance: true, statePath: state });
      try {
        assert.equal(b.instance!.id, a.instance!.id);
        assert.equal(b.instance!.caPem, a.instance!.caPem);
        assert.equal(b.instance!.clientKey.id, a.instance!.clientKey.id);
        const cb = new InstanceClient({
          endpoint: b.instance!.url,
          caPem: b.instance!.caPem,
          clientKey: ka,
          region: 'cn-hangzhou',
          profile: 'p',
        });
        assert.equal((await cb.decrypt(enc.ciphertextBlob, {})).plaintext.toString(), 'kept');
        cb.close();
        const ali = alibabaClient(b.url, b.accounts[0].alibaba);
        const listed = await aliCall(ali, 'ListAliases', { PageSize: 100 }, 'cn-hangzhou');
        assert.equal(
          (listed.Aliases.Alias as Array<{ AliasName: string }>).filter((x) => x.AliasName.startsWith('alias/seed-instance-')).length,
          2,
          '--seed again does not add instance keys',
        );
      } finally {
        await b.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
