// Unit tests of the emulator's parts: ciphertext blobs, fault rules and flags, the state file,
// seeding, loopback checks, and the admin API over real HTTP on 127.0.0.1.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, promises as fsp, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalContext, openBlob, parseBlob, sealBlob } from '../../src/emulator/blob';
import { hostWithoutPort, parseContextJson } from '../../src/emulator/common';
import { Faults, parseFaultFlag, validateFaults, type FaultConfig } from '../../src/emulator/faults';
import { seedStore } from '../../src/emulator/seed';
import { EmulatorServer, isLoopback } from '../../src/emulator/server';
import { EmulatorStore } from '../../src/emulator/state';
import { startEmulator } from '../../src/emulator';
import { ADMIN_HEADERS } from '../../src/emulator/admin-client';

const tmp = () => mkdtempSync(join(tmpdir(), 'kms-emu-'));

describe('emulator blobs (AES-256-GCM, self-describing)', () => {
  const key = randomBytes(32);
  const h = { cloud: 'tencent' as const, keyId: '6f1c1f7e-2d0b-4c1e-9b1a-0e5e0d3c2b1a', region: 'ap-guangzhou', accountId: '1000000001' };
  it('round trips and names key, region and account', () => {
    const blob = sealBlob(h, key, '{"a":"1"}', Buffer.from('data key'));
    const p = parseBlob(blob)!;
    assert.deepEqual({ cloud: p.cloud, keyId: p.keyId, region: p.region, accountId: p.accountId }, h);
    assert.equal(openBlob(p, key, '{"a":"1"}')?.toString(), 'data key');
    assert.notEqual(sealBlob(h, key, '', Buffer.from('x')), sealBlob(h, key, '', Buffer.from('x')), 'a fresh IV each time');
  });
  it('a different context, key, header or any changed byte fails authentication', () => {
    const blob = sealBlob(h, key, '{"a":"1"}', Buffer.from('data key'));
    const p = parseBlob(blob)!;
    assert.equal(openBlob(p, key, '{"a":"2"}'), undefined);
    assert.equal(openBlob(p, key, ''), undefined);
    assert.equal(openBlob(p, randomBytes(32), '{"a":"1"}'), undefined);
    const raw = Buffer.from(blob, 'base64');
    for (let i = 0; i < raw.length; i++) {
      const t = Buffer.from(raw);
      t[i] ^= 0x01;
      const q = parseBlob(t.toString('base64'));
      if (q) assert.equal(openBlob(q, key, '{"a":"1"}'), undefined, `byte ${i}`);
    }
    // The region in the header is authenticated: rewriting it (same length) breaks the tag.
    const moved = Buffer.from(raw.toString('latin1').replace('ap-guangzhou', 'ap-guangzhoX'), 'latin1');
    assert.equal(openBlob(parseBlob(moved.toString('base64'))!, key, '{"a":"1"}'), undefined);
  });
  it('rejects what is not a blob', () => {
    for (const s of ['', 'abc', '!!!!', Buffer.from('EKM1').toString('base64'), Buffer.from('XXXX' + 'a'.repeat(60)).toString('base64')])
      assert.equal(parseBlob(s), undefined, s);
  });
  it('canonical context: sorted keys, empty = ""', () => {
    assert.equal(canonicalContext({ b: '2', a: '1' }), '{"a":"1","b":"2"}');
    assert.equal(canonicalContext({}), '');
    assert.equal(canonicalContext(undefined), '');
    assert.deepEqual(parseContextJson('{"a":"1"}'), { a: '1' });
    assert.equal(parseContextJson('{"a":1}'), 'invalid');
    assert.equal(parseContextJson('[1]'), 'invalid');
    assert.equal(parseContextJson('nope'), 'invalid');
    assert.equal(parseContextJson(''), undefined);
  });
});

