// The emulator's Alibaba Cloud KMS front end, driven by the OFFICIAL @alicloud/openapi-client,
// once with its default V3 signature (ACS3-HMAC-SHA256) and once with signatureAlgorithm 'v2'
// (HMAC-SHA1), over real HTTP on 127.0.0.1. Tampered requests go through a proxy that changes
// one byte of what the SDK sent; replayed requests test nonce reuse.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startEmulator, type RunningEmulator } from '../../src/emulator';
import { ALIBABA_ACTIONS } from '../../src/emulator/alibaba';
import { aliCall, aliFail, alibabaClient, flipByte, startTamperProxy, type CapturedRequest, type TamperProxy } from './helpers/sdk-clients';

const RA = 'cn-hangzhou';
const RB = 'cn-shanghai';
const uniq = () => randomBytes(4).toString('hex');

for (const v2 of [false, true]) {
  const sig = v2 ? 'V2 HMAC-SHA1' : 'V3 ACS3-HMAC-SHA256';
  describe(`emulator: Alibaba Cloud KMS through the official SDK (${sig})`, () => {
    let em: RunningEmulator;
    let proxy: TamperProxy;
    const c = (account = 0, url?: string) => alibabaClient(url ?? em.url, em.accounts[account].alibaba, { v2 });
    const call = (action: string, q: Record<string, string | number | undefined> = {}, region = RA, account = 0) =>
      aliCall(c(account), action, q, region);
    const fail = (action: string, q: Record<string, string | number | undefined> = {}, region = RA, account = 0) =>
      aliFail(c(account), action, q, region);
    const newKey = async (region = RA, account = 0, q: Record<string, string> = {}): Promise<string> =>
      (await call('CreateKey', q, region, account)).KeyMetadata.KeyId;

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
      const regions = (await call('DescribeRegions')).Regions.Region.map((r: { RegionId: string }) => r.RegionId);
      for (const r of ['cn-hangzhou', 'cn-shanghai', 'cn-beijing', 'cn-shenzhen', 'ap-southeast-1']) assert.ok(regions.includes(r), r);

      const created = (
        await call('CreateKey', {
          Description: "first *!'()~ 中文",
          KeySpec: 'Aliyun_AES_256',
          KeyUsage: 'ENCRYPT/DECRYPT',
          ProtectionLevel: 'SOFTWARE',
        })
      ).KeyMetadata;
      const id = created.KeyId as string;
      assert.equal(created.KeyState, 'Enabled');
      assert.equal(created.Description, "first *!'()~ 中文", 'characters Node querystring leaves unescaped survive (trap 4)');
      assert.equal(created.Arn, `acs:kms:${RA}:${em.accounts[0].aliUid}:key/${id}`);
      assert.match(created.CreationDate, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);

      const alias = `alias/app-${uniq()}`;
      await call('CreateAlias', { AliasName: alias, KeyId: id });
      assert.equal((await call('DescribeKey', { KeyId: alias })).KeyMetadata.KeyId, id, 'DescribeKey by alias');
      assert.equal((await call('DescribeKey', { KeyId: created.Arn })).KeyMetadata.KeyId, id, 'DescribeKey by ARN');
      const other = await newKey();
      await call('UpdateAlias', { AliasName: alias, KeyId: other });
      assert.equal((await call('DescribeKey', { KeyId: alias })).KeyMetadata.KeyId, other, 'UpdateAlias moves the alias');
      const byKey = await call('ListAliasesByKeyId', { KeyId: other });
      assert.deepEqual(
        byKey.Aliases.Alias.map((a: { AliasName: string }) => a.AliasName),
        [alias],
      );
      assert.equal(byKey.Aliases.Alias[0].AliasArn, `acs:kms:${RA}:${em.accounts[0].aliUid}:${alias}`);
      const all = await call('ListAliases', { PageSize: 100 });
      assert.ok(all.Aliases.Alias.some((a: { AliasName: string; KeyId: string }) => a.AliasName === alias && a.KeyId === other));
      await call('DeleteAlias', { AliasName: alias });
      assert.equal((await fail('DescribeKey', { KeyId: alias })).code, 'Forbidden.AliasNotFound');

      const keys = await call('ListKeys', { PageSize: 100 });
      assert.ok(keys.Keys.Key.some((k: { KeyId: string; KeyArn: string }) => k.KeyId === id && k.KeyArn === created.Arn));
      assert.equal(keys.PageNumber, 1);
      assert.equal(keys.PageSize, 100);

      // Encrypt's Plaintext is opaque: returned byte-identical, whatever it is.
      for (const pt of ['aGVsbG8=', 'plain text, not base64 + / = & ? 中文 *!()', 'x']) {
        const enc = await call('Encrypt', { KeyId: id, Plaintext: pt, EncryptionContext: '{"b":"2","a":"1"}' });
        assert.equal(enc.KeyId, id);
        assert.ok(enc.KeyVersionId);
        const dec = await call('Decrypt', { CiphertextBlob: enc.CiphertextBlob, EncryptionContext: '{"a":"1","b":"2"}' });
        assert.equal(dec.Plaintext, pt);
        assert.equal(dec.KeyId, id);
      }
      const gdk = await call('GenerateDataKey', { KeyId: id });
      assert.equal(Buffer.from(gdk.Plaintext, 'base64').length, 32, 'default AES_256');
      assert.equal((await call('Decrypt', { CiphertextBlob: gdk.CiphertextBlob })).Plaintext, gdk.Plaintext);
      assert.equal(Buffer.from((await call('GenerateDataKey', { KeyId: id, KeySpec: 'AES_128' })).Plaintext, 'base64').length, 16);
      assert.equal(Buffer.from((await call('GenerateDataKey', { KeyId: id, NumberOfBytes: 1024 })).Plaintext, 'base64').length, 1024);
      const wp = await call('GenerateDataKeyWithoutPlaintext', { KeyId: id, EncryptionContext: '{"k":"v"}' });
      assert.equal(wp.Plaintext, undefined);
      assert.equal(
        Buffer.from((await call('Decrypt', { CiphertextBlob: wp.CiphertextBlob, EncryptionContext: '{"k":"v"}' })).Plaintext, 'base64')
          .length,
        32,
      );

      await call('UpdateKeyDescription', { KeyId: id, Description: 'second' });
      assert.equal((await call('DescribeKey', { KeyId: id })).KeyMetadata.Description, 'second');
      await call('DisableKey', { KeyId: id });
      assert.equal((await call('DescribeKey', { KeyId: id })).KeyMetadata.KeyState, 'Disabled');
      await call('EnableKey', { KeyId: id });
      await call('ScheduleKeyDeletion', { KeyId: id, PendingWindowInDays: 7 });
      const pd = (await call('DescribeKey', { KeyId: id })).KeyMetadata;
      assert.equal(pd.KeyState, 'PendingDeletion');
      assert.ok(Math.abs(Date.parse(pd.DeleteDate) - (Date.now() + 7 * 86_400_000)) < 600_000, pd.DeleteDate);
      await call('CancelKeyDeletion', { KeyId: id });
      const back = (await call('DescribeKey', { KeyId: id })).KeyMetadata;
      assert.equal(back.KeyState, 'Enabled', 'Alibaba: a cancelled deletion returns the key to Enabled');
      assert.equal(back.DeleteDate, '');

      const counted = Object.keys(em.counters())
        .filter((x) => x.startsWith('alibaba:'))
        .map((x) => x.slice(8));
      assert.deepEqual(new Set(counted), new Set(ALIBABA_ACTIONS), 'every emulator action was called through the SDK');
    });

    it('parameters may travel in a form body as well as the query', async () => {
      const id = await newKey();
      const enc = await aliCall(c(), 'Encrypt', { KeyId: id, Plaintext: 'in the body' }, RA, true);
      assert.equal((await aliCall(c(), 'Decrypt', { CiphertextBlob: enc.CiphertextBlob }, RA, true)).Plaintext, 'in the body');
    });

    it('key state rules answer with Alibaba codes and HTTP 409', async () => {
      const id = await newKey();
      const blob = (await call('Encrypt', { KeyId: id, Plaintext: 'x' })).CiphertextBlob;
      let f = await fail('CancelKeyDeletion', { KeyId: id });
      assert.deepEqual([f.code, f.statusCode], ['Rejected.StateModifiedFailed', 409]);
      await call('DisableKey', { KeyId: id });
      for (const [action, q] of [
        ['Encrypt', { KeyId: id, Plaintext: 'x' }],
        ['GenerateDataKey', { KeyId: id }],
        ['Decrypt', { CiphertextBlob: blob }],
      ] as const) {
        f = await fail(action, q);
        assert.deepEqual([f.code, f.statusCode], ['Rejected.Disabled', 409], action);
      }
      for (const days of [6, 367]) {
        f = await fail('ScheduleKeyDeletion', { KeyId: id, PendingWindowInDays: days });
        assert.deepEqual([f.code, f.statusCode], ['InvalidParameter', 400], `window ${days}`);
      }
      await call('ScheduleKeyDeletion', { KeyId: id, PendingWindowInDays: 366 });
      f = await fail('Encrypt', { KeyId: id, Plaintext: 'x' });
      assert.deepEqual([f.code, f.statusCode], ['Rejected.PendingDeletion', 409]);
      for (const action of ['EnableKey', 'DisableKey']) {
        f = await fail(action, { KeyId: id });
        assert.deepEqual([f.code, f.statusCode], ['Rejected.StateModifiedFailed', 409], action);
      }
      const ext = await newKey(RA, 0, { Origin: 'EXTERNAL' });
      assert.equal((await call('DescribeKey', { KeyId: ext })).KeyMetadata.KeyState, 'PendingImport');
      f = await fail('GenerateDataKey', { KeyId: ext });
      assert.deepEqual([f.code, f.statusCode], ['Rejected.PendingImport', 409]);
      const enabled = await newKey();
      await call('ScheduleKeyDeletion', { KeyId: enabled, PendingWindowInDays: 7 });
      assert.equal(
        (await call('DescribeKey', { KeyId: enabled })).KeyMetadata.KeyState,
        'PendingDeletion',
        'Alibaba schedules the deletion of an enabled key',
      );
    });

    it('the seeded keys are there in two regions with their states', async () => {
      for (const region of [RA, RB]) {
        const states: Record<string, string> = {};
        for (const name of ['seed-enabled', 'seed-disabled', 'seed-pending-deletion'])
          states[name] = (await call('DescribeKey', { KeyId: `alias/${name}` }, region)).KeyMetadata.KeyState;
        assert.deepEqual(states, { 'seed-enabled': 'Enabled', 'seed-disabled': 'Disabled', 'seed-pending-deletion': 'PendingDeletion' });
        const disabled = await call('ListKeys', { PageSize: 100, Filters: '[{"Key":"KeyState","Values":["Disabled"]}]' }, region);
        assert.equal(disabled.TotalCount, 1);
      }
    });

    it('aliases: format, alias/acs reserved, unique per region', async () => {
      const id = await newKey();
      for (const bad of ['noprefix', 'alias/', 'alias/acs/x', 'alias/has space', `alias/${'x'.repeat(256)}`]) {
        const f = await fail('CreateAlias', { AliasName: bad, KeyId: id });
        assert.deepEqual([f.code, f.statusCode], ['InvalidParameter', 400], bad);
      }
      const a = `alias/dup-${uniq()}`;
      await call('CreateAlias', { AliasName: a, KeyId: id });
      const f = await fail('CreateAlias', { AliasName: a, KeyId: await newKey() });
      assert.deepEqual([f.code, f.statusCode], ['AliasAlreadyExists', 400]);
      await call('CreateAlias', { AliasName: a, KeyId: await newKey(RB) }, RB);
      assert.deepEqual([(await fail('UpdateAlias', { AliasName: `alias/none-${uniq()}`, KeyId: id })).code], ['Forbidden.AliasNotFound']);
    });

    it('aliases: a key carries several; CreateAlias adds one, DeleteAlias removes only the one named', async () => {
      const id = await newKey();
      const [a, b] = [`alias/one-${uniq()}`, `alias/two-${uniq()}`];
      await call('CreateAlias', { AliasName: a, KeyId: id });
      await call('CreateAlias', { AliasName: b, KeyId: id });
      const names = async () =>
        (await call('ListAliasesByKeyId', { KeyId: id })).Aliases.Alias.map((x: { AliasName: string }) => x.AliasName).sort();
      assert.deepEqual(await names(), [a, b].sort(), 'the second alias does not replace the first');
      for (const x of [a, b]) assert.equal((await call('DescribeKey', { KeyId: x })).KeyMetadata.KeyId, id, x);
      await call('DeleteAlias', { AliasName: a });
      assert.deepEqual(await names(), [b]);
    });

    it('paging: PageNumber/PageSize exactly, PageSize at most 100', async () => {
      const region = 'cn-beijing';
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push(await newKey(region));
      const seen: string[] = [];
      for (let page = 1; page <= 3; page++) {
        const p = await call('ListKeys', { PageNumber: page, PageSize: 2 }, region);
        assert.equal(p.TotalCount, 5);
        assert.equal(p.PageNumber, page);
        seen.push(...p.Keys.Key.map((k: { KeyId: string }) => k.KeyId));
      }
      assert.deepEqual(seen, ids);
      assert.equal((await call('ListKeys', { PageNumber: 4, PageSize: 2 }, region)).Keys.Key.length, 0);
      assert.equal((await call('ListKeys', { PageSize: 100 }, region)).Keys.Key.length, 5);
      for (const q of [{ PageSize: 101 }, { PageSize: 0 }, { PageNumber: 0 }, { PageSize: 'ten' }]) {
        const f = await fail('ListKeys', q, region);
        assert.deepEqual([f.code, f.statusCode], ['InvalidParameter', 400], JSON.stringify(q));
      }
      assert.equal((await fail('ListAliases', { PageSize: 101 }, region)).code, 'InvalidParameter');
    });

    it('size limits and parameter checks: Encrypt takes 6 KB, NumberOfBytes 1–1024', async () => {
      const id = await newKey();
      assert.ok((await call('Encrypt', { KeyId: id, Plaintext: 'a'.repeat(6144) })).CiphertextBlob);
      let f = await fail('Encrypt', { KeyId: id, Plaintext: 'a'.repeat(6145) });
      assert.deepEqual([f.code, f.statusCode], ['InvalidParameter', 400]);
      f = await fail('Encrypt', { KeyId: id });
      assert.deepEqual([f.code, f.statusCode], ['MissingParameter', 400]);
      f = await fail('Encrypt', { KeyId: id, Plaintext: 'x', EncryptionContext: '{"a":1}' });
      assert.deepEqual([f.code, f.statusCode], ['InvalidParameter', 400]);
      for (const n of [0, 1025]) assert.equal((await fail('GenerateDataKey', { KeyId: id, NumberOfBytes: n })).code, 'InvalidParameter');
      f = await fail('DescribeKey', { KeyId: '00000000-0000-4000-8000-000000000000' });
      assert.deepEqual([f.code, f.statusCode], ['Forbidden.KeyNotFound', 404]);
      f = await fail('CreateKey', { KeySpec: 'RSA_2048' });
      assert.equal(f.code, 'InvalidParameter');
    });

    it('ciphertexts: wrong context, another region, another account or a changed byte do not decrypt', async () => {
      const id = await newKey();
      const blob = (await call('Encrypt', { KeyId: id, Plaintext: 'payload', EncryptionContext: '{"tenant":"a"}' }))
        .CiphertextBlob as string;
      for (const ctx of ['{"tenant":"b"}', '{"tenant":"a","x":"y"}', undefined]) {
        const f = await fail('Decrypt', { CiphertextBlob: blob, EncryptionContext: ctx });
        assert.deepEqual([f.code, f.statusCode], ['InvalidCiphertext', 400], String(ctx));
      }
      assert.equal(
        (await fail('Decrypt', { CiphertextBlob: blob, EncryptionContext: '{"tenant":"a"}' }, RB)).code,
        'InvalidCiphertext',
        'cross-region',
      );
      assert.equal(
        (await fail('Decrypt', { CiphertextBlob: blob, EncryptionContext: '{"tenant":"a"}' }, RA, 1)).code,
        'InvalidCiphertext',
        'cross-account',
      );
      const changed = flipByte(Buffer.from(blob, 'base64'), -2).toString('base64');
      assert.equal(
        (await fail('Decrypt', { CiphertextBlob: changed, EncryptionContext: '{"tenant":"a"}' })).code,
        'InvalidCiphertext',
        'changed byte',
      );
      assert.equal((await fail('Decrypt', { CiphertextBlob: 'bm90IGEgYmxvYg==' })).code, 'InvalidCiphertext');
    });

    it('accounts are separate: the second account cannot see or use the first account’s keys', async () => {
      const id = await newKey();
      const f = await fail('DescribeKey', { KeyId: id }, RA, 1);
      assert.deepEqual([f.code, f.statusCode], ['Forbidden.KeyNotFound', 404]);
      assert.equal((await fail('Encrypt', { KeyId: id, Plaintext: 'x' }, RA, 1)).code, 'Forbidden.KeyNotFound');
      assert.ok(!(await call('ListKeys', { PageSize: 100 }, RA, 1)).Keys.Key.some((k: { KeyId: string }) => k.KeyId === id));
    });

    it('regions: RegionId parameter, default cn-hangzhou, unknown region refused', async () => {
      const id = await newKey('ap-southeast-1');
      assert.equal((await call('DescribeKey', { KeyId: id }, 'ap-southeast-1')).KeyMetadata.Arn.split(':')[2], 'ap-southeast-1');
      assert.equal((await fail('DescribeKey', { KeyId: id }, RA)).code, 'Forbidden.KeyNotFound', 'keys live in one region');
      const noRegion = await aliCall(c(), 'CreateKey', {});
      assert.equal(noRegion.KeyMetadata.Arn.split(':')[2], 'cn-hangzhou', 'no RegionId → cn-hangzhou');
      const f = await fail('ListKeys', {}, 'mars-north-1');
      assert.deepEqual([f.code, f.statusCode], ['InvalidRegionId', 400]);
    });

    if (v2) {
      // V2 does not sign the Host header, so the proxy can present the cloud's regional host name.
      it('regions: without RegionId, a kms.<region>.aliyuncs.com Host header picks the region', async () => {
        const viaProxy = alibabaClient(proxy.url, em.accounts[0].alibaba, { v2 });
        proxy.mutate = (r) => ({ ...r, headers: { ...r.headers, host: 'kms.cn-shenzhen.aliyuncs.com' } });
        try {
          const made = (await aliCall(viaProxy, 'CreateKey', {})).KeyMetadata;
          assert.equal(made.Arn.split(':')[2], 'cn-shenzhen');
          assert.equal((await call('DescribeKey', { KeyId: made.KeyId }, 'cn-shenzhen')).KeyMetadata.KeyId, made.KeyId);
        } finally {
          proxy.mutate = undefined;
        }
      });
    }

    it('authentication: unknown AccessKey ID, wrong secret, expired timestamp, STS token', async () => {
      const a = em.accounts[0].alibaba;
      let f = await aliFail(
        alibabaClient(em.url, { accessKeyId: 'LTAI' + 'x'.repeat(20), accessKeySecret: a.accessKeySecret }, { v2 }),
        'DescribeRegions',
      );
      assert.deepEqual([f.code, f.statusCode], ['InvalidAccessKeyId.NotFound', 404]);
      f = await aliFail(
        alibabaClient(em.url, { accessKeyId: a.accessKeyId, accessKeySecret: a.accessKeySecret + 'x' }, { v2 }),
        'DescribeRegions',
      );
      assert.deepEqual([f.code, f.statusCode], ['SignatureDoesNotMatch', 400]);
      const skewed = await startEmulator({ now: () => Date.now() + 16 * 60_000 });
      try {
        f = await aliFail(alibabaClient(skewed.url, skewed.accounts[0].alibaba, { v2 }), 'DescribeRegions');
        assert.deepEqual([f.code, f.statusCode], ['InvalidTimeStamp.Expired', 400]);
      } finally {
        await skewed.stop();
      }
      const sts = em.accounts.find((x) => x.name === 'sts')!.alibaba;
      assert.ok(sts.securityToken);
      assert.ok((await aliCall(alibabaClient(em.url, sts, { v2 }), 'ListKeys')).TotalCount >= 0, 'STS credentials with their token');
      for (const cred of [
        { accessKeyId: sts.accessKeyId, accessKeySecret: sts.accessKeySecret },
        { ...sts, securityToken: sts.securityToken + 'x' },
        { ...a, securityToken: 'tok' },
      ]) {
        f = await aliFail(alibabaClient(em.url, cred, { v2 }), 'ListKeys');
        assert.deepEqual([f.code, f.statusCode], ['InvalidSecurityToken.MismatchWithAccessKey', 400]);
      }
    });

    it('one changed byte in what the SDK sent → SignatureDoesNotMatch; an exact replay → SignatureNonceUsed', async () => {
      const k = alibabaClient(proxy.url, em.accounts[0].alibaba, { v2 });
      const id = await newKey();
      const replace = (s: string, from: string | RegExp, to: string) => {
        const out = s.replace(from, to);
        assert.notEqual(out, s, `pattern ${String(from)} found`);
        return out;
      };
      const changes: Array<[string, boolean, (r: CapturedRequest) => void]> = [
        ['a query byte', false, (r) => (r.url = replace(r.url, 'Plaintext=abc', 'Plaintext=abd'))],
        ['a body byte', true, (r) => (r.body = Buffer.from(replace(r.body.toString(), 'Plaintext=abc', 'Plaintext=abd')))],
        ['RegionId', false, (r) => (r.url = replace(r.url, 'RegionId=cn-hangzhou', 'RegionId=cn-shanghai'))],
        [
          'the signature',
          false,
          (r) =>
            v2
              ? (r.url = replace(r.url, /Signature=(.)/, 'Signature=%2B'))
              : (r.headers.authorization = replace(
                  r.headers.authorization,
                  /Signature=(.)/,
                  r.headers.authorization.match(/Signature=(.)/)![1] === 'a' ? 'Signature=b' : 'Signature=a',
                )),
        ],
      ];
      if (v2) {
        changes.push([
          'the timestamp (+1 s)',
          false,
          (r) =>
            (r.url = r.url.replace(
              /Timestamp=([^&]*)/,
              (_m, ts: string) =>
                `Timestamp=${encodeURIComponent(new Date(Date.parse(decodeURIComponent(ts)) + 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'))}`,
            )),
        ]);
      } else {
        changes.push([
          'x-acs-date (+1 s)',
          false,
          (r) => (r.headers['x-acs-date'] = new Date(Date.parse(r.headers['x-acs-date']) + 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')),
        ]);
        changes.push(['host (signed in V3, with its port)', false, (r) => (r.headers.host = replace(r.headers.host, /:\d+$/, ':1'))]);
        changes.push(['x-acs-action (signed)', false, (r) => (r.headers['x-acs-action'] = 'Decrypt')]);
        changes.push([
          'x-acs-content-sha256',
          true,
          (r) =>
            (r.headers['x-acs-content-sha256'] = replace(
              r.headers['x-acs-content-sha256'],
              /^./,
              r.headers['x-acs-content-sha256'][0] === 'a' ? 'b' : 'a',
            )),
        ]);
      }
      for (const [label, inBody, change] of changes) {
        proxy.mutate = (r) => {
          change(r);
          return r;
        };
        try {
          const f = await aliFail(k, 'Encrypt', { KeyId: id, Plaintext: 'abc' }, RA, inBody);
          assert.deepEqual([f.code, f.statusCode], ['SignatureDoesNotMatch', 400], label);
        } finally {
          proxy.mutate = undefined;
        }
      }
      // Flip one raw byte of the form body (not a parameter rewrite).
      proxy.mutate = (r) => ({ ...r, body: flipByte(r.body, 3) });
      try {
        assert.equal(
          (await aliFail(k, 'Encrypt', { KeyId: id, Plaintext: 'abc' }, RA, true)).code,
          'SignatureDoesNotMatch',
          'raw body byte',
        );
      } finally {
        proxy.mutate = undefined;
      }
      // The unchanged request goes through; sent again byte for byte, its nonce is refused.
      assert.ok((await aliCall(k, 'Encrypt', { KeyId: id, Plaintext: 'abc' }, RA)).CiphertextBlob);
      const replay = await proxy.send(proxy.last!);
      assert.equal(replay.status, 400);
      assert.equal(JSON.parse(replay.body).Code, 'SignatureNonceUsed');
    });

    it('protocol errors: unknown action, wrong version', async () => {
      let f = await fail('FrobnicateKey');
      assert.deepEqual([f.code, f.statusCode], ['InvalidAction.NotFound', 404]);
      const { client } = c();
      const OpenApi = await import('@alicloud/openapi-client');
      const Util = await import('@alicloud/tea-util');
      f = await client
        .callApi(
          new OpenApi.Params({
            action: 'ListKeys',
            version: '2015-01-01',
            protocol: 'HTTP',
            pathname: '/',
            method: 'POST',
            authType: 'AK',
            style: 'RPC',
            reqBodyType: 'formData',
            bodyType: 'json',
          }),
          new OpenApi.OpenApiRequest({ query: {} }),
          new Util.RuntimeOptions({ autoretry: false }),
        )
        .then(
          () => assert.fail('expected InvalidVersion'),
          (e: { code?: string; statusCode?: number; data?: { statusCode?: number } }) => ({
            code: e.code,
            statusCode: e.statusCode ?? e.data?.statusCode,
            message: '',
          }),
        );
      assert.deepEqual([f.code, f.statusCode], ['InvalidVersion', 400]);
    });

    it('fault injection: Throttling 400, InternalFailure 500, ServiceUnavailableTemporary 503, dropped connection; counted', async () => {
      const id = await newKey();
      em.resetCounters();
      em.setFaults({
        'alibaba:Encrypt': { throttle: { count: 1 } },
        Decrypt: { error: { count: 1 } },
        ListKeys: { unavailable: { count: 1 } },
        'tencent:*': { drop: { rate: 1 } },
      });
      let f = await fail('Encrypt', { KeyId: id, Plaintext: 'x' });
      assert.deepEqual([f.code, f.statusCode], ['Throttling', 400]);
      const blob = (await call('Encrypt', { KeyId: id, Plaintext: 'x' })).CiphertextBlob;
      f = await fail('Decrypt', { CiphertextBlob: blob });
      assert.deepEqual([f.code, f.statusCode], ['InternalFailure', 500]);
      f = await fail('ListKeys');
      assert.deepEqual([f.code, f.statusCode], ['ServiceUnavailableTemporary', 503]);
      em.setFaults({ DescribeKey: { drop: { count: 1 } } });
      f = await fail('DescribeKey', { KeyId: id });
      assert.match(f.message, /socket hang up|ECONNRESET|other side closed/i);
      em.setFaults({});
      assert.equal((await call('Decrypt', { CiphertextBlob: blob })).Plaintext, 'x');
      const n = em.counters();
      assert.equal(n['alibaba:Encrypt'], 2);
      assert.equal(n['alibaba:Decrypt'], 2);
      assert.equal(n['alibaba:ListKeys'], 1);
      assert.equal(n['alibaba:DescribeKey'], 1);
    });
  });
}
