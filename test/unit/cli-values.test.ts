// The BUILT CLI on config files, against the KMS emulator: seal --values / unseal --values (in place,
// -o, stdout; one KMS call per file, none when nothing is left to seal; stable re-seal), --rewrap, a
// plain unseal of a text with several sealed values, and exec: the values only in the child's
// environment (no file in the workspace or the temp dir holds them), exit code and signals passed on.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index';

const root = path.resolve(__dirname, '../..');
const cli = path.join(root, 'dist/cli.js');

function ensureBuilt(): void {
  if (existsSync(cli) && existsSync(path.join(root, 'dist/cli/main.mjs'))) return;
  execFileSync(process.execPath, ['esbuild.mjs'], { cwd: root, stdio: 'inherit' });
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Every file below `dir` (modified since `since`) whose bytes contain `needle`. */
function filesContaining(dir: string, needle: Buffer, since: number, out: string[] = [], depth = 0): string[] {
  if (depth > 8) return out;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const n of names) {
    const p = path.join(dir, n);
    let st;
    try {
      st = statSync(p);
    } catch {
      continue;
    }
    if (st.isDirectory()) filesContaining(p, needle, since, out, depth + 1);
    else if (st.isFile() && st.mtimeMs >= since && st.size < 64 * 1024 * 1024) {
      try {
        if (readFileSync(p).includes(needle)) out.push(p);
      } catch {
        /* unreadable: not ours */
      }
    }
  }
  return out;
}

