// The emulator's Tencent Cloud KMS front end, driven by the OFFICIAL tencentcloud-sdk-nodejs-common
// CommonClient (TC3-HMAC-SHA256) over real HTTP on 127.0.0.1. Tampered requests go through a
// proxy that changes one byte of what the SDK sent.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startEmulator, type RunningEmulator } from '../../src/emulator';
import { TENCENT_ACTIONS } from '../../src/emulator/tencent';
import { flipByte, startTamperProxy, tcCall, tcFail, tencentClient, type TamperProxy } from './helpers/sdk-clients';

const RA = 'ap-guangzhou';
const RB = 'ap-shanghai';
const uniq = () => randomBytes(4).toString('hex');
const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

describe('emulator: Tencent Cloud KMS through the official SDK', () => {
  let em: RunningEmulator;
  let proxy: TamperProxy;
  const c = (region: string | undefined = RA, account = 0, url?: string) =>
    tencentClient(url ?? em.url, em.accounts[account].tencent, region);
  const newKey = async (region = RA, account = 0, extra: Record<string, unknown> = {}) =>
    (await tcCall(c(region, account), 'CreateKey', { Alias: `k-${uniq()}`, ...extra })) as { KeyId: string; Alias: string };

  before(async () => {
    em = await startEmulator({ seed: true });
    proxy = await startTamperProxy(em.url);
  });
  after(async () => {
    await proxy?.close();
    await em?.stop();
  });

  it('drives every action of the emulator (and only known actions) through the SDK', async () => {
    em.resetCounters();
    const k = c();
    const regions = await tcCall(k, 'GetRegions');
    for (const r of ['ap-guangzhou', 'ap-shanghai', 'ap-beijing', 'ap-chengdu', 'ap-chongqing', 'ap-hongkong', 'ap-singapore'])
      assert.ok(regions.Regions.includes(r), r);
    assert.equal(
      (await tcCall(tencentClient(em.url, em.accounts[0].tencent, undefined), 'GetServiceStatus')).ServiceEnabled,
      true,
      'GetServiceStatus without a region',
    );

    const alias = `app-${uniq()}`;
    const created = await tcCall(k, 'CreateKey', { Alias: alias, Description: 'first', KeyUsage: 'ENCRYPT_DECRYPT' });
    assert.match(created.KeyId, /^[0-9a-f-]{36}$/);
    assert.equal(created.Alias, alias);
    assert.equal(created.KeyState, 'Enabled');
    assert.equal(created.Description, 'first');
    assert.ok(Math.abs(created.CreateTime - Date.now() / 1000) < 600);
    const id = created.KeyId as string;

    const d = (await tcCall(k, 'DescribeKey', { KeyId: id })).KeyMetadata;
    assert.equal(d.KeyId, id);
    assert.equal(d.Alias, alias);
    assert.equal(d.Origin, 'TENCENT_KMS');
    assert.equal(d.CreatorUin, Number(em.accounts[0].uin));
    const ds = await tcCall(k, 'DescribeKeys', { KeyIds: [id, '00000000-0000-4000-8000-000000000000'] });
    assert.deepEqual(
      ds.KeyMetadatas.map((m: { KeyId: string }) => m.KeyId),
      [id],
    );

    const lk = await tcCall(k, 'ListKeys', { Limit: 200 });
    assert.ok(lk.Keys.some((x: { KeyId: string }) => x.KeyId === id));
    assert.equal(lk.TotalCount, lk.Keys.length);
    const ld = await tcCall(k, 'ListKeyDetail', { Limit: 200, SearchKeyAlias: alias });
    assert.equal(ld.TotalCount, 1);
    assert.equal(ld.KeyMetadatas[0].KeyId, id);

    const enc = await tcCall(k, 'Encrypt', { KeyId: id, Plaintext: b64('secret text'), EncryptionContext: '{"b":"2","a":"1"}' });
    assert.equal(enc.KeyId, id);
    assert.ok(!Buffer.from(enc.CiphertextBlob, 'base64').includes(Buffer.from('secret text')));
    const dec = await tcCall(k, 'Decrypt', { CiphertextBlob: enc.CiphertextBlob, EncryptionContext: '{"a":"1","b":"2"}' });
    assert.equal(Buffer.from(dec.Plaintext, 'base64').toString(), 'secret text', 'context key order does not matter');
    assert.equal(dec.KeyId, id);

    const gdk = await tcCall(k, 'GenerateDataKey', { KeyId: id, KeySpec: 'AES_256' });
    assert.equal(Buffer.from(gdk.Plaintext, 'base64').length, 32);
    assert.equal((await tcCall(k, 'Decrypt', { CiphertextBlob: gdk.CiphertextBlob })).Plaintext, gdk.Plaintext);
    assert.equal(Buffer.from((await tcCall(k, 'GenerateDataKey', { KeyId: id, KeySpec: 'AES_128' })).Plaintext, 'base64').length, 16);
    assert.equal(Buffer.from((await tcCall(k, 'GenerateDataKey', { KeyId: id, NumberOfBytes: 1024 })).Plaintext, 'base64').length, 1024);

    const other = await newKey();
    const re = await tcCall(k, 'ReEncrypt', {
      CiphertextBlob: enc.CiphertextBlob,
      SourceEncryptionContext: '{"a":"1","b":"2"}',
      DestinationKeyId: other.KeyId,
      DestinationEncryptionContext: '{"c":"3"}',
    });
    assert.equal(re.KeyId, other.KeyId);
    assert.equal(re.SourceKeyId, id);
    assert.equal(re.ReEncrypted, true);
    assert.equal(
      Buffer.from(
        (await tcCall(k, 'Decrypt', { CiphertextBlob: re.CiphertextBlob, EncryptionContext: '{"c":"3"}' })).Plaintext,
        'base64',
      ).toString(),
      'secret text',
    );

    const alias2 = `app2-${uniq()}`;
    await tcCall(k, 'UpdateAlias', { KeyId: id, Alias: alias2 });
    await tcCall(k, 'UpdateKeyDescription', { KeyId: id, Description: 'second' });
    const d2 = (await tcCall(k, 'DescribeKey', { KeyId: id })).KeyMetadata;
    assert.equal(d2.Alias, alias2);
    assert.equal(d2.Description, 'second');

    await tcCall(k, 'EnableKeyRotation', { KeyId: id, RotateDays: 90 });
    let rot = await tcCall(k, 'GetKeyRotationStatus', { KeyId: id });
    assert.equal(rot.KeyRotationEnabled, true);
    assert.equal(rot.RotateDays, 90);
    assert.ok(rot.NextRotateTime > Date.now() / 1000);
    await tcCall(k, 'DisableKeyRotation', { KeyId: id });
    rot = await tcCall(k, 'GetKeyRotationStatus', { KeyId: id });
    assert.equal(rot.KeyRotationEnabled, false);

    await tcCall(k, 'ArchiveKey', { KeyId: id });
    assert.equal((await tcCall(k, 'DescribeKey', { KeyId: id })).KeyMetadata.KeyState, 'Archived');
    assert.equal((await tcFail(k, 'Encrypt', { KeyId: id, Plaintext: b64('x') })).code, 'ResourceUnavailable.CmkArchived');
    assert.equal(
      (await tcCall(k, 'Decrypt', { CiphertextBlob: gdk.CiphertextBlob })).Plaintext,
      gdk.Plaintext,
      'an archived key still decrypts',
    );
    await tcCall(k, 'CancelKeyArchive', { KeyId: id });

    await tcCall(k, 'DisableKey', { KeyId: id });
    assert.equal((await tcCall(k, 'DescribeKey', { KeyId: id })).KeyMetadata.KeyState, 'Disabled');
    await tcCall(k, 'EnableKey', { KeyId: id });
    await tcCall(k, 'DisableKey', { KeyId: id });
    const sched = await tcCall(k, 'ScheduleKeyDeletion', { KeyId: id, PendingWindowInDays: 7 });
    assert.equal(sched.KeyId, id);
    assert.ok(Math.abs(sched.DeletionDate - (Date.now() / 1000 + 7 * 86400)) < 600);
    const pd = (await tcCall(k, 'DescribeKey', { KeyId: id })).KeyMetadata;
    assert.equal(pd.KeyState, 'PendingDelete');
    assert.equal(pd.DeletionDate, sched.DeletionDate);
    assert.equal((await tcCall(k, 'CancelKeyDeletion', { KeyId: id })).KeyId, id);
    assert.equal(
      (await tcCall(k, 'DescribeKey', { KeyId: id })).KeyMetadata.KeyState,
      'Disabled',
      'a cancelled deletion leaves the key disabled',
    );

    const counted = Object.keys(em.counters())
      .filter((x) => x.startsWith('tencent:'))
      .map((x) => x.slice(8));
    assert.deepEqual(new Set(counted), new Set(TENCENT_ACTIONS), 'every emulator action was called through the SDK');
  });

  it('key state rules answer with Tencent codes', async () => {
    const k = c();
    const { KeyId } = await newKey();
    const blob = (await tcCall(k, 'Encrypt', { KeyId, Plaintext: b64('x') })).CiphertextBlob;
    assert.equal(
      (await tcFail(k, 'ScheduleKeyDeletion', { KeyId, PendingWindowInDays: 7 })).code,
      'ResourceUnavailable.CmkShouldBeDisabled',
    );
    assert.equal((await tcFail(k, 'CancelKeyDeletion', { KeyId })).code, 'ResourceUnavailable.CmkNotPendingDelete');
    await tcCall(k, 'DisableKey', { KeyId });
    for (const [action, params] of [
      ['Encrypt', { KeyId, Plaintext: b64('x') }],
      ['GenerateDataKey', { KeyId, KeySpec: 'AES_256' }],
      ['Decrypt', { CiphertextBlob: blob }],
    ] as const) {
      assert.equal((await tcFail(k, action, params)).code, 'ResourceUnavailable.CmkDisabled', action);
    }
    for (const days of [6, 31])
      assert.equal(
        (await tcFail(k, 'ScheduleKeyDeletion', { KeyId, PendingWindowInDays: days })).code,
        'InvalidParameter.InvalidPendingWindowInDays',
      );
    await tcCall(k, 'ScheduleKeyDeletion', { KeyId, PendingWindowInDays: 30 });
    assert.equal((await tcFail(k, 'Encrypt', { KeyId, Plaintext: b64('x') })).code, 'ResourceUnavailable.KeyPendingDelete');
    assert.equal((await tcFail(k, 'Decrypt', { CiphertextBlob: blob })).code, 'ResourceUnavailable.KeyPendingDelete');
    assert.equal((await tcFail(k, 'EnableKey', { KeyId })).code, 'ResourceUnavailable.KeyPendingDelete');
    assert.equal((await tcFail(k, 'ScheduleKeyDeletion', { KeyId, PendingWindowInDays: 7 })).code, 'ResourceUnavailable.KeyPendingDelete');
    const ext = await newKey(RA, 0, { Type: 2 });
    assert.equal((await tcCall(k, 'DescribeKey', { KeyId: ext.KeyId })).KeyMetadata.KeyState, 'PendingImport');
    assert.equal((await tcFail(k, 'Encrypt', { KeyId: ext.KeyId, Plaintext: b64('x') })).code, 'ResourceUnavailable.CmkStateNotSupport');
  });

  it('the seeded keys are there in two regions with their states', async () => {
    for (const region of [RA, RB]) {
      const ld = await tcCall(c(region), 'ListKeyDetail', { Limit: 200, SearchKeyAlias: 'seed-' });
      const byAlias = Object.fromEntries(ld.KeyMetadatas.map((m: { Alias: string; KeyState: string }) => [m.Alias, m.KeyState]));
      assert.equal(byAlias['seed-enabled'], 'Enabled');
      assert.equal(byAlias['seed-disabled'], 'Disabled');
      assert.equal(byAlias['seed-pending-deletion'], 'PendingDelete');
      const onlyDisabled = await tcCall(c(region), 'ListKeyDetail', { Limit: 200, KeyState: 2, SearchKeyAlias: 'seed-' });
      assert.deepEqual(
        onlyDisabled.KeyMetadatas.map((m: { Alias: string }) => m.Alias),
        ['seed-disabled'],
      );
    }
  });

  it('aliases: format, kms- prefix, uniqueness per region (not across regions)', async () => {
    const k = c();
    for (const bad of ['', 'has space', 'kms-reserved', 'x'.repeat(61), 'ümlaut']) {
      const f = await tcFail(k, 'CreateKey', { Alias: bad });
      assert.equal(f.code, bad === '' ? 'MissingParameter' : 'InvalidParameterValue.InvalidAlias', JSON.stringify(bad));
    }
    assert.equal((await tcCall(k, 'CreateKey', { Alias: 'a'.repeat(60) })).Alias, 'a'.repeat(60));
    const a = `dup-${uniq()}`;
    const first = await tcCall(k, 'CreateKey', { Alias: a });
    assert.equal((await tcFail(k, 'CreateKey', { Alias: a })).code, 'InvalidParameterValue.AliasAlreadyExists');
    const other = await newKey();
    assert.equal((await tcFail(k, 'UpdateAlias', { KeyId: other.KeyId, Alias: a })).code, 'InvalidParameterValue.AliasAlreadyExists');
    await tcCall(k, 'UpdateAlias', { KeyId: first.KeyId, Alias: a });
    assert.equal((await tcCall(c(RB), 'CreateKey', { Alias: a })).Alias, a, 'the same alias in another region');
    assert.equal((await tcFail(k, 'CreateKey', { Alias: `d-${uniq()}`, Description: 'x'.repeat(1025) })).code, 'InvalidParameterValue');
  });

  it('paging: Offset/Limit exactly, Limit at most 200', async () => {
    const region = 'ap-chengdu';
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await newKey(region)).KeyId);
    const k = c(region);
    const seen: string[] = [];
    for (let off = 0; off < 5; off += 2) {
      const p = await tcCall(k, 'ListKeys', { Offset: off, Limit: 2 });
      assert.equal(p.TotalCount, 5);
      assert.ok(p.Keys.length <= 2);
      seen.push(...p.Keys.map((x: { KeyId: string }) => x.KeyId));
    }
    assert.deepEqual(seen, ids, 'ListKeys is oldest first, each key once');
    assert.equal((await tcCall(k, 'ListKeys', {})).Keys.length, 5, 'default Limit 10');
    assert.equal((await tcCall(k, 'ListKeys', { Limit: 200 })).Keys.length, 5);
    assert.equal((await tcFail(k, 'ListKeys', { Limit: 201 })).code, 'InvalidParameterValue');
    assert.equal((await tcFail(k, 'ListKeyDetail', { Limit: 201 })).code, 'InvalidParameterValue');
    assert.equal((await tcFail(k, 'ListKeys', { Limit: 0 })).code, 'InvalidParameterValue');
    assert.equal((await tcFail(k, 'ListKeys', { Offset: -1 })).code, 'InvalidParameterValue');
    const newestFirst = await tcCall(k, 'ListKeyDetail', { Limit: 5 });
    assert.deepEqual(
      newestFirst.KeyMetadatas.map((m: { KeyId: string }) => m.KeyId),
      [...ids].reverse(),
      'ListKeyDetail OrderType 0: newest first',
    );
    assert.deepEqual(
      (await tcCall(k, 'ListKeyDetail', { Limit: 5, OrderType: 1 })).KeyMetadatas.map((m: { KeyId: string }) => m.KeyId),
      ids,
    );
    assert.equal((await tcFail(k, 'DescribeKeys', { KeyIds: Array.from({ length: 101 }, () => ids[0]) })).code, 'InvalidParameterValue');
  });

  it('size limits and parameter checks: Encrypt takes 4 KiB (decoded), NumberOfBytes 1–1024', async () => {
    const k = c();
    const { KeyId } = await newKey();
    const ok = await tcCall(k, 'Encrypt', { KeyId, Plaintext: b64(randomBytes(4096)) });
    assert.ok(ok.CiphertextBlob);
    assert.equal((await tcFail(k, 'Encrypt', { KeyId, Plaintext: b64(randomBytes(4097)) })).code, 'InvalidParameterValue.InvalidPlaintext');
    assert.equal((await tcFail(k, 'Encrypt', { KeyId, Plaintext: 'not base64!' })).code, 'InvalidParameterValue.InvalidPlaintext');
    assert.equal((await tcFail(k, 'Encrypt', { KeyId })).code, 'MissingParameter');
    assert.equal((await tcFail(k, 'Encrypt', { KeyId, Plaintext: b64('x'), EncryptionContext: '["a"]' })).code, 'InvalidParameterValue');
    assert.equal((await tcFail(k, 'GenerateDataKey', { KeyId, NumberOfBytes: 1025 })).code, 'InvalidParameterValue');
    assert.equal((await tcFail(k, 'GenerateDataKey', { KeyId, NumberOfBytes: 0 })).code, 'InvalidParameterValue');
    assert.equal((await tcFail(k, 'GenerateDataKey', { KeyId, KeySpec: 'AES_512' })).code, 'InvalidParameterValue');
    assert.equal((await tcFail(k, 'DescribeKey', { KeyId: 'not-a-uuid' })).code, 'InvalidParameterValue.InvalidKeyId');
    assert.equal(
      (await tcFail(k, 'DescribeKey', { KeyId: '00000000-0000-4000-8000-000000000000' })).code,
      'ResourceUnavailable.CmkNotFound',
    );
  });

  it('ciphertexts: wrong context, another region, another account or a changed byte do not decrypt', async () => {
    const { KeyId } = await newKey();
    const blob = (await tcCall(c(), 'Encrypt', { KeyId, Plaintext: b64('payload'), EncryptionContext: '{"tenant":"a"}' }))
      .CiphertextBlob as string;
    for (const ctx of ['{"tenant":"b"}', '{"tenant":"a","x":"y"}', undefined]) {
      assert.equal(
        (await tcFail(c(), 'Decrypt', { CiphertextBlob: blob, EncryptionContext: ctx })).code,
        'FailedOperation.DecryptError',
        String(ctx),
      );
    }
    assert.equal(
      (await tcFail(c(RB), 'Decrypt', { CiphertextBlob: blob, EncryptionContext: '{"tenant":"a"}' })).code,
      'FailedOperation.DecryptError',
      'cross-region',
    );
    assert.equal(
      (await tcFail(c(RA, 1), 'Decrypt', { CiphertextBlob: blob, EncryptionContext: '{"tenant":"a"}' })).code,
      'FailedOperation.DecryptError',
      'cross-account',
    );
    const raw = Buffer.from(blob, 'base64');
    assert.equal(
      (await tcFail(c(), 'Decrypt', { CiphertextBlob: flipByte(raw, -3).toString('base64'), EncryptionContext: '{"tenant":"a"}' })).code,
      'FailedOperation.DecryptError',
      'changed ciphertext byte',
    );
    assert.equal(
      (await tcFail(c(), 'Decrypt', { CiphertextBlob: b64('garbage that is no blob at all') })).code,
      'InvalidParameterValue.InvalidCiphertext',
    );
    assert.equal((await tcFail(c(), 'Decrypt', { CiphertextBlob: '%%%' })).code, 'InvalidParameterValue.InvalidCiphertext');
  });

  it('accounts are separate: the second account cannot see or use the first account’s keys', async () => {
    const { KeyId } = await newKey();
    const second = c(RA, 1);
    assert.equal((await tcFail(second, 'DescribeKey', { KeyId })).code, 'ResourceUnavailable.CmkNotFound');
    assert.equal((await tcFail(second, 'Encrypt', { KeyId, Plaintext: b64('x') })).code, 'ResourceUnavailable.CmkNotFound');
    const list = await tcCall(second, 'ListKeys', { Limit: 200 });
    assert.ok(!list.Keys.some((x: { KeyId: string }) => x.KeyId === KeyId));
  });

  it('authentication: unknown SecretId, wrong SecretKey, expired timestamp, STS token', async () => {
    const a = em.accounts[0].tencent;
    assert.equal(
      (await tcFail(tencentClient(em.url, { secretId: 'AKID' + 'x'.repeat(32), secretKey: a.secretKey }, RA), 'GetRegions')).code,
      'AuthFailure.SecretIdNotFound',
    );
    assert.equal(
      (await tcFail(tencentClient(em.url, { secretId: a.secretId, secretKey: a.secretKey + 'x' }, RA), 'GetRegions')).code,
      'AuthFailure.SignatureFailure',
    );
    // A server clock 6 minutes ahead makes every SDK timestamp too old.
    const skewed = await startEmulator({ now: () => Date.now() + 6 * 60_000 });
    try {
      assert.equal(
        (await tcFail(tencentClient(skewed.url, skewed.accounts[0].tencent, RA), 'GetRegions')).code,
        'AuthFailure.SignatureExpire',
      );
    } finally {
      await skewed.stop();
    }
    const sts = em.accounts.find((x) => x.name === 'sts')!.tencent;
    assert.ok(sts.token);
    assert.ok((await tcCall(tencentClient(em.url, sts, RA), 'ListKeys')).TotalCount >= 0, 'STS credentials with their token');
    assert.equal(
      (await tcFail(tencentClient(em.url, { secretId: sts.secretId, secretKey: sts.secretKey }, RA), 'ListKeys')).code,
      'AuthFailure.TokenFailure',
    );
    assert.equal(
      (await tcFail(tencentClient(em.url, { ...sts, token: sts.token + 'x' }, RA), 'ListKeys')).code,
      'AuthFailure.TokenFailure',
    );
    assert.equal((await tcFail(tencentClient(em.url, { ...a, token: 'tok' }, RA), 'ListKeys')).code, 'AuthFailure.TokenFailure');
  });

  it('one changed byte in what the SDK sent (body, a signed header, the timestamp, the signature) → AuthFailure', async () => {
    const k = tencentClient(proxy.url, em.accounts[0].tencent, RA);
    const { KeyId } = await newKey();
    proxy.mutate = undefined;
    await tcCall(k, 'Encrypt', { KeyId, Plaintext: b64('abc') });
    assert.ok(proxy.last, 'the proxy saw the request');
    const cases: Array<[string, (r: NonNullable<TamperProxy['last']>) => void, string]> = [
      ['body byte', (r) => (r.body = flipByte(r.body, 10)), 'AuthFailure.SignatureFailure'],
      [
        'content-type (signed)',
        (r) => (r.headers['content-type'] = r.headers['content-type'].replace('json', 'jsoN').replace('application', 'applicatiom')),
        'AuthFailure.SignatureFailure',
      ],
      ['host (signed)', (r) => (r.headers.host = r.headers.host.replace('127.0.0.1', '127.0.0.2')), 'AuthFailure.SignatureFailure'],
      [
        'timestamp +1 s',
        (r) => (r.headers['x-tc-timestamp'] = String(Number(r.headers['x-tc-timestamp']) + 1)),
        'AuthFailure.SignatureFailure',
      ],
      [
        'timestamp 10 min back',
        (r) => (r.headers['x-tc-timestamp'] = String(Number(r.headers['x-tc-timestamp']) - 600)),
        'AuthFailure.SignatureExpire',
      ],
      [
        'signature byte',
        (r) =>
          (r.headers.authorization = r.headers.authorization.replace(
            /Signature=(.)/,
            (_m, ch: string) => `Signature=${ch === 'a' ? 'b' : 'a'}`,
          )),
        'AuthFailure.SignatureFailure',
      ],
      [
        'credential scope service',
        (r) => (r.headers.authorization = r.headers.authorization.replace('/127/', '/kms/')),
        'AuthFailure.SignatureFailure',
      ],
      [
        'SecretId',
        (r) => (r.headers.authorization = r.headers.authorization.replace('Credential=AKID', 'Credential=AKIE')),
        'AuthFailure.SecretIdNotFound',
      ],
      ['no Authorization', (r) => delete (r.headers as Record<string, string>).authorization, 'AuthFailure.InvalidAuthorization'],
    ];
    for (const [label, change, code] of cases) {
      proxy.mutate = (r) => {
        change(r);
        return r;
      };
      try {
        const f = await tcFail(k, 'Encrypt', { KeyId, Plaintext: b64('abc') });
        assert.equal(f.code, code, label);
      } finally {
        proxy.mutate = undefined;
      }
    }
    // The untouched request still goes through the same proxy.
    assert.ok((await tcCall(k, 'Encrypt', { KeyId, Plaintext: b64('abc') })).CiphertextBlob);
  });

  it('protocol errors: unknown action, wrong version, unknown or missing region', async () => {
    assert.equal((await tcFail(c(), 'FrobnicateKey', {})).code, 'InvalidAction');
    const wrongVersion = tencentClient(em.url, em.accounts[0].tencent, RA);
    wrongVersion.apiVersion = '2017-03-12';
    assert.equal((await tcFail(wrongVersion, 'ListKeys')).code, 'NoSuchVersion');
    assert.equal((await tcFail(c('mars-north-1'), 'ListKeys')).code, 'UnsupportedRegion');
    assert.equal((await tcFail(tencentClient(em.url, em.accounts[0].tencent, undefined), 'ListKeys')).code, 'MissingParameter');
  });

  it('fault injection: throttle, server error, 503, dropped connection, latency; counted per action', async () => {
    const k = c();
    const { KeyId } = await newKey();
    em.resetCounters();
    em.setFaults({
      Encrypt: { throttle: { count: 1 }, error: { count: 1 } },
      'tencent:ListKeys': { unavailable: { count: 1 } },
      'alibaba:*': { drop: { count: 5 } },
    });
    const codes = [
      (await tcFail(k, 'Encrypt', { KeyId, Plaintext: b64('x') })).code,
      (await tcFail(k, 'Encrypt', { KeyId, Plaintext: b64('x') })).code,
    ].sort();
    assert.deepEqual(codes, ['InternalError', 'RequestLimitExceeded']);
    assert.ok((await tcCall(k, 'Encrypt', { KeyId, Plaintext: b64('x') })).CiphertextBlob, 'counts are used up');
    assert.equal((await tcFail(k, 'ListKeys')).httpCode, 503);
    assert.ok((await tcCall(k, 'ListKeys')).Keys, 'alibaba:* rules do not touch Tencent');
    em.setFaults({ DescribeKey: { drop: { count: 1 } } });
    const dropped = await tcFail(k, 'DescribeKey', { KeyId });
    assert.match(dropped.message, /socket hang up|ECONNRESET|other side closed|terminated/i);
    em.setFaults({ '*': { latencyMs: 300 } });
    const t0 = Date.now();
    await tcCall(k, 'GetRegions');
    assert.ok(Date.now() - t0 >= 290, `latency ${Date.now() - t0} ms`);
    em.setFaults({});
    const counters = em.counters();
    assert.equal(counters['tencent:Encrypt'], 3);
    assert.equal(counters['tencent:ListKeys'], 2);
    assert.equal(counters['tencent:DescribeKey'], 1);
    assert.equal(counters['tencent:GetRegions'], 1);
    assert.equal(counters.total, 7);
  });
});
