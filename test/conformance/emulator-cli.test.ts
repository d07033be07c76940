// `kms-envelope emulator` as a user runs it: a child process running emulatorMain, its printed
// URL and export lines used by the official SDKs, fault flags, SIGTERM/SIGINT with the state
// flushed, and the same credentials and keys after a restart with the same --state.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { emulatorAdmin } from '../../src/emulator/admin-client';
import { aliCall, alibabaClient, tcCall, tcFail, tencentClient } from './helpers/sdk-clients';

const ROOT = resolve(__dirname, '../..');
// (tsx loads the TS module as CommonJS, so a dynamic import may put the exports under .default.)
const MAIN = `import(${JSON.stringify(join(ROOT, 'src/emulator/index.ts'))}).then((m) => (m.emulatorMain ?? m.default.emulatorMain)(process.argv.slice(1))).then((code) => process.exit(code))`;

interface Started {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  env: Record<string, string>;
  exited: Promise<number | null>;
}

function runEmulator(args: string[]): Promise<Started> {
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', MAIN, 'emulator', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return new Promise((resolveStart, reject) => {
    const timer = setTimeout(() => reject(new Error(`emulator did not start: ${out} ${err}`)), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (/Stop with Ctrl\+C/.test(out)) {
        clearTimeout(timer);
        const env: Record<string, string> = {};
        for (const m of out.matchAll(/^export ([A-Z_]+)=(\S+)$/gm)) env[m[1]] = m[2];
        resolveStart({ child, stdout: () => out, stderr: () => err, env, exited });
      }
    });
    void exited.then((code) => reject(new Error(`emulator exited with ${code}: ${out} ${err}`)));
  });
}

