// `kms-envelope bench` as built, against the emulator (loopback: no question asked) through the
// public Alibaba gateway and a KMS 3.0 instance profile, with errors counted by code; and the
// refusal to send requests to an endpoint that is not on this machine without --yes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index';

const root = path.resolve(__dirname, '../..');
const cli = path.join(root, 'dist/cli.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('kms-envelope bench (built)', () => {
  let em: RunningEmulator;
  let tmp: string;
  let env: NodeJS.ProcessEnv;
  const run = (args: string[], input?: string): Promise<Run> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [cli, ...args], { cwd: tmp, env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
      child.stdin.end(input ?? '');
    });

  before(async () => {
    if (!existsSync(cli) || !existsSync(path.join(root, 'dist/cli/main.mjs')))
      execFileSync(process.execPath, ['esbuild.mjs'], { cwd: root, stdio: 'inherit' });
    em = await startEmulator({ seed: true, instance: true });
    tmp = mkdtempSync(path.join(os.tmpdir(), 'kms-cli-bench-'));
    const a = em.accounts[0].alibaba;
    env = {
      ...process.env,
      KMS_ENVELOPE_CONFIG_DIR: path.join(tmp, 'config'),
      ALIBABA_CLOUD_ACCESS_KEY_ID: a.accessKeyId,
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: a.accessKeySecret,
    };
  });
  after(async () => {
    await em?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('measures a key through the public gateway: the table, --json, and errors by code (no retries)', async () => {
    em.resetCounters();
    const r = await run([
      'bench',
      '--key',
      'alibaba:cn-hangzhou:alias/seed-enabled',
      '--endpoint',
      em.url,
      '--duration',
      '1',
      '--concurrency',
      '4',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^requests\/s +\d/m);
    assert.match(r.stdout, /^latency ms +min [\d.]+ +avg [\d.]+ +p50 [\d.]+ +p90 [\d.]+ +p99 [\d.]+ +max [\d.]+$/m);
    assert.match(r.stdout, /^errors +none$/m);
    assert.match(r.stdout, /^client CPU +[\d,]+ µs per request \(\d+\.\d\d of a core\)$/m);
    assert.doesNotMatch(r.stderr, /will send/, 'loopback: no question');
    const sent = em.counters()['alibaba:Encrypt'];
    const ok = Number(/\((\d[\d,]*) ok/.exec(r.stdout)![1].replace(/,/g, ''));
    const requests = Number(/^requests +(\d[\d,]*) \(/m.exec(r.stdout)![1].replace(/,/g, ''));
    assert.ok(ok > 0, r.stdout);
    // Every request counted, plus the untimed warm-up before the clock (the SDK loaded, a connection open).
    assert.equal(sent, requests + 1, `${sent} Encrypt requests for ${requests} counted`);

    em.setFaults({ 'alibaba:Decrypt': { throttle: { rate: 0.5 } } });
    const j = await run([
      'bench',
      '--key',
      'alibaba:cn-hangzhou:alias/seed-enabled',
      '--endpoint',
      em.url,
      '--case',
      'decrypt',
      '--duration',
      '1',
      '--concurrency',
      '4',
      '--json',
    ]);
    em.setFaults({});
    assert.equal(j.code, 0, j.stderr);
    const res = JSON.parse(j.stdout);
    assert.equal(res.case, 'decrypt');
    assert.ok(res.errorsByCode.Throttling > 0, JSON.stringify(res.errorsByCode));
    assert.equal(res.requests, res.ok + res.errors);
    assert.ok(res.latencyMs.p50 <= res.latencyMs.p99);
    assert.ok(res.clientCpu.usPerRequest > 0 && res.clientCpu.cores > 0, JSON.stringify(res.clientCpu));
  });

  it('measures a KMS 3.0 instance profile (its calls go to the instance gateway)', async () => {
    const i = em.instance!;
    const add = await run(
      [
        'profiles',
        'add',
        '--provider',
        'alibaba',
        '--name',
        'inst',
        '--region',
        'cn-hangzhou',
        '--instance-endpoint',
        i.url,
        '--client-key-file',
        i.files.clientKey,
        '--ca-file',
        i.files.ca,
      ],
      i.clientKey.password + '\n',
    );
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /Saved alibaba-instance profile inst/);
    em.resetCounters();
    const r = await run([
      'bench',
      '--key',
      'alibaba-instance:cn-hangzhou:seed-instance-enabled',
      '--profile',
      'inst',
      '--case',
      'seal',
      '--duration',
      '1',
      '--concurrency',
      '2',
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const res = JSON.parse(r.stdout);
    assert.ok(res.ok > 0);
    assert.ok(em.counters()['instance:AdvanceGenerateDataKey'] >= res.ok);
    assert.equal(em.counters()['alibaba:GenerateDataKey'] ?? 0, 0);
  });

  it('asks before sending to an endpoint that is not on this machine; without a terminal it needs --yes', async () => {
    const r = await run([
      'bench',
      '--key',
      'alibaba:cn-hangzhou:alias/app',
      '--endpoint',
      'https://kms.example.invalid',
      '--rate',
      '5',
      '--duration',
      '3',
    ]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /will send at most 16 requests \(15 at --rate 5 for 3 s, and 1 before the clock starts\) to https:\/\/kms\.example\.invalid/,
    );
    assert.match(r.stderr, /cost money/);
    assert.match(r.stderr, /--yes/);
    const r2 = await run([
      'bench',
      '--key',
      'alibaba:cn-hangzhou:alias/app',
      '--endpoint',
      'https://kms.example.invalid',
      '--duration',
      '3',
    ]);
    assert.match(r2.stderr, /about [\d,]+ at 50 ms per request \(no --rate cap\)/);
  });

  it('checks its options', async () => {
    const r = await run(['bench', '--key', 'local:local:x', '--concurrency', '0']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--concurrency must be/);
    const r2 = await run(['bench', '--key', 'local:local:x', '--case', 'sign']);
    assert.match(r2.stderr, /--case sign is not one of encrypt, decrypt, generate-data-key, seal, unseal/);
    const h = await run(['bench', '--help']);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /Usage: kms-envelope bench --key <keyref>/);
  });
});