describe('kms-envelope CLI (built): config files and exec, against the KMS emulator', () => {
  let em: RunningEmulator;
  let tmp: string;
  let env: NodeJS.ProcessEnv;
  const f = (name: string) => path.join(tmp, name);
  const start = (args: string[], e: NodeJS.ProcessEnv = env) =>
    spawn(process.execPath, [cli, ...args], { cwd: tmp, env: e, stdio: ['ignore', 'pipe', 'pipe'] });
  const run = (args: string[], e?: NodeJS.ProcessEnv): Promise<Run> =>
    new Promise((resolve, reject) => {
      const child = start(args, e);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    });
  const ok = async (args: string[], e?: NodeJS.ProcessEnv): Promise<Run> => {
    const r = await run(args, e);
    assert.equal(r.code, 0, `kms-envelope ${args.join(' ')} → ${r.code}\n${r.stderr}`);
    return r;
  };
  const calls = () => {
    const c = em.counters();
    delete c.total;
    return c;
  };

  before(async () => {
    ensureBuilt();
    em = await startEmulator({ seed: true });
    tmp = mkdtempSync(path.join(os.tmpdir(), 'kms-cli-values-'));
    const a = em.accounts.find((x) => x.name === 'default')!;
    env = {
      ...process.env,
      KMS_ENVELOPE_CONFIG_DIR: path.join(tmp, 'cfg'),
      KMS_ENVELOPE_ENDPOINT: em.url,
      TENCENTCLOUD_SECRET_ID: a.tencent.secretId,
      TENCENTCLOUD_SECRET_KEY: a.tencent.secretKey,
      ALIBABA_CLOUD_ACCESS_KEY_ID: a.alibaba.accessKeyId,
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: a.alibaba.accessKeySecret,
    };
    for (const k of ['TENCENTCLOUD_SESSION_TOKEN', 'ALIBABA_CLOUD_SECURITY_TOKEN']) delete env[k];
    // By key id: a Tencent alias costs a lookup (ListKeyDetail) the first time, which is not what is counted here.
    const keys = JSON.parse((await ok(['keys', 'list', '--provider', 'tencent', '--region', 'ap-guangzhou', '--json'])).stdout) as Array<{
      keyId: string;
      alias?: string;
    }>;
    const tcKey = keys.find((k) => k.alias === 'seed-enabled')!.keyId;
    writeFileSync(
      f('.kms-envelope.yaml'),
      `rules:\n  - path: "**/*"\n    keys: [tencent:ap-guangzhou:${tcKey}, alibaba:cn-hangzhou:alias/seed-enabled]\n    values: "(?i)(password|secret|token)"\n`,
    );
  });
  after(async () => {
    await em?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('seal --values in place: one GenerateDataKey + one Encrypt; again: nothing to seal, no KMS call, file untouched', async () => {
    const plain = '# app\nDB_PASSWORD="p@ss word"\nexport API_TOKEN=tok-1\nHOST=db\n';
    writeFileSync(f('app.env'), plain);
    em.resetCounters();
    const r = await ok(['seal', '--values', 'app.env']);
    assert.deepEqual(calls(), { 'tencent:GenerateDataKey': 1, 'alibaba:Encrypt': 1 });
    assert.match(
      r.stderr,
      /^Sealed 2 values of app\.env \(DB_PASSWORD, API_TOKEN\) for tencent:ap-guangzhou:\S+, alibaba:cn-hangzhou:\S+ → app\.env\n$/,
    );
    const sealed = readFileSync(f('app.env'), 'utf8');
    assert.match(sealed, /^# app\nDB_PASSWORD=kmsenv:f1:\S+\nexport API_TOKEN=kmsenv:f1:\S+\nHOST=db\n# kms-envelope: kmsenv:h1:\S+\n$/);
    const mtime = statSync(f('app.env')).mtimeMs;
    em.resetCounters();
    const again = await ok(['seal', '--values', 'app.env']);
    assert.match(again.stderr, /Nothing to seal in app\.env: the 2 values the policy selects are sealed already/);
    assert.deepEqual(calls(), {});
    assert.equal(statSync(f('app.env')).mtimeMs, mtime);

    // unseal --values to stdout: one Decrypt, the original bytes.
    em.resetCounters();
    const out = await ok(['unseal', '--values', 'app.env', '-o', '-']);
    assert.equal(out.stdout, plain);
    assert.deepEqual(calls(), { 'tencent:Decrypt': 1 });
    // One value edited in plaintext over its record, sealed again: one line changes, one Decrypt.
    const edited = sealed.replace(/^export API_TOKEN=\S+$/m, 'export API_TOKEN=tok-2');
    writeFileSync(f('app.env'), edited);
    em.resetCounters();
    await ok(['seal', '--values', 'app.env']);
    assert.deepEqual(calls(), { 'tencent:Decrypt': 1 });
    const resealed = readFileSync(f('app.env'), 'utf8');
    const a = sealed.split('\n');
    const b = resealed.split('\n');
    assert.deepEqual(
      a.flatMap((l, i) => (l === b[i] ? [] : [l.split('=')[0]])),
      ['export API_TOKEN'],
    );
    // unseal --values in place, then -o elsewhere needs --force to replace.
    await ok(['unseal', '--values', 'app.env']);
    assert.equal(readFileSync(f('app.env'), 'utf8'), plain.replace('tok-1', 'tok-2'));
    writeFileSync(f('taken.env'), 'x');
    const refused = await run(['seal', '--values', 'app.env', '-o', 'taken.env']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /taken\.env already exists/);
    await ok(['seal', '--values', 'app.env', '-o', 'taken.env', '--force']);
    assert.match(readFileSync(f('taken.env'), 'utf8'), /DB_PASSWORD=kmsenv:f1:/);
    assert.equal(readFileSync(f('app.env'), 'utf8'), plain.replace('tok-1', 'tok-2'), 'the input stays when -o is given');
  });

  it('--rewrap changes only the header line; a plain unseal of a text with several sealed values unseals them all', async () => {
    writeFileSync(f('values.yaml'), 'db:\n  password: s3cr3t   # comment\n  host: h\n');
    await ok(['seal', '--values', 'values.yaml']);
    const sealed = readFileSync(f('values.yaml'), 'utf8');
    writeFileSync(
      f('.kms-envelope.yaml'),
      'rules:\n  - path: "**/*"\n    keys: [alibaba:cn-hangzhou:alias/seed-enabled]\n    values: "(?i)(password|secret|token)"\n    context: {app: billing}\n',
    );
    em.resetCounters();
    await ok(['seal', '--values', 'values.yaml', '--rewrap']);
    assert.deepEqual(calls(), { 'tencent:Decrypt': 1, 'alibaba:Encrypt': 1 });
    const rewrapped = readFileSync(f('values.yaml'), 'utf8');
    assert.deepEqual(
      sealed.split('\n').flatMap((l, i) => (l === rewrapped.split('\n')[i] ? [] : [l.split(':')[0]])),
      ['kms-envelope'],
    );
    // A plain unseal of a file sealed by policy works too (-o - to stdout).
    assert.equal((await ok(['unseal', 'values.yaml', '-o', '-'])).stdout, 'db:\n  password: s3cr3t   # comment\n  host: h\n');

    // Several standalone armored values in one text (today's Seal Selection output): all unsealed, one Decrypt.
    const blobs: string[] = [];
    for (const v of ['first', 'second']) {
      writeFileSync(f('v.txt'), v);
      blobs.push((await ok(['seal', 'v.txt', '--armor', '-o', '-', '--key', 'tencent:ap-guangzhou:seed-enabled'])).stdout.trim());
    }
    writeFileSync(f('notes.md'), `# notes\na: ${blobs[0]}\nb: "${blobs[1]}"\n`);
    em.resetCounters();
    const r = await ok(['unseal', 'notes.md']);
    assert.equal(readFileSync(f('notes.md.unsealed'), 'utf8'), '# notes\na: first\nb: "second"\n');
    assert.match(r.stderr, /unsealing 2 armored values of notes\.md \(lines 2, 3\)/);
    assert.equal(calls()['tencent:Decrypt'], 2, 'each value sealed alone has its own data key');
  });

  it('exec: the values only in the child’s environment; later files win; nothing on disk holds them', async () => {
    const secret = `s-${randomBytes(12).toString('hex')}`;
    const token = `t-${randomBytes(12).toString('hex')}`;
    const since = Date.now() - 1000;
    writeFileSync(f('run.env'), `RUN_PASSWORD=${secret}\nSHARED=env\n`);
    writeFileSync(f('run.json'), `{"RUN_TOKEN": "${token}", "SHARED": "json", "PORT": 8080}\n`);
    await ok(['seal', '--values', 'run.env']);
    await ok(['seal', '--values', 'run.json']);
    assert.ok(!readFileSync(f('run.env'), 'utf8').includes(secret));
    em.resetCounters();
    const r = await ok([
      'exec',
      '--env',
      'run.env',
      '--env',
      'run.json',
      '--',
      process.execPath,
      '-e',
      'const e = process.env; process.stdout.write(JSON.stringify([e.RUN_PASSWORD, e.RUN_TOKEN, e.SHARED, e.PORT]))',
    ]);
    assert.deepEqual(JSON.parse(r.stdout), [secret, token, 'json', '8080']);
    const c = calls();
    assert.equal((c['tencent:Decrypt'] ?? 0) + (c['alibaba:Decrypt'] ?? 0), 2, `one Decrypt per file: ${JSON.stringify(c)}`);
    for (const dir of [tmp, os.tmpdir()]) {
      assert.deepEqual(filesContaining(dir, Buffer.from(secret), since), [], `no file under ${dir} holds the value`);
      assert.deepEqual(filesContaining(dir, Buffer.from(token), since), [], `no file under ${dir} holds the value`);
    }
    assert.ok(!r.stderr.includes(secret));
  });

  it('exec: exit code passed through, signals forwarded, usage errors', async () => {
    writeFileSync(f('code.env'), 'X=1\n');
    assert.equal((await run(['exec', '--env', 'code.env', '--', process.execPath, '-e', 'process.exit(7)'])).code, 7);
    const child = start([
      'exec',
      '--env',
      'code.env',
      '--',
      process.execPath,
      '-e',
      "process.on('SIGTERM', () => process.exit(42)); process.on('SIGHUP', () => process.exit(43)); console.log('ready'); setInterval(() => {}, 1000)",
    ]);
    const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()));
    child.kill('SIGTERM');
    assert.equal(await done, 42, 'SIGTERM reached the command, whose exit code came back');
    const killed = await run(['exec', '--env', 'code.env', '--', process.execPath, '-e', "process.kill(process.pid, 'SIGKILL')"]);
    assert.equal(killed.code, 128 + 9);
    const noDash = await run(['exec', '--env', 'code.env', 'node']);
    assert.equal(noDash.code, 1);
    assert.match(noDash.stderr, /exec takes its command after "--"/);
    const missing = await run(['exec', '--env', 'code.env', '--', 'no-such-command-kmsenv']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no-such-command-kmsenv: command not found/);
    const noFile = await run(['exec', '--env', 'nope.env', '--', process.execPath, '-e', '0']);
    assert.equal(noFile.code, 1);
    assert.match(noFile.stderr, /Cannot read nope\.env: no such file/);
  });
});
