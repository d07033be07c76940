// The "done when", as a new user would do it with the CLI (in-process `main`, real HTTP to
// the emulator through the official SDKs, credentials from the standard environment variables):
// list regions and keys of both clouds, create and manage a key, seal a file to one key of each
// cloud, unseal it with either, and read a clear error for a disabled key.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main';
import { printError, type Io } from '../../src/cli/common';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index';

describe('CLI with Tencent and Alibaba against the emulator', () => {
  let em: RunningEmulator;
  let dir: string;
  let env: NodeJS.ProcessEnv;

  const run = async (args: string[], extraEnv: NodeJS.ProcessEnv = {}, drop: string[] = []) => {
    const out = new PassThrough();
    const err = new PassThrough();
    let stdout = '';
    let stderr = '';
    out.on('data', (c) => (stdout += c));
    err.on('data', (c) => (stderr += c));
    const e: NodeJS.ProcessEnv = { ...env, ...extraEnv };
    for (const k of drop) delete e[k];
    const io = { stdout: out, stderr: err, stdin: new PassThrough(), env: e, signal: new AbortController().signal } as unknown as Io;
    let code: number;
    try {
      code = await main(args, io);
    } catch (x) {
      code = printError(io, x);
    }
    return { code, stdout, stderr };
  };

  before(async () => {
    em = await startEmulator({ port: 0, seed: true });
    dir = await mkdtemp(join(tmpdir(), 'kms-cli-clouds-'));
    const a = em.accounts[0];
    env = {
      PATH: process.env.PATH,
      DBUS_SESSION_BUS_ADDRESS: process.env.DBUS_SESSION_BUS_ADDRESS,
      HOME: join(dir, 'home'),
      KMS_ENVELOPE_CONFIG_DIR: join(dir, 'config'),
      TENCENTCLOUD_SECRET_ID: a.tencent.secretId,
      TENCENTCLOUD_SECRET_KEY: a.tencent.secretKey,
      ALIBABA_CLOUD_ACCESS_KEY_ID: a.alibaba.accessKeyId,
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: a.alibaba.accessKeySecret,
    };
  });
  after(async () => {
    await em.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('lists regions and keys of both clouds with --endpoint', async () => {
    for (const [provider, region] of [
      ['tencent', 'ap-guangzhou'],
      ['alibaba', 'cn-hangzhou'],
    ]) {
      const r = await run(['keys', 'list', '--provider', provider, '--region', region, '--endpoint', em.url, '--json']);
      assert.equal(r.code, 0, r.stderr);
      const keys = JSON.parse(r.stdout) as Array<{ alias?: string; state: string; region: string }>;
      assert.ok(
        keys.some((k) => k.alias === 'seed-enabled' && k.state === 'Enabled' && k.region === region),
        r.stdout,
      );
    }
    // Without --region: every region the cloud reports (in parallel); KMS_ENVELOPE_ENDPOINT instead of --endpoint.
    em.resetCounters();
    const all = await run(['keys', 'list', '--provider', 'tencent', '--json'], { KMS_ENVELOPE_ENDPOINT: em.url });
    assert.equal(all.code, 0, all.stderr);
    assert.ok((em.counters()['tencent:ListKeyDetail'] ?? 0) > 10, 'one listing per region');
    assert.ok(new Set((JSON.parse(all.stdout) as Array<{ region: string }>).map((k) => k.region)).has('ap-shanghai'));
  });

  it('creates and manages a key, seals a file to one key of each cloud, unseals with either, and explains a disabled key', async () => {
    const E = ['--endpoint', em.url];
    let r = await run([
      'keys',
      'create',
      '--provider',
      'tencent',
      '--region',
      'ap-guangzhou',
      '--alias',
      'cli-app',
      '--description',
      'made by the CLI test',
      ...E,
    ]);
    assert.equal(r.code, 0, r.stderr);
    r = await run(['keys', 'create', '--provider', 'alibaba', '--region', 'cn-hangzhou', '--alias', 'cli-app', ...E, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const aliId = (JSON.parse(r.stdout) as { keyId: string }).keyId;
    r = await run([
      'keys',
      'description',
      '--provider',
      'alibaba',
      '--region',
      'cn-hangzhou',
      '--key',
      'alias/cli-app',
      '--description',
      'second',
      ...E,
    ]);
    assert.equal(r.code, 0, r.stderr);

    const plain = join(dir, 'secret.txt');
    await writeFile(plain, 'the payroll numbers\n');
    em.resetCounters();
    r = await run([
      'seal',
      plain,
      '--key',
      'tencent:ap-guangzhou:cli-app',
      '--key',
      `alibaba:cn-hangzhou:${aliId}`,
      '--context',
      'app=payroll',
      ...E,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const c = em.counters();
    assert.equal((c['tencent:GenerateDataKey'] ?? 0) + (c['alibaba:GenerateDataKey'] ?? 0), 1);
    assert.equal((c['tencent:Encrypt'] ?? 0) + (c['alibaba:Encrypt'] ?? 0), 1);

    for (const [only, drop] of [
      ['tencent', ['ALIBABA_CLOUD_ACCESS_KEY_ID', 'ALIBABA_CLOUD_ACCESS_KEY_SECRET']],
      ['alibaba', ['TENCENTCLOUD_SECRET_ID', 'TENCENTCLOUD_SECRET_KEY']],
    ] as const) {
      const out = join(dir, `out-${only}.txt`);
      em.resetCounters();
      r = await run(['unseal', `${plain}.sealed`, '-o', out, ...E], {}, [...drop]);
      assert.equal(r.code, 0, `${only}: ${r.stderr}`);
      assert.equal(await readFile(out, 'utf8'), 'the payroll numbers\n');
      assert.equal(em.counters()[`${only}:Decrypt`], 1, `${only} alone opens it with one Decrypt`);
      assert.equal(em.counters().total, 1);
    }

    r = await run(['keys', 'disable', '--provider', 'tencent', '--region', 'ap-guangzhou', '--key', 'cli-app', ...E]);
    assert.equal(r.code, 0, r.stderr);
    r = await run(['seal', plain, '-o', join(dir, 'x.sealed'), '--key', 'tencent:ap-guangzhou:cli-app', ...E]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /key cli-app in region ap-guangzhou is disabled \(ResourceUnavailable\.CmkDisabled, request [0-9a-f-]+\)/);
    assert.match(r.stderr, /Enable it: `kms-envelope keys enable --provider tencent --region ap-guangzhou --key cli-app/);
    r = await run(['keys', 'enable', '--provider', 'tencent', '--region', 'ap-guangzhou', '--key', 'cli-app', ...E]);
    assert.equal(r.code, 0, r.stderr);
  });

  it('errors: dead endpoint (exit 3, endpoint named), wrong secret (exit 4), unknown region', async () => {
    let r = await run(['keys', 'list', '--provider', 'alibaba', '--region', 'cn-hangzhou', '--endpoint', 'http://127.0.0.1:1']);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /could not reach http:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\)/);
    r = await run(['keys', 'list', '--provider', 'tencent', '--region', 'ap-guangzhou', '--endpoint', em.url], {
      TENCENTCLOUD_SECRET_KEY: 'wrong',
    });
    assert.equal(r.code, 4);
    assert.match(r.stderr, /rejected the credentials/);
    r = await run(['keys', 'list', '--provider', 'tencent', '--region', 'mars-1', '--endpoint', em.url]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /does not know region mars-1/);
  });
});
