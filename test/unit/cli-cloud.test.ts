// The BUILT CLI against the loopback KMS emulator (Tencent and Alibaba wire protocols, real
// signatures through the official SDKs bundled into dist/cli): keys commands with --region and
// --endpoint, seal to one key of each cloud at once, unseal with either, disabled keys → exit 3,
// a wrong secret → exit 4. Credentials come from the clouds' standard environment variables.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index';

const root = path.resolve(__dirname, '../..');
const cli = path.join(root, 'dist/cli.js');

/**
 * Builds dist/ with the project's esbuild.mjs when it is missing. `npm test` builds before running
 * the tests; rebuilding here as well would race with the other CLI test file running alongside.
 */
function ensureBuilt(): void {
  if (existsSync(cli) && existsSync(path.join(root, 'dist/cli/main.mjs'))) return;
  execFileSync(process.execPath, ['esbuild.mjs'], { cwd: root, stdio: 'inherit' });
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('kms-envelope CLI (built) against the KMS emulator', () => {
  let em: RunningEmulator;
  let tmp: string;
  let env: NodeJS.ProcessEnv;
  // Async spawn: the emulator answers from this process's event loop.
  const run = (args: string[], e: NodeJS.ProcessEnv = env): Promise<Run> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [cli, ...args, ...(args[0] === 'inspect' ? [] : ['--endpoint', em.url])], {
        cwd: tmp,
        env: e,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  const ok = async (args: string[], e?: NodeJS.ProcessEnv): Promise<Run> => {
    const r = await run(args, e);
    assert.equal(r.code, 0, `kms-envelope ${args.join(' ')} → ${r.code}\n${r.stderr}`);
    return r;
  };

  before(async () => {
    ensureBuilt();
    em = await startEmulator({ seed: true });
    tmp = mkdtempSync(path.join(os.tmpdir(), 'kms-cli-cloud-'));
    const a = em.accounts.find((x) => x.name === 'default')!;
    env = {
      ...process.env,
      KMS_ENVELOPE_CONFIG_DIR: path.join(tmp, 'cfg'),
      TENCENTCLOUD_SECRET_ID: a.tencent.secretId,
      TENCENTCLOUD_SECRET_KEY: a.tencent.secretKey,
      ALIBABA_CLOUD_ACCESS_KEY_ID: a.alibaba.accessKeyId,
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: a.alibaba.accessKeySecret,
    };
    for (const k of ['TENCENTCLOUD_SESSION_TOKEN', 'ALIBABA_CLOUD_SECURITY_TOKEN', 'KMS_ENVELOPE_ENDPOINT']) delete env[k];
  });
  after(async () => {
    await em?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('keys list over every region and in one region, as a table and as JSON', async () => {
    const table = (await ok(['keys', 'list', '--provider', 'tencent'])).stdout;
    assert.match(table, /^REGION +KEY ID +ALIAS +STATE/m);
    assert.match(table, /^ap-guangzhou +\S+ +seed-enabled +Enabled/m);
    const keys = JSON.parse((await ok(['keys', 'list', '--provider', 'alibaba', '--region', 'cn-hangzhou', '--json'])).stdout) as Array<{
      region: string;
      state: string;
    }>;
    assert.ok(keys.length >= 3);
    assert.ok(keys.every((k) => k.region === 'cn-hangzhou'));
    assert.deepEqual(new Set(keys.map((k) => k.state)), new Set(['Enabled', 'Disabled', 'PendingDeletion']));
    const noRegion = await run(['keys', 'describe', '--provider', 'tencent', '--key', 'x']);
    assert.equal(noRegion.code, 1);
    assert.match(noRegion.stderr, /needs exactly one --region/);
  });

  it('seal to a Tencent and an Alibaba key at once; either alone opens it; disabled keys → exit 3 naming key and region', async () => {
    const t = JSON.parse(
      (await ok(['keys', 'create', '--provider', 'tencent', '--region', 'ap-guangzhou', '--alias', 'cli-t', '--json'])).stdout,
    ) as { keyId: string };
    const a = JSON.parse(
      (await ok(['keys', 'create', '--provider', 'alibaba', '--region', 'cn-hangzhou', '--alias', 'cli-a', '--json'])).stdout,
    ) as { keyId: string };
    writeFileSync(path.join(tmp, 'both.txt'), 'two clouds');
    em.resetCounters();
    await ok([
      'seal',
      'both.txt',
      '--key',
      'tencent:ap-guangzhou:cli-t',
      '--key',
      `alibaba:cn-hangzhou:${a.keyId}`,
      '--context',
      'app=cli',
    ]);
    const c = em.counters();
    assert.equal(c['tencent:GenerateDataKey'], 1, JSON.stringify(c));
    assert.equal(c['alibaba:Encrypt'], 1, JSON.stringify(c));
    const info = JSON.parse((await ok(['inspect', 'both.txt.sealed', '--json'])).stdout) as {
      recipients: Array<{ provider: string; region: string; keyId: string }>;
    };
    assert.deepEqual(
      info.recipients.map((r) => `${r.provider}:${r.region}:${r.keyId}`),
      [`tencent:ap-guangzhou:${t.keyId}`, `alibaba:cn-hangzhou:${a.keyId}`],
    );
    await ok(['unseal', 'both.txt.sealed', '-o', 'via-tencent.txt']);
    assert.equal(readFileSync(path.join(tmp, 'via-tencent.txt'), 'utf8'), 'two clouds');

    await ok(['keys', 'disable', '--provider', 'tencent', '--region', 'ap-guangzhou', '--key', 'cli-t']);
    await ok(['unseal', 'both.txt.sealed', '-o', 'via-alibaba.txt']);
    assert.equal(readFileSync(path.join(tmp, 'via-alibaba.txt'), 'utf8'), 'two clouds');

    await ok(['keys', 'disable', '--provider', 'alibaba', '--region', 'cn-hangzhou', '--key', a.keyId]);
    const r = await run(['unseal', 'both.txt.sealed', '-o', 'none.txt']);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, new RegExp(`${t.keyId}.*ap-guangzhou.*disabled`));
    assert.match(r.stderr, new RegExp(`keys enable --provider tencent --region ap-guangzhou --key ${t.keyId}`));
    assert.ok(!existsSync(path.join(tmp, 'none.txt')));
    const s = await run(['seal', 'both.txt', '-o', 'x.sealed', '--key', 'tencent:ap-guangzhou:cli-t']);
    assert.equal(s.code, 3, s.stderr);
    assert.ok(!existsSync(path.join(tmp, 'x.sealed')));
  });

  it('a wrong secret → exit 4 with a credentials hint; no output file', async () => {
    writeFileSync(path.join(tmp, 'w.txt'), 'w');
    const r = await run(['seal', 'w.txt', '-o', 'w.sealed', '--key', 'tencent:ap-guangzhou:seed-enabled'], {
      ...env,
      TENCENTCLOUD_SECRET_KEY: 'wrong-secret-key-000000000000000',
    });
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /^kms-envelope: .*\n {2}→ /);
    assert.ok(!r.stderr.includes('wrong-secret-key'), 'the secret is never echoed');
    assert.ok(!existsSync(path.join(tmp, 'w.sealed')));
  });
});