describe('emulator fault rules', () => {
  it('counts are consumed most specific first; latency from the most specific rule', () => {
    const f = new Faults({
      '*': { latencyMs: 10, throttle: { count: 1 } },
      Encrypt: { error: { count: 1 } },
      'tencent:Encrypt': { latencyMs: 50, drop: { count: 1 } },
    });
    assert.deepEqual(f.decide('tencent', 'Encrypt'), { latencyMs: 50, kind: 'drop' });
    assert.deepEqual(f.decide('tencent', 'Encrypt'), { latencyMs: 50, kind: 'error' });
    assert.deepEqual(f.decide('alibaba', 'Encrypt'), { latencyMs: 10, kind: 'throttle' });
    assert.deepEqual(f.decide('alibaba', 'Encrypt'), { latencyMs: 10 });
    assert.deepEqual(f.decide('tencent', 'Encrypt'), { latencyMs: 50 });
    assert.equal((f.get()['tencent:Encrypt'].drop as { count: number }).count, 0, 'the remaining count is visible');
  });
  it('rates use the random source', () => {
    let r = 0.3;
    const f = new Faults({ 'alibaba:*': { throttle: { rate: 0.5 } } }, () => r);
    assert.equal(f.decide('alibaba', 'ListKeys').kind, 'throttle');
    r = 0.7;
    assert.equal(f.decide('alibaba', 'ListKeys').kind, undefined);
    assert.equal(f.decide('tencent', 'ListKeys').kind, undefined);
  });
  it('validation names the bad part', () => {
    assert.throws(() => validateFaults([]), /JSON object/);
    assert.throws(() => validateFaults({ 'bad selector!': {} }), /bad selector/);
    assert.throws(() => validateFaults({ '*': { latencyMs: -1 } }), /latencyMs/);
    assert.throws(() => validateFaults({ '*': { throttle: { rate: 2 } } }), /throttle/);
    assert.throws(() => validateFaults({ '*': { throttle: { count: 1.5 } } }), /throttle/);
    assert.throws(() => validateFaults({ '*': { explode: 1 } }), /unknown field "explode"/);
    assert.throws(() => validateFaults({ 'gcp:Encrypt': {} }), /bad selector/);
    assert.deepEqual(validateFaults({ 'aws:Encrypt': {}, 'aws:*': { latencyMs: 1 } }), { 'aws:Encrypt': {}, 'aws:*': { latencyMs: 1 } });
    assert.deepEqual(validateFaults({ 'alibaba:Encrypt': { drop: { rate: 0 } }, '*': {} }), {
      'alibaba:Encrypt': { drop: { rate: 0 } },
      '*': {},
    });
  });
  it('CLI flags: ms, N (next calls) and P% (rate), optionally per action', () => {
    const c: FaultConfig = {};
    parseFaultFlag(c, 'latency', '50');
    parseFaultFlag(c, 'latency', 'Encrypt=100');
    parseFaultFlag(c, 'throttle', 'Encrypt=3');
    parseFaultFlag(c, 'error', '20%');
    parseFaultFlag(c, 'drop', 'tencent:ListKeys=1');
    parseFaultFlag(c, 'unavailable', 'alibaba:*=100%');
    assert.deepEqual(c, {
      '*': { latencyMs: 50, error: { rate: 0.2 } },
      Encrypt: { latencyMs: 100, throttle: { count: 3 } },
      'tencent:ListKeys': { drop: { count: 1 } },
      'alibaba:*': { unavailable: { rate: 1 } },
    });
    assert.throws(() => parseFaultFlag(c, 'latency', 'fast'), /milliseconds/);
    assert.throws(() => parseFaultFlag(c, 'error', 'Encrypt=often'), /--fail/);
    assert.throws(() => parseFaultFlag(c, 'throttle', '150%'), /--throttle/);
  });
});

describe('emulator helpers', () => {
  it('isLoopback', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) assert.equal(isLoopback(a), true, a);
    for (const a of ['10.0.0.1', '0.0.0.0', '::', '::ffff:10.0.0.1', '128.0.0.1', undefined]) assert.equal(isLoopback(a), false, String(a));
  });
  it('hostWithoutPort', () => {
    assert.equal(hostWithoutPort('127.0.0.1:8080'), '127.0.0.1');
    assert.equal(hostWithoutPort('kms.tencentcloudapi.com'), 'kms.tencentcloudapi.com');
    assert.equal(hostWithoutPort('[::1]:9000'), '[::1]');
  });
});