describe('kms-envelope emulator (the command)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kms-emu-cli-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('prints paste-able exports, honours fault flags, stops on SIGTERM/SIGINT with the state kept', async () => {
    const state = join(dir, 'state.json');
    const first = await runEmulator(['--seed', '--state', state, '--throttle', 'Encrypt=1', '--latency', 'GetRegions=150']);
    const lines = first.stdout().split('\n');
    for (const name of [
      'TENCENTCLOUD_SECRET_ID',
      'TENCENTCLOUD_SECRET_KEY',
      'ALIBABA_CLOUD_ACCESS_KEY_ID',
      'ALIBABA_CLOUD_ACCESS_KEY_SECRET',
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'AWS_REGION',
      'AWS_ENDPOINT_URL_KMS',
      'KMS_ENVELOPE_ENDPOINT',
    ]) {
      assert.equal(lines.filter((l) => l.startsWith(`export ${name}=`)).length, 1, `exactly one export ${name} line`);
    }
    assert.equal(first.env.AWS_ENDPOINT_URL_KMS, first.env.KMS_ENVELOPE_ENDPOINT);
    // Pasted into a shell, the exports are all the stock AWS SDK needs (endpoint from AWS_ENDPOINT_URL_KMS).
    const pasted = spawnSync(
      process.execPath,
      [
        '-e',
        `const { KMSClient, ListAliasesCommand } = require('@aws-sdk/client-kms');
         new KMSClient({}).send(new ListAliasesCommand({})).then((r) => console.log(r.Aliases.map((a) => a.AliasName).join(',')), (e) => { console.error(e.name, e.message); process.exit(2); });`,
      ],
      {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 30_000,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: dir,
          AWS_ACCESS_KEY_ID: first.env.AWS_ACCESS_KEY_ID,
          AWS_SECRET_ACCESS_KEY: first.env.AWS_SECRET_ACCESS_KEY,
          AWS_REGION: first.env.AWS_REGION,
          AWS_ENDPOINT_URL_KMS: first.env.AWS_ENDPOINT_URL_KMS,
        },
      },
    );
    assert.equal(pasted.status, 0, pasted.stderr);
    assert.match(pasted.stdout, /alias\/seed-enabled/);
    const url = first.env.KMS_ENVELOPE_ENDPOINT;
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/, 'binds loopback by default');
    assert.match(first.stdout(), new RegExp(`listening on ${url.replace(/[.:/]/g, '\\$&')}`));
    assert.match(first.env.TENCENTCLOUD_SECRET_ID, /^AKID/);

    const tc = tencentClient(
      url,
      { secretId: first.env.TENCENTCLOUD_SECRET_ID, secretKey: first.env.TENCENTCLOUD_SECRET_KEY },
      'ap-guangzhou',
    );
    const seeded = await tcCall(tc, 'ListKeyDetail', { Limit: 200, SearchKeyAlias: 'seed-enabled' });
    const keyId = seeded.KeyMetadatas[0].KeyId as string;
    assert.equal((await tcFail(tc, 'Encrypt', { KeyId: keyId, Plaintext: 'YQ==' })).code, 'RequestLimitExceeded', '--throttle Encrypt=1');
    const blob = (await tcCall(tc, 'Encrypt', { KeyId: keyId, Plaintext: 'YQ==' })).CiphertextBlob;
    const t0 = Date.now();
    await tcCall(tc, 'GetRegions');
    assert.ok(Date.now() - t0 >= 140, '--latency GetRegions=150');
    const ali = alibabaClient(url, {
      accessKeyId: first.env.ALIBABA_CLOUD_ACCESS_KEY_ID,
      accessKeySecret: first.env.ALIBABA_CLOUD_ACCESS_KEY_SECRET,
    });
    const made = (await aliCall(ali, 'CreateKey', { Description: 'made before restart' }, 'cn-shanghai')).KeyMetadata.KeyId;
    const counters = await emulatorAdmin(url, 'GET', 'counters');
    assert.equal(counters['tencent:Encrypt'], 2);
    assert.equal(counters['alibaba:CreateKey'], 1);

    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0, 'SIGTERM → exit 0');
    assert.match(first.stderr(), /SIGTERM, stopping and writing/);
    assert.equal(statSync(state).mode & 0o777, 0o600);
    const saved = JSON.parse(readFileSync(state, 'utf8'));
    assert.ok(
      saved.keys.some((k: { keyId: string }) => k.keyId === made),
      'the new key reached the state file',
    );

    const second = await runEmulator(['--seed', '--state', state, '--port', '0']);
    for (const name of [
      'TENCENTCLOUD_SECRET_ID',
      'TENCENTCLOUD_SECRET_KEY',
      'ALIBABA_CLOUD_ACCESS_KEY_ID',
      'ALIBABA_CLOUD_ACCESS_KEY_SECRET',
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
    ]) {
      assert.equal(second.env[name], first.env[name], `${name} is stable with the same --state`);
    }
    const url2 = second.env.KMS_ENVELOPE_ENDPOINT;
    const tc2 = tencentClient(
      url2,
      { secretId: second.env.TENCENTCLOUD_SECRET_ID, secretKey: second.env.TENCENTCLOUD_SECRET_KEY },
      'ap-guangzhou',
    );
    assert.equal((await tcCall(tc2, 'Decrypt', { CiphertextBlob: blob })).Plaintext, 'YQ==', 'key material survived the restart');
    assert.equal(
      (await tcCall(tc2, 'ListKeyDetail', { Limit: 200, SearchKeyAlias: 'seed-' })).TotalCount,
      3,
      '--seed again does not add keys',
    );
    const ali2 = alibabaClient(url2, {
      accessKeyId: second.env.ALIBABA_CLOUD_ACCESS_KEY_ID,
      accessKeySecret: second.env.ALIBABA_CLOUD_ACCESS_KEY_SECRET,
    });
    assert.equal((await aliCall(ali2, 'DescribeKey', { KeyId: made }, 'cn-shanghai')).KeyMetadata.Description, 'made before restart');
    second.child.kill('SIGINT');
    assert.equal(await second.exited, 0, 'SIGINT → exit 0');
  });

  it('without --state, credentials differ between runs', async () => {
    const a = await runEmulator([]);
    const b = await runEmulator([]);
    try {
      assert.notEqual(a.env.TENCENTCLOUD_SECRET_KEY, b.env.TENCENTCLOUD_SECRET_KEY);
      assert.notEqual(a.env.KMS_ENVELOPE_ENDPOINT, b.env.KMS_ENVELOPE_ENDPOINT);
      assert.match(a.stdout(), /in memory/);
    } finally {
      a.child.kill('SIGTERM');
      b.child.kill('SIGTERM');
      assert.deepEqual(await Promise.all([a.exited, b.exited]), [0, 0]);
    }
  });

  it('runs the KMS 3.0 instance gateway: prints its files and a paste-able profiles add line; --no-instance turns it off', async () => {
    const state = join(dir, 'inst.json');
    const a = await runEmulator(['--seed', '--state', state]);
    try {
      const out = a.stdout();
      const line = out.split('\n').find((l) => l.startsWith('kms-envelope profiles add --provider alibaba'));
      assert.ok(line, out);
      const m = /--instance-endpoint (https:\/\/127\.0\.0\.1:\d+) --client-key-file (\S+) --ca-file (\S+) < (\S+)$/.exec(line);
      assert.ok(m, line);
      assert.equal(m[2], join(dir, 'inst-instance', basename(m[2])), 'the files sit beside the state file');
      assert.match(readFileSync(m[3], 'utf8'), /BEGIN CERTIFICATE/);
      assert.equal(JSON.parse(readFileSync(m[2], 'utf8')).KeyId, basename(m[2]).replace(/^clientKey_|\.json$/g, ''));
      assert.equal(statSync(m[4]).mode & 0o777, 0o600);
      assert.match(out, /# Alibaba Cloud KMS 3\.0 instance kst-[a-z0-9]+ \(cn-hangzhou/);
    } finally {
      a.child.kill('SIGTERM');
      assert.equal(await a.exited, 0);
    }
    const b = await runEmulator(['--no-instance']);
    b.child.kill('SIGTERM');
    assert.equal(await b.exited, 0);
    assert.doesNotMatch(b.stdout(), /instance-endpoint/);
  });

  it('usage errors exit 1 with a next step; --help exits 0', () => {
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', '-e', MAIN, 'emulator', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
    let r = run('--port', 'abc');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--port abc is not a port number/);
    assert.match(r.stderr, /--help/);
    r = run('--bogus');
    assert.equal(r.status, 1);
    r = run('--throttle', 'Encrypt=sometimes');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--throttle Encrypt=sometimes/);
    r = run('--help');
    assert.equal(r.status, 0);
    assert.match(r.stdout, /Usage: kms-envelope emulator/);
  });
});
