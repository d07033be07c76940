// Error mapping and request shapes of the Tencent and Alibaba providers, through the real official
// SDKs against a canned HTTP server on 127.0.0.1 (the emulator is exercised in test/conformance).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KmsEnvelopeError } from '../../src/core/errors';
import { cliStep } from '../../src/cli/hints';
import { TencentKmsProvider, validateTencentAlias, deriveTencentAlias } from '../../src/core/kms/tencent';
import { AlibabaKmsProvider, alibabaKeyParam, normalizeAlibabaAlias } from '../../src/core/kms/alibaba';
import { AwsKmsProvider } from '../../src/core/kms/aws';
import { resolveEndpoint } from '../../src/core/kms/endpoint';
import { canonicalContext } from '../../src/core/kms/wire-values';
import { tencentProvider } from '../../src/core/kms/tencent/descriptor';
import { categorize, CloudCallError } from '../../src/core/kms/cloud-errors';
import type { CloudCredentials } from '../../src/core/credentials/types';

interface Seen {
  headers: http.IncomingHttpHeaders;
  url: string;
  body: string;
}
type Reply = { status: number; body: unknown; headers?: Record<string, string> } | 'hang';

async function cannedServer() {
  const seen: Seen[] = [];
  const queue: Reply[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ headers: req.headers, url: req.url ?? '', body });
      const r = queue.shift() ?? { status: 500, body: { error: 'no canned reply' } };
      if (r === 'hang') return;
      res.writeHead(r.status, { 'content-type': 'application/json', ...(r.headers ?? {}) });
      res.end(JSON.stringify(r.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    queue,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const creds =
  (id = 'AKIDtest0001', secret = 'secret-one'): (() => Promise<CloudCredentials>) =>
  async () => ({ accessKeyId: id, accessKeySecret: secret });
const fastRetry = { baseDelayMs: 1, maxDelayMs: 5, throttleBaseDelayMs: 1, throttleMaxDelayMs: 5 };
const servers: Array<{ close(): Promise<void> }> = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

const tcOk = (r: Record<string, unknown>) => ({ status: 200, body: { Response: { ...r, RequestId: 'req-ok' } } });
const tcErr = (code: string, message = 'm') => ({
  status: 200,
  body: { Response: { Error: { Code: code, Message: message }, RequestId: 'req-tc-1' } },
});
const aliErr = (status: number, code: string, message = 'm') => ({
  status,
  body: { RequestId: 'req-ali-1', HostId: 'h', Code: code, Message: message },
});

test('tencent: request shape — action/region headers, TC3 signature, canonical EncryptionContext, base64 plaintext', async () => {
  const s = await cannedServer();
  servers.push(s);
  const p = new TencentKmsProvider({ profile: 'dev', credentials: creds(), endpoint: s.url, retry: fastRetry });
  s.queue.push(tcOk({ KeyId: '11111111-2222-3333-4444-555555555555', CiphertextBlob: 'CIPHER==' }));
  const out = await p.encryptDataKey('ap-shanghai', '11111111-2222-3333-4444-555555555555', Buffer.alloc(32, 7), { b: '2', a: '1' });
  assert.equal(out.ciphertext.toString('utf8'), 'CIPHER==');
  const r = s.seen[0];
  assert.equal(r.headers['x-tc-action'], 'Encrypt');
  assert.equal(r.headers['x-tc-region'], 'ap-shanghai');
  assert.equal(r.headers['x-tc-version'], '2019-01-18');
  assert.match(
    String(r.headers.authorization),
    /^TC3-HMAC-SHA256 Credential=AKIDtest0001\/\d{4}-\d\d-\d\d\/127\/tc3_request, SignedHeaders=content-type;host/,
  );
  const body = JSON.parse(r.body);
  assert.equal(body.EncryptionContext, '{"a":"1","b":"2"}');
  assert.equal(body.Plaintext, Buffer.alloc(32, 7).toString('base64'));
  p.dispose();
});

test('tencent: credentials are fetched per request (rotation applies)', async () => {
  const s = await cannedServer();
  servers.push(s);
  let n = 0;
  const p = new TencentKmsProvider({
    profile: 'dev',
    credentials: async () => ({ accessKeyId: `AKIDrot${++n}`, accessKeySecret: 'x' }),
    endpoint: s.url,
  });
  s.queue.push(tcOk({ Regions: ['ap-guangzhou'] }), tcOk({ Regions: ['ap-guangzhou'] }));
  await p.listRegions();
  await p.listRegions();
  assert.match(String(s.seen[0].headers.authorization), /Credential=AKIDrot1\//);
  assert.match(String(s.seen[1].headers.authorization), /Credential=AKIDrot2\//);
  p.dispose();
});

test('tencent: disabled key → provider error with code, request id and the enable command', async () => {
  const s = await cannedServer();
  servers.push(s);
  const p = new TencentKmsProvider({ profile: 'dev', credentials: creds(), endpoint: s.url, retry: fastRetry });
  s.queue.push(tcErr('ResourceUnavailable.CmkDisabled', 'cmk is disabled'));
  const err = await p.generateDataKey('ap-guangzhou', '11111111-2222-3333-4444-555555555555', {}).catch((e) => e);
  assert.ok(err instanceof KmsEnvelopeError);
  assert.equal(err.kind, 'provider');
  assert.equal(err.details.providerCode, 'ResourceUnavailable.CmkDisabled');
  assert.equal(err.details.requestId, 'req-tc-1');
  assert.equal(err.details.region, 'ap-guangzhou');
  assert.equal(err.details.profile, 'dev');
  assert.equal(err.details.retryable, false);
  assert.match(
    err.hintIn(cliStep) ?? '',
    /^Enable it: `kms-envelope keys enable --provider tencent --region ap-guangzhou --key 11111111-2222-3333-4444-555555555555 --profile dev`/,
  );
  assert.equal(s.seen.length, 1, 'not retried');
  p.dispose();
});

test('tencent: signature errors → credentials kind naming the profile; SignatureExpire names the clock', async () => {
  const s = await cannedServer();
  servers.push(s);
  const p = new TencentKmsProvider({ profile: 'work', credentials: creds(), endpoint: s.url, retry: fastRetry });
  s.queue.push(tcErr('AuthFailure.SignatureFailure'), tcErr('AuthFailure.SignatureExpire'), tcErr('AuthFailure.SecretIdNotFound'));
  const e1 = await p.listRegions().catch((e) => e);
  assert.equal(e1.kind, 'credentials');
  assert.equal(e1.exitCode, 4);
  assert.match(e1.hintIn(cliStep), /profiles test --provider tencent --name work/);
  const e2 = await p.listRegions().catch((e) => e);
  assert.equal(e2.kind, 'credentials');
  assert.match(e2.hint, /clock/);
  const e3 = await p.listRegions().catch((e) => e);
  assert.equal(e3.details.providerCode, 'AuthFailure.SecretIdNotFound');
  p.dispose();
});

test('tencent: throttling and HTTP 5xx are retried and then succeed', async () => {
  const s = await cannedServer();
  servers.push(s);
  const p = new TencentKmsProvider({ profile: 'dev', credentials: creds(), endpoint: s.url, retry: fastRetry });
  s.queue.push(tcErr('RequestLimitExceeded'), { status: 503, body: {} }, tcOk({ Regions: ['ap-beijing', 'ap-guangzhou'] }));
  assert.deepEqual(await p.listRegions(), ['ap-beijing', 'ap-guangzhou']);
  assert.equal(s.seen.length, 3);
  p.dispose();
});

test('throttled seal/unseal calls advise waiting, lower concurrency or a higher quota (not fewer regions); listing advises fewer regions', async () => {
  const s = await cannedServer();
  servers.push(s);
  const p = new TencentKmsProvider({
    profile: 'dev',
    credentials: creds(),
    endpoint: s.url,
    retry: { ...fastRetry, throttleMaxAttempts: 3 },
  });
  const key = '11111111-2222-3333-4444-555555555555';
  for (let i = 0; i < 6; i++) s.queue.push(tcErr('RequestLimitExceeded', 'Your current request times exceeds the frequency limit.'));
  const seal = await p.generateDataKey('ap-guangzhou', key, {}).catch((e) => e);
  assert.equal(s.seen.length, 3, 'throttleMaxAttempts');
  assert.match(
    seal.message,
    /Tencent Cloud KMS throttled GenerateDataKey in region ap-guangzhou \(RequestLimitExceeded.*\) after 3 attempts/,
  );
  assert.match(seal.hint, /request rate in ap-guangzhou is used up \(retried with backoff for [\d.]+ s\)/);
  assert.match(seal.hint, /Wait a minute/);
  assert.match(seal.hint, /fewer seals or unseals at the same time \(lower the job's concurrency\)/);
  assert.match(seal.hint, /ask Tencent Cloud to raise the account's KMS request quota \(QPS\) in ap-guangzhou/);
  assert.doesNotMatch(seal.hint, /regions/);
  const unseal = await p.decryptDataKey('ap-guangzhou', key, Buffer.from('C'), {}).catch((e) => e);
  assert.match(unseal.hint, /fewer seals or unseals/);
  const ali = new AlibabaKmsProvider({
    profile: 'dev',
    credentials: creds(),
    endpoint: s.url,
    retry: { ...fastRetry, throttleMaxAttempts: 1 },
  });
  s.queue.push(aliErr(400, 'Throttling.User', 'Request was denied due to user flow control.'));
  const aliSeal = await ali.encryptDataKey('cn-hangzhou', 'key-abc123', Buffer.alloc(32), {}).catch((e) => e);
  assert.match(aliSeal.hint, /fewer seals or unseals.*ask Alibaba Cloud to raise/);
  s.queue.push(tcErr('RequestLimitExceeded'), tcErr('RequestLimitExceeded'), tcErr('RequestLimitExceeded'));
  const list = await p.listKeys('ap-guangzhou').catch((e) => e);
  assert.match(list.hint, /fewer keys or regions at once/);
  p.dispose();
});

test('tencent: a Retry-After the cloud (or a gateway) sends is honoured; one past the overall timeout ends the retries at once', async () => {
  const s = await cannedServer();
  servers.push(s);
  const p = new TencentKmsProvider({ profile: 'dev', credentials: creds(), endpoint: s.url, retry: fastRetry });
  s.queue.push({ status: 429, body: {}, headers: { 'retry-after': '120' } });
  const t0 = Date.now();
  const err = await p.listRegions().catch((e) => e);
  assert.ok(Date.now() - t0 < 5_000);
  assert.equal(s.seen.length, 1, 'not retried: the wait asked for is past the 30 s budget');
  assert.equal(err.details.status, 429);
  assert.match(err.hint, /Tencent Cloud asked to wait 120 s before the next request/);
  s.queue.push({ status: 503, body: {}, headers: { 'retry-after': '0.3' } }, tcOk({ Regions: ['ap-guangzhou'] }));
  const t1 = Date.now();
  assert.deepEqual(await p.listRegions(), ['ap-guangzhou']);
  assert.ok(Date.now() - t1 >= 290, 'waited the 0.3 s asked for (the backoff alone is under 5 ms)');
  p.dispose();
});

test('aws: a ThrottlingException with Retry-After past the budget is not retried and names the wait; a throttled Encrypt advises on concurrency and quota', async () => {
  const s = await cannedServer();
  servers.push(s);
  const p = new AwsKmsProvider({ profile: 'dev', credentials: creds('AKIAEXAMPLE0001', 'secret'), endpoint: s.url, retry: fastRetry });
  const throttled = (headers?: Record<string, string>) => ({
    status: 400,
    body: { __type: 'ThrottlingException', message: 'Rate exceeded' },
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': 'req-aws-1', ...(headers ?? {}) },
  });
  s.queue.push(throttled({ 'retry-after': '90' }));
  const err = await p.encryptDataKey('us-east-1', '11111111-2222-3333-4444-555555555555', Buffer.alloc(32), {}).catch((e) => e);
  assert.equal(s.seen.length, 1, 'the 90 s asked for is past the budget: no retry');
  assert.equal(err.details.providerCode, 'ThrottlingException');
  assert.match(err.hint, /AWS asked to wait 90 s before the next request/);
  assert.match(err.hint, /fewer seals or unseals at the same time.*ask AWS to raise the account's KMS request quota/);
  p.dispose?.();
});

test('tencent: persistent 5xx gives up after 4 attempts and says so', async () => {
  const s = await cannedServer();
  servers.push(s);
  const p = new TencentKmsProvider({ profile: 'dev', credentials: creds(), endpoint: s.url, retry: fastRetry });
  for (let i = 0; i < 6; i++) s.queue.push({ status: 502, body: {} });
  const err = await p.listRegions().catch((e) => e);
  assert.equal(s.seen.length, 4);
  assert.equal(err.details.status, 502);
  assert.equal(err.details.retryable, true);
  assert.match(err.message, /after 4 attempts/);
  p.dispose();
});

test('tencent: CreateKey is not repeated after a 5xx (it may have created the key)', async () => {
  const s = await cannedServer();
  servers.push(s);
  const p = new TencentKmsProvider({ profile: 'dev', credentials: creds(), endpoint: s.url, retry: fastRetry });
  s.queue.push({ status: 500, body: {} });
  const err = await p.createKey('ap-guangzhou', { alias: 'app-key' }).catch((e) => e);
  assert.equal(s.seen.length, 1);
  assert.match(err.hint, /unknown whether CreateKey took effect/);
  assert.equal(JSON.parse(s.seen[0].body).Alias, 'app-key');
  p.dispose();
});

test('tencent: a hung endpoint times out per attempt, named in the error, bounded in time', async () => {
  const s = await cannedServer();
  servers.push(s);
  const p = new TencentKmsProvider({
    profile: 'dev',
    credentials: creds(),
    endpoint: s.url,
    timeoutMs: 100,
    retry: { ...fastRetry, maxAttempts: 2 },
  });
  s.queue.push('hang', 'hang');
  const t0 = Date.now();
  const err = await p.listRegions().catch((e) => e);
  assert.ok(Date.now() - t0 < 2000);
  assert.equal(s.seen.length, 2);
  assert.match(err.message, new RegExp(`no answer from ${s.url.replace(/\./g, '\\.')} within 100 ms`));
  assert.match(err.hint, /endpoint override/);
  p.dispose();
});

test('tencent: an unknown region maps to a regions hint; alias rules are checked before any call', async () => {
  const s = await cannedServer();
  servers.push(s);
  const p = new TencentKmsProvider({ profile: 'dev', credentials: creds(), endpoint: s.url, retry: fastRetry });
  s.queue.push(tcErr('UnsupportedRegion'));
  const err = await p.listKeys('mars-1').catch((e) => e);
  assert.match(err.message, /does not know region mars-1/);
  assert.match(err.hintIn(cliStep), /kms-envelope keys list --provider tencent/);
  assert.throws(() => validateTencentAlias('kms-reserved'), /not a valid Tencent/);
  assert.throws(() => validateTencentAlias('has space'), /not a valid Tencent/);
  assert.throws(() => validateTencentAlias('x'.repeat(61)), /not a valid Tencent/);
  validateTencentAlias('ok_alias-1');
  assert.match(deriveTencentAlias(new Date('2025-01-02T03:04:05Z')), /^key-20250102-030405-[0-9a-f]{6}$/);
  await assert.rejects(
    p.scheduleDeletion('ap-guangzhou', '11111111-2222-3333-4444-555555555555', 31),
    (e: KmsEnvelopeError) => e.kind === 'usage' && /7 to 30 days/.test(e.message),
  );
  assert.equal(s.seen.length, 1);
  p.dispose();
});

test('tencent: an alias is resolved to its key id through ListKeyDetail (exact match, cached)', async () => {
  const s = await cannedServer();
  servers.push(s);
  const p = new TencentKmsProvider({ profile: 'dev', credentials: creds(), endpoint: s.url, retry: fastRetry });
  const id = 'aaaaaaaa-2222-3333-4444-555555555555';
  s.queue.push(
    tcOk({
      TotalCount: 2,
      KeyMetadatas: [
        { KeyId: 'bbbbbbbb-2222-3333-4444-555555555555', Alias: 'app-old' },
        { KeyId: id, Alias: 'app' },
      ],
    }),
    tcOk({ KeyId: id, Plaintext: Buffer.alloc(32, 1).toString('base64'), CiphertextBlob: 'C1' }),
    tcOk({ KeyId: id, Plaintext: Buffer.alloc(32, 2).toString('base64'), CiphertextBlob: 'C2' }),
  );
  const dk = await p.generateDataKey('ap-guangzhou', 'app', { purpose: 't' });
  assert.equal(dk.keyId, id);
  assert.equal(dk.plaintext.length, 32);
  assert.equal(JSON.parse(s.seen[0].body).SearchKeyAlias, 'app');
  assert.equal(JSON.parse(s.seen[1].body).KeyId, id);
  await p.generateDataKey('ap-guangzhou', 'app', {});
  assert.equal(s.seen.length, 3, 'second use of the alias hits the cache');
  p.dispose();
});

test('tencent: a closed port → network error naming the endpoint, quickly, after retries', async () => {
  const s = await cannedServer();
  await s.close();
  const p = new TencentKmsProvider({ profile: 'dev', credentials: creds(), endpoint: s.url, retry: fastRetry });
  const t0 = Date.now();
  const err = await p.listRegions().catch((e) => e);
  assert.ok(Date.now() - t0 < 3000);
  assert.equal(err.kind, 'provider');
  assert.equal(err.details.providerCode, 'ECONNREFUSED');
  assert.match(err.message, new RegExp(`could not reach ${s.url.replace(/\./g, '\\.')} \\(ECONNREFUSED\\) after 4 attempts`));
  assert.match(
    err.hint,
    /comes from an endpoint override \(an endpoint given with the command, profile dev's endpoint, or KMS_ENVELOPE_ENDPOINT\)/,
  );
  p.dispose();
});

test('alibaba: request shape — V3 signature, x-acs-action, RegionId for a shared endpoint, opaque base64 plaintext', async () => {
  const s = await cannedServer();
  servers.push(s);
  const p = new AlibabaKmsProvider({ profile: 'dev', credentials: creds('LTAItest', 'sec'), endpoint: s.url, retry: fastRetry });
  s.queue.push({ status: 200, body: { RequestId: 'r', KeyId: 'key-abc', CiphertextBlob: 'ALICIPHER', KeyVersionId: 'v' } });
  const out = await p.encryptDataKey('cn-shanghai', 'app', Buffer.alloc(32, 9), { z: '1', a: '2' });
  assert.equal(out.ciphertext.toString(), 'ALICIPHER');
  const r = s.seen[0];
  assert.equal(r.headers['x-acs-action'], 'Encrypt');
  assert.equal(r.headers['x-acs-version'], '2016-01-20');
  assert.match(
    String(r.headers.authorization),
    /^ACS3-HMAC-SHA256 Credential=LTAItest,SignedHeaders=.*x-acs-action.*,Signature=[0-9a-f]{64}$/,
  );
  const q = new URL(r.url, 'http://x').searchParams;
  assert.equal(q.get('KeyId'), 'alias/app', 'a bare name is taken as an alias');
  assert.equal(q.get('RegionId'), 'cn-shanghai');
  assert.equal(q.get('Plaintext'), Buffer.alloc(32, 9).toString('base64'));
  assert.equal(q.get('EncryptionContext'), '{"a":"2","z":"1"}');
});

test('alibaba: credentials are fetched per attempt (rotation applies, also between retries); a client is reused while they stay the same', async () => {
  const s = await cannedServer();
  servers.push(s);
  let current: CloudCredentials = { accessKeyId: 'LTAIfirst', accessKeySecret: 'one' };
  let fetched = 0;
  /** Credentials that fetch number `rotateAt` (and later ones) get. */
  let rotateAt = 0;
  const rotated: CloudCredentials = { accessKeyId: 'STS.third', accessKeySecret: 'three', securityToken: 'token-3' };
  const p = new AlibabaKmsProvider({
    profile: 'dev',
    credentials: async () => {
      fetched++;
      if (fetched === rotateAt) current = rotated;
      return current;
    },
    endpoint: s.url,
    retry: fastRetry,
  });
  const ok = { status: 200, body: { RequestId: 'r', KeyId: 'key-abc', CiphertextBlob: 'C', KeyVersionId: 'v' } };
  const signer = (i: number) => /Credential=([^,]+),/.exec(String(s.seen[i].headers.authorization))?.[1];
  const clients = () => (p as unknown as { clients: Map<string, unknown> }).clients.size;
  s.queue.push(ok, ok, ok);
  await p.encryptDataKey('cn-hangzhou', 'key-abc', Buffer.alloc(32, 1), {});
  await p.encryptDataKey('cn-hangzhou', 'key-abc', Buffer.alloc(32, 1), {});
  assert.equal(clients(), 1, 'the same credentials, region and endpoint: one client');
  await p.encryptDataKey('cn-shanghai', 'key-abc', Buffer.alloc(32, 1), {});
  assert.equal(clients(), 2, 'one per region');
  assert.deepEqual([signer(0), signer(1), signer(2)], ['LTAIfirst', 'LTAIfirst', 'LTAIfirst']);
  // Rotated between requests: the next request signs with the new key.
  current = { accessKeyId: 'LTAIsecond', accessKeySecret: 'two' };
  s.queue.push(ok);
  await p.encryptDataKey('cn-hangzhou', 'key-abc', Buffer.alloc(32, 1), {});
  assert.equal(signer(3), 'LTAIsecond');
  assert.equal(clients(), 2, 'the old client of that region is replaced, not kept beside it');
  // Rotated between two attempts of one request (a refreshed session token): the retry signs with it.
  const before = fetched;
  rotateAt = fetched + 2;
  s.queue.push(aliErr(400, 'Throttling.User'), ok);
  await p.encryptDataKey('cn-hangzhou', 'key-abc', Buffer.alloc(32, 1), {});
  assert.equal(fetched - before, 2, 'credentials fetched for each attempt');
  assert.equal(signer(4), 'LTAIsecond');
  assert.equal(signer(5), 'STS.third');
  assert.equal(s.seen[5].headers['x-acs-security-token'], 'token-3');
  p.dispose();
});

test('alibaba: Rejected.Disabled (409) → provider error with the enable command; PendingDeletion → cancel', async () => {
  const s = await cannedServer();
  servers.push(s);
  const p = new AlibabaKmsProvider({ profile: 'default', credentials: creds(), endpoint: s.url, retry: fastRetry });
  s.queue.push(aliErr(409, 'Rejected.Disabled', 'The key is disabled'), aliErr(409, 'Rejected.PendingDeletion'));
  const e1 = await p.generateDataKey('cn-hangzhou', 'key-abc123', {}).catch((e) => e);
  assert.equal(e1.kind, 'provider');
  assert.equal(e1.details.status, 409);
  assert.equal(e1.details.providerCode, 'Rejected.Disabled');
  assert.equal(e1.details.requestId, 'req-ali-1');
  assert.match(e1.hintIn(cliStep), /^Enable it: `kms-envelope keys enable --provider alibaba --region cn-hangzhou --key key-abc123`/);
  const e2 = await p.decryptDataKey('cn-hangzhou', 'key-abc123', Buffer.from('C'), {}).catch((e) => e);
  assert.match(e2.hintIn(cliStep), /cancel-deletion/);
});

test('alibaba: SignatureDoesNotMatch / InvalidAccessKeyId.NotFound → credentials; InvalidTimeStamp.Expired → clock skew', async () => {
  const s = await cannedServer();
  servers.push(s);
  const p = new AlibabaKmsProvider({ profile: 'ops', credentials: creds(), endpoint: s.url, retry: fastRetry });
  s.queue.push(
    aliErr(400, 'SignatureDoesNotMatch'),
    aliErr(404, 'InvalidAccessKeyId.NotFound'),
    aliErr(400, 'InvalidTimeStamp.Expired'),
    aliErr(400, 'IncompleteSignature'),
  );
  for (const expect of [/profiles test --provider alibaba --name ops/, /profiles test/, /clock/, /profiles test/]) {
    const e = await p.listRegions().catch((x) => x);
    assert.equal(e.kind, 'credentials');
    assert.match(e.hintIn(cliStep), expect);
  }
  assert.equal(s.seen.length, 4, 'none retried');
});

test('alibaba: Throttling and 503 are retried; CreateKey is not repeated after 503', async () => {
  const s = await cannedServer();
  servers.push(s);
  const p = new AlibabaKmsProvider({ profile: 'dev', credentials: creds(), endpoint: s.url, retry: fastRetry });
  s.queue.push(aliErr(400, 'Throttling.User'), aliErr(503, 'ServiceUnavailableTemporary'), {
    status: 200,
    body: { RequestId: 'r', Regions: { Region: [{ RegionId: 'cn-hangzhou' }] } },
  });
  assert.deepEqual(await p.listRegions(), ['cn-hangzhou']);
  assert.equal(s.seen.length, 3);
  s.seen.length = 0;
  s.queue.push(aliErr(503, 'ServiceUnavailableTemporary'));
  const e = await p.createKey('cn-hangzhou', { description: 'd' }).catch((x) => x);
  assert.equal(s.seen.length, 1);
  assert.match(e.hint, /unknown whether CreateKey took effect/);
});

test('alibaba: setAlias updates an existing alias, or creates it when the cloud says it does not exist, then deletes the old ones', async () => {
  const s = await cannedServer();
  servers.push(s);
  const p = new AlibabaKmsProvider({ profile: 'dev', credentials: creds(), endpoint: s.url, retry: fastRetry });
  const ok = { status: 200, body: { RequestId: 'r' } };
  s.queue.push(
    { status: 200, body: { RequestId: 'r', Aliases: { Alias: [{ AliasName: 'alias/old', KeyId: 'key-abc123' }] } } },
    aliErr(404, 'Forbidden.AliasNotFound'),
    ok,
    ok,
  );
  assert.deepEqual(await p.setAlias('cn-hangzhou', 'key-abc123', 'team'), { removed: ['old'] });
  assert.deepEqual(
    s.seen.map((r) => r.headers['x-acs-action']),
    ['ListAliasesByKeyId', 'UpdateAlias', 'CreateAlias', 'DeleteAlias'],
  );
  const param = (i: number) => new URL(s.seen[i].url, 'http://x').searchParams.get('AliasName');
  assert.deepEqual([param(2), param(3)], ['alias/team', 'alias/old']);
});

test('alibaba: a closed port → network error naming the endpoint', async () => {
  const s = await cannedServer();
  await s.close();
  const p = new AlibabaKmsProvider({ profile: 'dev', credentials: creds(), endpoint: s.url, retry: fastRetry });
  const err = await p.describeKey('cn-hangzhou', 'key-abc').catch((e) => e);
  assert.equal(err.details.providerCode, 'ECONNREFUSED');
  assert.match(err.message, /could not reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
});

test('alibaba: cancellation stops waiting although the SDK has no abort support', async () => {
  const s = await cannedServer();
  servers.push(s);
  const p = new AlibabaKmsProvider({ profile: 'dev', credentials: creds(), endpoint: s.url, retry: fastRetry });
  s.queue.push('hang');
  const ctl = new AbortController();
  setTimeout(() => ctl.abort(), 50);
  const t0 = Date.now();
  const err = await p.listRegions({ signal: ctl.signal }).catch((e) => e);
  assert.equal(err.kind, 'cancelled');
  assert.ok(Date.now() - t0 < 1000);
});

test('missing credentials → credentials error before any request', async () => {
  const s = await cannedServer();
  servers.push(s);
  const p = new TencentKmsProvider({
    profile: 'empty',
    credentials: async () => ({ accessKeyId: '', accessKeySecret: '' }),
    endpoint: s.url,
  });
  const e = await p.listRegions().catch((x) => x);
  assert.equal(e.kind, 'credentials');
  assert.match(e.message, /profile empty has no SecretId\/SecretKey/);
  assert.equal(s.seen.length, 0);
  const q = new AlibabaKmsProvider({
    profile: 'sts',
    credentials: async () => ({ accessKeyId: 'a', accessKeySecret: 'b', securityToken: 't', expiration: '2000-01-01T00:00:00Z' }),
    endpoint: s.url,
  });
  const e2 = await q.listRegions().catch((x) => x);
  assert.match(e2.message, /expired at 2000-01-01/);
});

test('helpers: canonical context, endpoints, Alibaba key and alias forms, categories', () => {
  assert.equal(canonicalContext({}), undefined);
  assert.equal(canonicalContext({ b: 'x', a: 'y', ä: 'z' }), '{"a":"y","b":"x","ä":"z"}');
  const e1 = resolveEndpoint(undefined, 'cn-beijing', 'kms.{region}.aliyuncs.com');
  assert.deepEqual([e1.url, e1.overridden, e1.loopback], ['https://kms.cn-beijing.aliyuncs.com', false, false]);
  const e2 = resolveEndpoint('kms-vpc.{region}.aliyuncs.com', 'cn-beijing', 'x');
  assert.equal(e2.url, 'https://kms-vpc.cn-beijing.aliyuncs.com');
  const e3 = resolveEndpoint('http://127.0.0.1:9999', 'ap-guangzhou', 'x');
  assert.deepEqual([e3.protocol, e3.host, e3.loopback, e3.overridden], ['http', '127.0.0.1:9999', true, true]);
  assert.throws(() => resolveEndpoint('http://u:p@127.0.0.1:1', 'r', 'x'), /must not contain a user name/);
  assert.throws(() => resolveEndpoint('ftp://h', 'r', 'x'), /only http and https/);
  assert.throws(() => resolveEndpoint('http://h/path', 'r', 'x'), /path or query/);
  assert.equal(alibabaKeyParam('key-hzz62f1cb66fa42qo'), 'key-hzz62f1cb66fa42qo');
  assert.equal(alibabaKeyParam('1234abcd-12ab-34cd-56ef-1234567890ab'), '1234abcd-12ab-34cd-56ef-1234567890ab');
  assert.equal(alibabaKeyParam('alias/app'), 'alias/app');
  assert.equal(alibabaKeyParam('acs:kms:cn-hangzhou:123:key/key-x'), 'acs:kms:cn-hangzhou:123:key/key-x');
  assert.equal(alibabaKeyParam('app'), 'alias/app');
  assert.equal(normalizeAlibabaAlias('team/app'), 'alias/team/app');
  assert.throws(() => normalizeAlibabaAlias('alias/acs/oss'), /not a valid Alibaba/);
  assert.equal(
    categorize(new CloudCallError('x', { code: 'RequestLimitExceeded.UinLimitExceeded' }), tencentProvider.errors),
    'throttling',
  );
  assert.equal(categorize(new CloudCallError('x', { status: 429 })), 'throttling');
  assert.equal(categorize(new CloudCallError('x', { code: 'AuthFailure.TokenFailure' }), tencentProvider.errors), 'credentials');
  assert.equal(categorize(new CloudCallError('x', { networkCode: 'ETIMEDOUT' })), 'timeout');
});