describe('emulator state file', () => {
  it('is created 0600 with stable credentials, keeps keys across restarts, seeds once', async () => {
    const dir = tmp();
    try {
      const path = join(dir, 'state.json');
      const s1 = await EmulatorStore.open({ statePath: path });
      assert.equal(statSync(path).mode & 0o777, 0o600);
      assert.deepEqual(
        s1.accounts.map((a) => a.name),
        ['default', 'second', 'sts'],
      );
      assert.match(s1.accounts[0].tencent.secretId, /^AKID[A-Za-z0-9]{32}$/);
      assert.match(s1.accounts[0].alibaba.accessKeyId, /^LTAI[A-Za-z0-9]{20}$/);
      assert.match(s1.accounts[0].aws.accessKeyId, /^AKIA[A-Z2-7]{16}$/);
      assert.match(s1.accounts[0].awsAccountId, /^[1-9]\d{11}$/);
      assert.equal(s1.accounts[0].aws.sessionToken, undefined);
      const sts = s1.accounts[2].aws;
      assert.match(sts.accessKeyId, /^ASIA[A-Z2-7]{16}$/);
      assert.ok(sts.sessionToken && sts.expired && sts.expired.accessKeyId !== sts.accessKeyId);
      assert.equal(s1.accountByAwsId(sts.expired.accessKeyId), s1.accounts[2], 'the expired session is still known');
      assert.equal(seedStore(s1), 19, '3 keys × 2 regions × 3 clouds + an AWS managed key');
      assert.equal(seedStore(s1), 0, 'seeding twice does nothing');
      await s1.flush();
      const text = await fsp.readFile(path, 'utf8');
      assert.match(text, /testing only/);
      const s2 = await EmulatorStore.open({ statePath: path });
      assert.deepEqual(s2.accounts, s1.accounts, 'same credentials');
      assert.equal(s2.seeded, true);
      assert.equal(seedStore(s2), 0);
      const keys = s2.keys('tencent', 'default', 'ap-shanghai');
      assert.deepEqual(
        keys.map((k) => k.alias),
        ['seed-enabled', 'seed-disabled', 'seed-pending-deletion'],
      );
      assert.deepEqual(
        keys.map((k) => k.material),
        s1.keys('tencent', 'default', 'ap-shanghai').map((k) => k.material),
        'same key material',
      );
      assert.equal(statSync(path).mode & 0o777, 0o600, 'still 0600 after rewrite');
      assert.deepEqual(
        s2.keys('aws', 'default', 'us-east-1').map((k) => [k.aliases, k.state, k.manager]),
        [
          [['alias/seed-enabled'], 'Enabled', 'CUSTOMER'],
          [['alias/seed-disabled'], 'Disabled', 'CUSTOMER'],
          [['alias/seed-pending-deletion'], 'PendingDeletion', 'CUSTOMER'],
          [['alias/aws/secretsmanager'], 'Enabled', 'AWS'],
        ],
      );
      assert.equal(s2.keys('aws', 'default', 'eu-west-1').length, 3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('a state file from before AWS: accounts get AWS credentials, --seed adds only the AWS keys, the rest is kept', async () => {
    const dir = tmp();
    try {
      const path = join(dir, 'state.json');
      const s1 = await EmulatorStore.open({ statePath: path });
      seedStore(s1);
      await s1.flush();
      const old = JSON.parse(await fsp.readFile(path, 'utf8'));
      for (const a of old.accounts) {
        delete a.aws;
        delete a.awsAccountId;
      }
      delete old.seededClouds;
      old.keys = old.keys.filter((k: { cloud: string }) => k.cloud !== 'aws');
      writeFileSync(path, JSON.stringify(old));
      const s2 = await EmulatorStore.open({ statePath: path });
      assert.deepEqual(
        s2.accounts.map((a) => a.tencent),
        s1.accounts.map((a) => a.tencent),
        'Tencent credentials kept',
      );
      assert.match(s2.accounts[0].aws.accessKeyId, /^AKIA/);
      assert.ok(s2.accounts[2].aws.sessionToken);
      assert.deepEqual(s2.seededClouds, ['tencent', 'alibaba']);
      assert.equal(seedStore(s2), 7, 'only the AWS keys');
      assert.equal(s2.keys('tencent', 'default', 'ap-guangzhou').length, 3);
      await s2.flush();
      const s3 = await EmulatorStore.open({ statePath: path });
      assert.deepEqual(s3.accounts, s2.accounts, 'the new AWS credentials were written');
      assert.equal(seedStore(s3), 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('without a state file, credentials are new each time', async () => {
    const a = await EmulatorStore.open();
    const b = await EmulatorStore.open();
    assert.notEqual(a.accounts[0].tencent.secretKey, b.accounts[0].tencent.secretKey);
    assert.notEqual(a.accounts[0].alibaba.accessKeySecret, b.accounts[0].alibaba.accessKeySecret);
  });
  it('a key pending deletion disappears when its deletion date passes', async () => {
    let now = Date.parse('2025-01-01T00:00:00Z');
    const s = await EmulatorStore.open({ now: () => now });
    seedStore(s, () => now);
    assert.equal(s.keys('alibaba', 'default', 'cn-hangzhou').length, 3);
    now += 8 * 86_400_000;
    assert.deepEqual(
      s.keys('alibaba', 'default', 'cn-hangzhou').map((k) => k.aliases?.[0]),
      ['alias/seed-enabled', 'alias/seed-disabled'],
    );
  });
  it('a broken or foreign state file is refused with a next step', async () => {
    const dir = tmp();
    try {
      const p = join(dir, 's.json');
      writeFileSync(p, '{not json');
      await assert.rejects(EmulatorStore.open({ statePath: p }), /not valid JSON.*Move it away/);
      writeFileSync(p, '{"format":"something-else","accounts":[],"keys":[]}');
      await assert.rejects(EmulatorStore.open({ statePath: p }), /not a kms-envelope emulator state file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('emulator admin API (loopback HTTP)', () => {
  it('refuses clients that are not on loopback', async () => {
    const server = new EmulatorServer({ store: await EmulatorStore.open() });
    // Otherwise a well-formed admin request (src/emulator/admin-client.ts): only the client's address is wrong.
    const req = (method: string, path: string) => ({
      method,
      path,
      query: '',
      headers: { host: '127.0.0.1:18765', 'x-kms-envelope-admin': '1', 'content-type': 'application/json' },
      body: Buffer.alloc(0),
    });
    for (const remote of ['10.1.2.3', '192.168.0.10', '::ffff:172.16.0.1', '2001:db8::1', undefined]) {
      const r = server.adminRequest(req('PUT', '/__admin/faults'), remote);
      assert.equal(r.status, 403, String(remote));
      assert.match(r.body, /loopback clients only/);
    }
    assert.equal(server.adminRequest(req('GET', '/__admin/counters'), '127.0.0.1').status, 200);
    assert.equal(server.adminRequest(req('GET', '/__admin/counters'), '::1').status, 200);
  });

  it('health, faults, counters and reset', async () => {
    const em = await startEmulator();
    try {
      const j = async (method: string, path: string, body?: unknown) => {
        const r = await fetch(em.url + path, {
          method,
          headers: ADMIN_HEADERS,
          body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
        });
        return { status: r.status, body: (await r.json()) as any };
      };
      const health = await j('GET', '/__admin/health');
      assert.deepEqual(
        [health.status, health.body.ok, health.body.url, health.body.accounts],
        [200, true, em.url, ['default', 'second', 'sts']],
      );
      assert.deepEqual((await j('PUT', '/__admin/faults', { Encrypt: { throttle: { count: 2 } } })).body, {
        Encrypt: { throttle: { count: 2 } },
      });
      assert.deepEqual(em.faults(), { Encrypt: { throttle: { count: 2 } } }, 'the running emulator uses it');
      const bad = await j('PUT', '/__admin/faults', { Encrypt: { throttle: 'lots' } });
      assert.equal(bad.status, 400);
      assert.match(bad.body.error, /throttle/);
      assert.equal((await j('PUT', '/__admin/faults', '{nope')).status, 400);
      assert.deepEqual((await j('GET', '/__admin/faults')).body, { Encrypt: { throttle: { count: 2 } } }, 'a bad PUT changes nothing');
      await fetch(em.url + '/', { method: 'POST', headers: { 'x-tc-action': 'ListKeys' }, body: '{}' });
      await fetch(em.url + '/?Action=ListKeys', { method: 'POST' });
      const aws = await fetch(em.url + '/', { method: 'POST', headers: { 'x-amz-target': 'TrentService.ListKeys' }, body: '{}' });
      assert.equal(aws.status, 400);
      assert.equal(aws.headers.get('x-amzn-errortype'), 'MissingAuthenticationTokenException');
      assert.deepEqual(await aws.json(), { __type: 'MissingAuthenticationTokenException', message: 'Missing Authentication Token' });
      assert.deepEqual((await j('GET', '/__admin/counters')).body, {
        total: 3,
        'tencent:ListKeys': 1,
        'alibaba:ListKeys': 1,
        'aws:ListKeys': 1,
      });
      assert.deepEqual((await j('DELETE', '/__admin/counters')).body, { total: 0 });
      em.setFaults({ '*': { latencyMs: 5 } });
      assert.deepEqual((await j('POST', '/__admin/reset')).body, { counters: { total: 0 }, faults: {} });
      assert.deepEqual(em.faults(), {});
      assert.equal((await j('GET', '/__admin/nothing')).status, 404);
      const notApi = await fetch(em.url + '/');
      assert.equal(notApi.status, 404);
      assert.match(await notApi.text(), /X-TC-Action.*X-Amz-Target/);
    } finally {
      await em.stop();
    }
  });
});
