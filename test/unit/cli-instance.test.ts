// Profiles sharing a providerId, through the built CLI against the emulator: a file sealed through an
// Alibaba KMS 3.0 instance profile opens on a machine that has only a plain AccessKey profile of the
// same account and region, and a file sealed there opens through the instance profile alone. The
// blob names `alibaba-kms` and `<region>/<keyId>` whichever gateway sealed it (README, Blob format);
// the emulator's counters show which gateway each side used.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

describe('unseal across Alibaba profiles that share a providerId (built CLI)', () => {
  let em: RunningEmulator;
  let tmp: string;
  /** A machine (config dir and home) with one kind of Alibaba profile only. */
  const machine = (name: string): NodeJS.ProcessEnv => {
    const home = path.join(tmp, name);
    mkdirSync(home, { recursive: true });
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, KMS_ENVELOPE_CONFIG_DIR: path.join(home, 'config') };
    // Nothing from the outer environment may add a profile or an endpoint.
    for (const k of Object.keys(env)) if (/^(ALIBABA_CLOUD_|ALICLOUD_|KMS_ENVELOPE_ENDPOINT)/.test(k)) delete env[k];
    return env;
  };
  let instanceMachine: NodeJS.ProcessEnv;
  let accessKeyMachine: NodeJS.ProcessEnv;
  const run = (env: NodeJS.ProcessEnv, args: string[], input?: string): Promise<Run> =>
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
  const gateways = () => {
    const c = em.counters();
    return { instance: c['instance:AdvanceDecrypt'] ?? 0, public: c['alibaba:Decrypt'] ?? 0 };
  };

  before(async () => {
    if (!existsSync(cli) || !existsSync(path.join(root, 'dist/cli/main.mjs')))
      execFileSync(process.execPath, ['esbuild.mjs'], { cwd: root, stdio: 'inherit' });
    em = await startEmulator({ seed: true, instance: true });
    tmp = mkdtempSync(path.join(os.tmpdir(), 'kms-cli-instance-'));
    const i = em.instance!;
    const a = em.accounts[0].alibaba;
    instanceMachine = machine('instance-only');
    const addInstance = await run(
      instanceMachine,
      [
        'profiles',
        'add',
        '--provider',
        'alibaba',
        '--name',
        'default',
        '--region',
        'cn-hangzhou',
        '--instance-endpoint',
        i.url,
        '--client-key-file',
        i.files.clientKey,
        '--ca-file',
        i.files.ca,
      ],
      `${i.clientKey.password}\n`,
    );
    assert.equal(addInstance.code, 0, addInstance.stderr);
    accessKeyMachine = machine('access-key-only');
    const addPublic = await run(
      accessKeyMachine,
      ['profiles', 'add', '--provider', 'alibaba', '--name', 'default', '--region', 'cn-hangzhou', '--endpoint', em.url],
      `${a.accessKeyId}\n${a.accessKeySecret}\n`,
    );
    assert.equal(addPublic.code, 0, addPublic.stderr);
  });
  after(async () => {
    await em?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('sealed through the instance profile, opened through the AccessKey profile', async () => {
    const file = path.join(tmp, 'via-instance.env');
    writeFileSync(file, 'DB_PASSWORD=through-the-instance\n');
    const seal = await run(instanceMachine, [
      'seal',
      file,
      '--key',
      'alibaba-instance:cn-hangzhou:alias/seed-instance-enabled',
      '-c',
      'app=billing',
    ]);
    assert.equal(seal.code, 0, seal.stderr);
    const info = await run(accessKeyMachine, ['inspect', `${file}.sealed`, '--json']);
    assert.equal(info.code, 0, info.stderr);
    const recipient = JSON.parse(info.stdout).recipients[0];
    assert.equal(recipient.providerId, 'alibaba-kms');
    assert.equal(recipient.region, 'cn-hangzhou');
    assert.match(recipient.keyId, /^key-/);

    em.resetCounters();
    const open = await run(accessKeyMachine, ['unseal', `${file}.sealed`, '-o', '-']);
    assert.equal(open.code, 0, open.stderr);
    assert.equal(open.stdout, 'DB_PASSWORD=through-the-instance\n');
    assert.deepEqual(gateways(), { instance: 0, public: 1 });
    assert.doesNotMatch(open.stderr, /alibaba-instance/, 'the instance provider, not set up on this machine, is not reported');
  });

  it('sealed through the AccessKey profile, opened through the instance profile alone', async () => {
    const file = path.join(tmp, 'via-public.env');
    writeFileSync(file, 'API_TOKEN=through-the-public-gateway\n');
    const seal = await run(accessKeyMachine, [
      'seal',
      file,
      '--key',
      'alibaba:cn-hangzhou:alias/seed-instance-enabled',
      '-c',
      'app=billing',
    ]);
    assert.equal(seal.code, 0, seal.stderr);
    em.resetCounters();
    const open = await run(instanceMachine, ['unseal', `${file}.sealed`, '-o', '-']);
    assert.equal(open.code, 0, open.stderr);
    assert.equal(open.stdout, 'API_TOKEN=through-the-public-gateway\n');
    assert.deepEqual(gateways(), { instance: 1, public: 0 });
    assert.equal(readFileSync(file, 'utf8'), 'API_TOKEN=through-the-public-gateway\n', 'the plaintext file is untouched');
  });

  it('a key of another region is not tried on the instance: the error names both regions and what to use', async () => {
    const file = path.join(tmp, 'shanghai.env');
    writeFileSync(file, 'X=1\n');
    const seal = await run(accessKeyMachine, ['seal', file, '--key', 'alibaba:cn-shanghai:alias/seed-enabled']);
    assert.equal(seal.code, 0, seal.stderr);
    em.resetCounters();
    const open = await run(instanceMachine, ['unseal', `${file}.sealed`, '-o', '-']);
    assert.notEqual(open.code, 0);
    assert.match(open.stderr, /in cn-hangzhou; key [^ ]+ is in cn-shanghai/);
    assert.match(open.stderr, /Use a profile of region cn-shanghai/);
    assert.equal(em.counters()['instance:AdvanceDecrypt'] ?? 0, 0, 'nothing sent to the instance');
  });
});
