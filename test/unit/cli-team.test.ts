// The BUILT CLI on sealed files in a temporary git repository, against the KMS emulator: `git setup`
// (attributes, config, hook, --remove), plaintext diffs through textconv, the merge driver (clean and
// conflicting merges of a sealed file and of a file of sealed values; no plaintext on disk), `rewrap`
// (kept EDKs: one Decrypt + one Encrypt per file; values files change in their header line only; the
// stock ESDK opens the result; the old key disabled afterwards, the new one still opens it), `check`
// (exit codes, staged mode, the pre-commit hook) and `scan` (zero KMS calls).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CommitmentPolicy, RawAesKeyringNode, RawAesWrappingSuiteIdentifier, buildClient } from '@aws-crypto/client-node';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index';
import { merge3 } from '../../src/core/git/diff3';

const root = path.resolve(__dirname, '../..');
const cli = path.join(root, 'dist/cli.js');

function ensureBuilt(): void {
  if (existsSync(cli) && existsSync(path.join(root, 'dist/cli/main.mjs'))) return;
  execFileSync(process.execPath, ['esbuild.mjs'], { cwd: root, stdio: 'inherit' });
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Every file below `dir` whose bytes contain `needle`. */
function filesContaining(dir: string, needle: Buffer, out: string[] = []): string[] {
  for (const n of readdirSync(dir)) {
    const p = path.join(dir, n);
    const st = statSync(p);
    if (st.isDirectory()) filesContaining(p, needle, out);
    else if (st.isFile() && readFileSync(p).includes(needle)) out.push(p);
  }
  return out;
}

describe('kms-envelope CLI (built): sealed files in git (git setup, textconv, merge, rewrap, check, scan)', () => {
  let em: RunningEmulator;
  let tmp: string;
  let repo: string;
  let env: NodeJS.ProcessEnv;
  let tcKey: string;
  let alKey: string;
  const r = (name: string) => path.join(repo, name);
  const run = (args: string[], cwd = repo): Promise<Run> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [cli, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  const ok = async (args: string[]): Promise<Run> => {
    const x = await run(args);
    assert.equal(x.code, 0, `kms-envelope ${args.join(' ')} → ${x.code}\n${x.stderr}`);
    return x;
  };
  /** git, run without blocking this process (the emulator answers the drivers git runs from here). */
  const git = (...args: string[]): Promise<{ code: number | null; out: string }> =>
    new Promise((resolve, reject) => {
      const child = spawn('git', args, { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, out }));
    });
  const calls = () => {
    const c = em.counters();
    delete c.total;
    return c;
  };
  /** Replaces a sealed file's plaintext (unseal to memory, seal from stdin would need a pipe: a temp plaintext OUTSIDE the repo). */
  const resealNotes = async (text: string) => {
    const plain = path.join(tmp, 'plain.txt');
    writeFileSync(plain, text);
    await ok(['seal', plain, '-o', r('notes.txt.sealed'), '--force', '--key', `tencent:ap-guangzhou:${tcKey}`]);
    rmSync(plain);
  };

  before(async () => {
    ensureBuilt();
    em = await startEmulator({ seed: true });
    tmp = mkdtempSync(path.join(os.tmpdir(), 'kms-cli-team-'));
    repo = path.join(tmp, 'repo');
    mkdirSync(repo);
    const a = em.accounts.find((x) => x.name === 'default')!;
    env = {
      ...process.env,
      KMS_ENVELOPE_CONFIG_DIR: path.join(tmp, 'cfg'),
      KMS_ENVELOPE_KEY_FILE_DIR: path.join(tmp, 'keys'),
      KMS_ENVELOPE_ENDPOINT: em.url,
      TENCENTCLOUD_SECRET_ID: a.tencent.secretId,
      TENCENTCLOUD_SECRET_KEY: a.tencent.secretKey,
      ALIBABA_CLOUD_ACCESS_KEY_ID: a.alibaba.accessKeyId,
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: a.alibaba.accessKeySecret,
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@example.com',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@example.com',
      GIT_CONFIG_NOSYSTEM: '1',
      HOME: tmp,
    };
    for (const k of ['TENCENTCLOUD_SESSION_TOKEN', 'ALIBABA_CLOUD_SECURITY_TOKEN']) delete env[k];
    const list = async (p: string, region: string) =>
      JSON.parse((await ok(['keys', 'list', '--provider', p, '--region', region, '--json'])).stdout) as Array<{
        keyId: string;
        alias?: string;
      }>;
    tcKey = (await list('tencent', 'ap-guangzhou')).find((k) => k.alias === 'seed-enabled')!.keyId;
    alKey = (await list('alibaba', 'cn-hangzhou')).find((k) => /seed-enabled/.test(k.alias ?? ''))!.keyId;
    await git('init', '-q', '-b', 'main');
    writeFileSync(
      r('.kms-envelope.yaml'),
      `rules:\n  - path: "config/*.env"\n    keys: [tencent:ap-guangzhou:${tcKey}]\n    values: "(?i)(password|token)"\n`,
    );
    mkdirSync(r('config'));
    writeFileSync(r('config/app.env'), 'HOST=db\nDB_PASSWORD=hunter2\nAPI_TOKEN=tok-1\nPORT=1\n');
    await ok(['seal', '--values', 'config/app.env']);
    await resealNotes('line1\nsecret one\nline3\nline4\nline5\n');
  });
  after(async () => {
    await em?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('diff3 agrees with git merge-file on clean and conflicting merges', () => {
    const cases: Array<[string, string, string]> = [
      ['a\nb\nc\nd\ne\n', 'a\nB\nc\nd\ne\n', 'a\nb\nc\nD\ne\n'],
      ['a\nb\nc\n', 'a\nX\nc\n', 'a\nY\nc\n'],
      ['a\nb\nc\n', 'a\nb\nc\nd\n', 'z\na\nb\nc\n'],
      ['k=1\nA=2\nB=3\n', 'k=1\nA=22\nB=3\nC=4\n', 'k=1\nA=2\nB=33\n'],
      ['a\nb\nc\n', 'a\nq\nr\nc\n', 'a\nq\ns\nc\n'],
    ];
    for (const [o, a, b] of cases) {
      for (const [n, t] of Object.entries({ o, a, b })) writeFileSync(path.join(tmp, n), t);
      let expected: string;
      try {
        expected = execFileSync('git', ['merge-file', '-p', '-L', 'ours', '-L', 'base', '-L', 'theirs', 'a', 'o', 'b'], {
          cwd: tmp,
          encoding: 'utf8',
        });
      } catch (e) {
        expected = (e as { stdout: string }).stdout;
      }
      assert.equal(merge3(o, a, b).text, expected);
    }
  });

  it('git setup writes .gitattributes, the repository config and the hook; --remove takes them out; git diff shows plaintext', async () => {
    const setup = await ok(['git', 'setup', '--pre-commit']);
    assert.match(setup.stderr, /\/config\/\*\.env → diff=kms-envelope merge=kms-envelope/);
    assert.match(readFileSync(r('.gitattributes'), 'utf8'), /^\*\.sealed diff=kms-envelope merge=kms-envelope$/m);
    assert.match((await git('config', 'diff.kms-envelope.textconv')).out, /textconv$/m);
    assert.match((await git('config', 'merge.kms-envelope.driver')).out, /merge %O %A %B %P$/m);
    assert.equal((await git('config', 'diff.kms-envelope.cachetextconv')).code, 1, 'textconv output is never cached');
    assert.ok(existsSync(r('.git/hooks/pre-commit')));
    await ok(['git', 'setup', '--remove']);
    assert.ok(!existsSync(r('.gitattributes')));
    assert.ok(!existsSync(r('.git/hooks/pre-commit')));
    assert.equal((await git('config', 'diff.kms-envelope.textconv')).code, 1);
    await ok(['git', 'setup', '--pre-commit']);
    assert.equal((await git('add', '-A')).code, 0);
    assert.equal((await git('commit', '-qm', 'init')).code, 0);

    await resealNotes('line1\nsecret two\nline3\nline4\nline5\n');
    writeFileSync(r('config/app.env'), readFileSync(r('config/app.env'), 'utf8').replace(/^API_TOKEN=.*$/m, 'API_TOKEN=tok-2'));
    await ok(['seal', '--values', 'config/app.env']);
    const diff = (await git('diff')).out;
    assert.match(diff, /^-secret one$/m);
    assert.match(diff, /^\+secret two$/m);
    assert.match(diff, /^-API_TOKEN=tok-1$/m);
    assert.match(diff, /^\+API_TOKEN=tok-2$/m);
    assert.doesNotMatch(diff, /kmsenv:/, 'the diff shows plaintext, not records');
    // Without the attributes the diff is of sealed bytes (the positive control for the above).
    assert.doesNotMatch((await git('-c', 'diff.kms-envelope.textconv=cat', 'diff', '--', 'config/app.env')).out, /^\+API_TOKEN=tok-2$/m);
    await git('commit', '-qam', 'two');
  });

  it('merge driver: a clean merge of both kinds, then a conflict with its markers inside the sealed content', async () => {
    const base = (await git('rev-parse', 'HEAD')).out.trim();
    await git('checkout', '-q', '-b', 'theirs');
    await resealNotes('line1\nsecret two\nline3\nline4\nline5-theirs\n');
    writeFileSync(r('config/app.env'), readFileSync(r('config/app.env'), 'utf8').replace('PORT=1', 'PORT=2'));
    await git('commit', '-qam', 'theirs');
    await git('checkout', '-q', 'main');
    await resealNotes('line1-ours\nsecret two\nline3\nline4\nline5\n');
    writeFileSync(r('config/app.env'), readFileSync(r('config/app.env'), 'utf8').replace(/^DB_PASSWORD=.*$/m, 'DB_PASSWORD=new-pass'));
    await ok(['seal', '--values', 'config/app.env']);
    await git('commit', '-qam', 'ours');
    const m = await git('merge', 'theirs', '-m', 'merge');
    assert.equal(m.code, 0, m.out);
    assert.equal((await ok(['unseal', 'notes.txt.sealed', '-o', '-'])).stdout, 'line1-ours\nsecret two\nline3\nline4\nline5-theirs\n');
    assert.equal(
      (await ok(['unseal', '--values', 'config/app.env', '-o', '-'])).stdout,
      'HOST=db\nDB_PASSWORD=new-pass\nAPI_TOKEN=tok-2\nPORT=2\n',
    );
    assert.match(readFileSync(r('config/app.env'), 'utf8'), /^DB_PASSWORD=kmsenv:f1:/m, 'sealed values stay sealed');
    assert.ok(base);

    // Both sides change the same line.
    const marker = `conflict-${randomBytes(6).toString('hex')}`;
    await git('checkout', '-q', '-b', 'b2');
    await resealNotes(`line1-ours\nsecret two\nline3-B-${marker}\nline4\nline5-theirs\n`);
    writeFileSync(r('config/app.env'), readFileSync(r('config/app.env'), 'utf8').replace(/^API_TOKEN=.*$/m, `API_TOKEN=B-${marker}`));
    await ok(['seal', '--values', 'config/app.env']);
    await git('commit', '-qam', 'b2');
    await git('checkout', '-q', 'main');
    await resealNotes(`line1-ours\nsecret two\nline3-A-${marker}\nline4\nline5-theirs\n`);
    writeFileSync(r('config/app.env'), readFileSync(r('config/app.env'), 'utf8').replace(/^API_TOKEN=.*$/m, `API_TOKEN=A-${marker}`));
    await ok(['seal', '--values', 'config/app.env']);
    await git('commit', '-qam', 'a2');
    const c = await git('merge', 'b2', '-m', 'm2');
    assert.notEqual(c.code, 0);
    assert.match((await git('status', '--short')).out, /^UU config\/app\.env$/m);
    assert.match((await git('status', '--short')).out, /^UU notes\.txt\.sealed$/m);
    const envText = readFileSync(r('config/app.env'), 'utf8');
    assert.match(
      envText,
      /^<<<<<<< ours \(app\.env\)\nAPI_TOKEN=kmsenv:f1:\S+\n=======\nAPI_TOKEN=kmsenv:f1:\S+\n>>>>>>> theirs \(app\.env\)$/m,
    );
    assert.equal(
      (await ok(['unseal', 'notes.txt.sealed', '-o', '-'])).stdout,
      `line1-ours\nsecret two\n<<<<<<< ours (notes.txt.sealed)\nline3-A-${marker}\n=======\nline3-B-${marker}\n>>>>>>> theirs (notes.txt.sealed)\nline4\nline5-theirs\n`,
    );
    assert.match(
      (await ok(['unseal', '--values', 'config/app.env', '-o', '-'])).stdout,
      new RegExp(`<<<<<<< ours \\(app\\.env\\)\\nAPI_TOKEN=A-${marker}\\n=======\\nAPI_TOKEN=B-${marker}\\n>>>>>>> theirs`),
    );
    // No plaintext of the conflict anywhere in the repository, .git included (positive control: the marker is findable).
    assert.deepEqual(filesContaining(repo, Buffer.from(marker)), []);
    writeFileSync(path.join(tmp, 'control.txt'), marker);
    assert.deepEqual(filesContaining(tmp, Buffer.from(marker)), [path.join(tmp, 'control.txt')]);
    rmSync(path.join(tmp, 'control.txt'));
    await git('merge', '--abort');
  });

  it('rewrap --add-key: one Decrypt + one Encrypt per file, values files change their header line only, the stock ESDK opens it', async () => {
    await ok(['keys', 'create', '--provider', 'local', '--alias', 'team-new']);
    // A local-key file, for the stock-ESDK check.
    const plain = path.join(tmp, 'local.txt');
    writeFileSync(plain, 'local secret\n');
    await ok(['seal', plain, '-o', r('local.txt.sealed'), '--key', `tencent:ap-guangzhou:${tcKey}`]);
    rmSync(plain);
    const beforeEnv = readFileSync(r('config/app.env'), 'utf8');
    const dry = await ok(['rewrap', '.', '--add-key', `alibaba:cn-hangzhou:${alKey}`, '--dry-run']);
    assert.match(dry.stderr, /Would re-wrap 3 of 3 sealed files/);
    em.resetCounters();
    await ok(['rewrap', '.', '--add-key', `alibaba:cn-hangzhou:${alKey}`]);
    const c = Object.fromEntries(Object.entries(calls()).filter(([k]) => /:(Decrypt|Encrypt|GenerateDataKey)$/.test(k)));
    assert.deepEqual(c, { 'tencent:Decrypt': 3, 'alibaba:Encrypt': 3 }, 'one Decrypt + one Encrypt per file');
    const afterEnv = readFileSync(r('config/app.env'), 'utf8');
    const diffLines = beforeEnv.split('\n').filter((l, i) => l !== afterEnv.split('\n')[i]);
    assert.equal(diffLines.length, 1);
    assert.match(diffLines[0]!, /^# kms-envelope: kmsenv:h1:/);
    em.resetCounters();
    const again = await ok(['rewrap', '.', '--add-key', `alibaba:cn-hangzhou:${alKey}`]);
    assert.match(again.stderr, /Re-wrapped 0 of 3/);
    assert.deepEqual(
      Object.keys(calls()).filter((k) => /:(Decrypt|Encrypt|GenerateDataKey)$/.test(k)),
      [],
      'already a recipient: no KMS call',
    );

    // Add a local key, then open it with the stock ESDK and the exported key material.
    await ok(['rewrap', 'local.txt.sealed', '--add-key', 'local:local:team-new']);
    const exported = JSON.parse((await ok(['keys', 'export', '--key', 'team-new', '--out', '-'])).stdout) as {
      keyId: string;
      material: string;
    };
    const keyring = new RawAesKeyringNode({
      keyName: exported.keyId,
      keyNamespace: 'local',
      unencryptedMasterKey: new Uint8Array(Buffer.from(exported.material, 'base64')),
      wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
    });
    const { plaintext } = await buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT).decrypt(
      keyring,
      readFileSync(r('local.txt.sealed')),
    );
    assert.equal(Buffer.from(plaintext).toString(), 'local secret\n');

    // The old key disabled afterwards: the file still opens with the new one.
    await ok(['keys', 'disable', '--provider', 'tencent', '--region', 'ap-guangzhou', '--key', tcKey]);
    try {
      em.resetCounters();
      assert.equal((await ok(['unseal', 'notes.txt.sealed', '-o', '-'])).stdout.split('\n')[0], 'line1-ours');
      assert.equal(calls()['alibaba:Decrypt'], 1);
      assert.match((await ok(['unseal', '--values', 'config/app.env', '-o', '-'])).stdout, /^DB_PASSWORD=new-pass$/m);
    } finally {
      await ok(['keys', 'enable', '--provider', 'tencent', '--region', 'ap-guangzhou', '--key', tcKey]);
    }
    // --remove-key keeps the rest; --to with --rotate-data-key: a fresh data key.
    const removed = await ok(['rewrap', 'notes.txt.sealed', '--remove-key', `tencent:ap-guangzhou:${tcKey}`, '--json']);
    assert.deepEqual((JSON.parse(removed.stdout) as Array<{ after: string[] }>)[0]!.after, [`alibaba:cn-hangzhou:${alKey}`]);
    const refused = await run(['rewrap', 'notes.txt.sealed', '--remove-key', `alibaba:cn-hangzhou:${alKey}`]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /would leave no recipient/);
    em.resetCounters();
    await ok(['rewrap', 'config/app.env', '--to', `tencent:ap-guangzhou:${tcKey}`, '--rotate-data-key']);
    assert.equal(calls()['tencent:GenerateDataKey'], 1);
    const rotated = readFileSync(r('config/app.env'), 'utf8');
    assert.notEqual(rotated.match(/^DB_PASSWORD=(\S+)$/m)![1], afterEnv.match(/^DB_PASSWORD=(\S+)$/m)![1], 'every record changes');
    assert.match((await ok(['unseal', '--values', 'config/app.env', '-o', '-'])).stdout, /^DB_PASSWORD=new-pass$/m);
  });

  it('check: exit 0 when clean, 5 with file:line key for a plaintext value and a broken blob; the pre-commit hook refuses', async () => {
    const clean = await run(['check']);
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
    writeFileSync(r('config/app.env'), readFileSync(r('config/app.env'), 'utf8') + 'NEW_PASSWORD=plain\n');
    writeFileSync(r('broken.sealed'), Buffer.from([2, 4, 0x78, 0, 1, 2, 3]));
    const found = await run(['check']);
    assert.equal(found.code, 5);
    assert.match(found.stdout, /^config\/app\.env:6 NEW_PASSWORD is not sealed$/m);
    assert.match(found.stdout, /^broken\.sealed:1 \(file\): broken: /m);
    const json = JSON.parse((await run(['check', 'config', '--json'])).stdout) as Array<{ file: string; line: number; key: string }>;
    assert.deepEqual(
      json.map((f) => `${f.file}:${f.line} ${f.key}`),
      ['config/app.env:6 NEW_PASSWORD'],
    );
    rmSync(r('broken.sealed'));
    await git('add', 'config/app.env');
    const staged = await run(['check', '--staged']);
    assert.equal(staged.code, 5);
    const commit = await git('commit', '-qm', 'leak');
    assert.notEqual(commit.code, 0, 'the pre-commit hook refuses');
    assert.match(commit.out, /NEW_PASSWORD is not sealed/);
    await ok(['seal', '--values', 'config/app.env']);
    await git('add', 'config/app.env');
    assert.equal((await run(['check', '--staged'])).code, 0);
  });

  it('scan: per key, the files and values naming it, with zero KMS calls', async () => {
    em.resetCounters();
    const out = JSON.parse((await ok(['scan', '--json'])).stdout) as Array<{
      key: string;
      fileCount: number;
      valueCount: number;
      files: Array<{ file: string }>;
    }>;
    assert.deepEqual(calls(), {}, 'headers only');
    const tc = out.find((u) => u.key === `tencent:ap-guangzhou:${tcKey}`)!;
    assert.deepEqual(tc.files.map((f) => f.file).sort(), ['config/app.env', 'local.txt.sealed']);
    assert.equal(tc.valueCount, 3);
    const al = out.find((u) => u.key === `alibaba:cn-hangzhou:${alKey}`)!;
    assert.deepEqual(al.files.map((f) => f.file).sort(), ['local.txt.sealed', 'notes.txt.sealed']);
    const table = (await ok(['scan'])).stdout;
    assert.match(table, /^KEY\s+FILES\s+VALUES\s+WHERE$/m);
  });
});
