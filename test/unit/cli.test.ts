// The BUILT command line (`node dist/cli.js`, built by esbuild.mjs) end to end on local keys in the
// real OS keychain (scripts/with-keyring.sh): round trips, stdin/stdout, armor, context, tampering,
// exit codes, overwrite refusal, keys commands with --json, export/import to another "machine",
// the key-file opt-in, the keychain being absent, and Ctrl-C.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(__dirname, '../..');
const cli = path.join(root, 'dist/cli.js');
const inKeyring = process.env.KMS_ENVELOPE_IN_KEYRING === '1';

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
  stdout: Buffer;
  stderr: string;
}

describe('kms-envelope CLI (built)', { skip: !inKeyring && 'run under scripts/with-keyring.sh (npm test does)' }, () => {
  let tmp: string;
  let env: NodeJS.ProcessEnv;
  let keyId: string;
  const run = (args: string[], opts: { input?: Buffer | string; env?: NodeJS.ProcessEnv } = {}): Run => {
    const r = spawnSync(process.execPath, [cli, ...args], { cwd: tmp, env: opts.env ?? env, input: opts.input ?? '', timeout: 60_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
  };
  const ok = (args: string[], opts?: { input?: Buffer | string; env?: NodeJS.ProcessEnv }): Run => {
    const r = run(args, opts);
    assert.equal(r.code, 0, `kms-envelope ${args.join(' ')} → ${r.code}\n${r.stderr}`);
    return r;
  };
  const f = (name: string) => path.join(tmp, name);
  const leftovers = () => readdirSync(tmp).filter((n) => n.endsWith('.tmp'));

  before(() => {
    ensureBuilt();
    tmp = mkdtempSync(path.join(os.tmpdir(), 'kms-cli-'));
    env = { ...process.env, KMS_ENVELOPE_CONFIG_DIR: path.join(tmp, 'cfg') };
    delete env.KMS_ENVELOPE_KEY_FILE_DIR;
    const created = JSON.parse(
      ok(['keys', 'create', '--provider', 'local', '--alias', 'team-key', '--description', 'CLI tests', '--json']).stdout.toString(),
    );
    keyId = created.keyId;
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('--version, --help of every command, unknown command', () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
    assert.equal(ok(['--version']).stdout.toString(), `kms-envelope ${pkg.version}\n`);
    for (const c of ['seal', 'unseal', 'inspect', 'keys'])
      assert.match(ok([c, '--help']).stdout.toString(), new RegExp(`Usage: kms-envelope ${c}`));
    assert.match(ok(['--help']).stdout.toString(), /keyref/);
    const r = run(['frobnicate']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^kms-envelope: unknown command "frobnicate"\.\n {2}→ /);
  });

  it('seal → inspect → unseal is byte-identical for 0 B, 1 KiB and 3 MiB (multi-frame)', () => {
    for (const [name, size] of [
      ['empty.bin', 0],
      ['one-k.bin', 1024],
      ['three-m.bin', 3 * 1024 * 1024 + 17],
    ] as const) {
      const data = randomBytes(size);
      writeFileSync(f(name), data);
      ok(['seal', name, '--key', 'local:local:team-key', '--context', 'purpose=test', '--context', 'file=' + name]);
      const sealed = readFileSync(f(`${name}.sealed`));
      assert.deepEqual([...sealed.subarray(0, 3)], [0x02, 0x04, 0x78], 'ESDK v2, suite 0x0478');
      assert.ok(!sealed.includes(data.subarray(0, Math.min(size, 64))) || size === 0);
      const info = JSON.parse(ok(['inspect', `${name}.sealed`, '--json']).stdout.toString());
      assert.equal(info.suiteId, 0x0478);
      assert.deepEqual(info.context, { purpose: 'test', file: name });
      assert.deepEqual(
        info.recipients.map((r: { provider: string; region: string; keyId: string }) => `${r.provider}:${r.region}:${r.keyId}`),
        [`local:local:${keyId}`],
      );
      rmSync(f(name));
      ok(['unseal', `${name}.sealed`]);
      assert.ok(readFileSync(f(name)).equals(data), `${name} round trip`);
    }
    const human = ok(['inspect', 'one-k.bin.sealed']).stdout.toString();
    assert.match(human, /suite 0x0478 \(ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY\)/);
    assert.match(human, new RegExp(`1\\. local:local:${keyId}`));
    assert.match(human, /purpose=test/);
  });

  it('stdin → stdout both ways, and to a file', () => {
    const data = randomBytes(200_000);
    const sealed = ok(['seal', '-', '--key', 'local:local:team-key'], { input: data }).stdout;
    assert.deepEqual([...sealed.subarray(0, 3)], [0x02, 0x04, 0x78]);
    assert.ok(ok(['unseal', '-'], { input: sealed }).stdout.equals(data));
    ok(['unseal', '-', '-o', 'from-stdin.bin'], { input: sealed });
    assert.ok(readFileSync(f('from-stdin.bin')).equals(data));
    assert.match(ok(['inspect', '-'], { input: sealed }).stdout.toString(), /local:local:local-/);
  });

  it('--armor writes one kmsenv:v1: line; unseal detects armor, also inside a config file', () => {
    writeFileSync(f('db.txt'), 'hunter2\n');
    ok(['seal', 'db.txt', '--armor', '--key', 'local:local:team-key']);
    const text = readFileSync(f('db.txt.sealed.txt'), 'utf8');
    assert.match(text, /^kmsenv:v1:AgR4[A-Za-z0-9+/]+=*\n$/);
    ok(['unseal', 'db.txt.sealed.txt', '-o', 'db.out']);
    assert.equal(readFileSync(f('db.out'), 'utf8'), 'hunter2\n');
    // armored on stdout, then piped back
    const armored = ok(['seal', '-', '--armor', '--key', 'local:local:team-key'], { input: 'piped' }).stdout.toString();
    assert.equal(ok(['unseal', '-'], { input: armored }).stdout.toString(), 'piped');
    // one armored value inside a YAML file
    writeFileSync(f('config.yaml'), `db:\n  host: example\n  password: ${text.trim()}\n`);
    const r = ok(['unseal', 'config.yaml', '-o', '-']);
    assert.equal(r.stdout.toString(), 'hunter2\n');
    assert.match(r.stderr, /line 3 of config\.yaml/);
    // a large armored file streams through (3 MiB)
    const big = randomBytes(3 * 1024 * 1024);
    writeFileSync(f('big.bin'), big);
    ok(['seal', 'big.bin', '--armor', '--key', 'local:local:team-key']);
    ok(['unseal', 'big.bin.sealed.txt', '-o', 'big.out']);
    assert.ok(readFileSync(f('big.out')).equals(big));
    // damaged armor → exit 2
    const cut = text.trim().slice(0, -3) + '!!!';
    writeFileSync(f('cut.txt'), cut);
    const bad = run(['unseal', 'cut.txt', '-o', 'cut.out']);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /cut\.txt/);
    assert.ok(!existsSync(f('cut.out')));
  });

  it('--context: a required entry that differs or is missing → exit 2, no output', () => {
    writeFileSync(f('ctx.txt'), 'ctx');
    ok(['seal', 'ctx.txt', '--key', 'local:local:team-key', '--context', 'env=prod']);
    ok(['unseal', 'ctx.txt.sealed', '-o', 'ctx.ok', '--context', 'env=prod']);
    for (const c of ['env=dev', 'tenant=a']) {
      const r = run(['unseal', 'ctx.txt.sealed', '-o', 'ctx.bad', '--context', c]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /^kms-envelope: ctx\.txt\.sealed: .*context/m);
      assert.match(r.stderr, /\n {2}→ /);
      assert.ok(!existsSync(f('ctx.bad')));
    }
    assert.equal(run(['seal', 'ctx.txt', '--key', 'local:local:team-key', '--context', 'novalue']).code, 1);
  });

  it('tampered or truncated blobs → exit 2 naming the file, no output file, no temp file left', () => {
    const data = randomBytes(3 * 1024 * 1024);
    writeFileSync(f('t.bin'), data);
    ok(['seal', 't.bin', '--key', 'local:local:team-key']);
    const blob = readFileSync(f('t.bin.sealed'));
    const variants: Array<[string, Buffer]> = [
      ['header byte', Buffer.from(blob)],
      ['body byte (second frame)', Buffer.from(blob)],
      ['last byte', Buffer.from(blob)],
      ['truncated', blob.subarray(0, blob.length - 1000)],
    ];
    variants[0]![1][40] ^= 0x01;
    variants[1]![1][Math.floor(blob.length / 2)] ^= 0x80;
    variants[2]![1][blob.length - 1] ^= 0x01;
    for (const [what, bytes] of variants) {
      writeFileSync(f('bad.sealed'), bytes);
      const r = run(['unseal', 'bad.sealed', '-o', 'bad.out']);
      assert.equal(r.code, 2, `${what}: ${r.stderr}`);
      assert.match(r.stderr, /^kms-envelope: .*bad\.sealed/, what);
      assert.ok(!existsSync(f('bad.out')), `${what}: no output`);
      assert.deepEqual(leftovers(), [], `${what}: no temp file`);
    }
    writeFileSync(f('plain.txt'), 'just text, not a blob\n');
    const r = run(['unseal', 'plain.txt']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /plain\.txt is not a KMS Envelope blob/);
    writeFileSync(f('zero.sealed'), '');
    assert.equal(run(['unseal', 'zero.sealed']).code, 2);
    assert.equal(run(['inspect', 'plain.txt']).code, 2);
  });

  it('usage errors exit 1: bad keyref, unknown provider, no key, missing input, unknown option', () => {
    writeFileSync(f('u.txt'), 'u');
    const cases: Array<[string[], RegExp]> = [
      [['seal', 'u.txt', '--key', 'team-key'], /"team-key" is not a keyref/],
      [['seal', 'u.txt', '--key', 'gcp:us:k'], /Unknown provider "gcp"/],
      [['seal', 'u.txt'], /needs at least one --key/],
      [['seal', 'missing.txt', '--key', 'local:local:team-key'], /missing\.txt: no such file/],
      [['seal', 'u.txt', '--key', 'local:local:team-key', '--bogus'], /Unknown option '--bogus'/],
      [['seal', 'u.txt', '--key', 'local:eu:team-key'], /one region, "local"/],
    ];
    for (const [args, re] of cases) {
      const r = run(args);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.match(r.stderr, /^kms-envelope: .*\n {2}→ .+/);
    }
  });

  it('a disabled key → exit 3 naming key, region and the enable command, for seal and unseal', () => {
    ok(['keys', 'create', '--alias', 'to-disable']);
    writeFileSync(f('d.txt'), 'd');
    ok(['seal', 'd.txt', '--key', 'local:local:to-disable']);
    ok(['keys', 'disable', '--provider', 'local', '--key', 'to-disable']);
    const id = JSON.parse(ok(['keys', 'describe', '--key', 'to-disable', '--json']).stdout.toString()).keyId as string;
    for (const args of [
      ['unseal', 'd.txt.sealed', '-o', 'd.out'],
      ['seal', 'd.txt', '-o', 'd2.sealed', '--key', 'local:local:to-disable'],
    ]) {
      const r = run(args);
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, new RegExp(`Local key ${id} \\(to-disable\\) in region local is disabled`));
      assert.ok(r.stderr.includes(`kms-envelope keys enable --provider local --key ${id}`), r.stderr);
      assert.ok(!existsSync(f('d.out')) && !existsSync(f('d2.sealed')));
    }
    ok(['keys', 'enable', '--key', id]);
    ok(['unseal', 'd.txt.sealed', '-o', 'd.out']);
  });

  it('refuses to overwrite an existing output without --force, and never touches the input', () => {
    writeFileSync(f('o.txt'), 'original');
    writeFileSync(f('o.txt.sealed'), 'precious');
    const r = run(['seal', 'o.txt', '--key', 'local:local:team-key']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /o\.txt\.sealed already exists/);
    assert.match(r.stderr, /--force/);
    assert.equal(readFileSync(f('o.txt.sealed'), 'utf8'), 'precious');
    ok(['seal', 'o.txt', '--key', 'local:local:team-key', '--force']);
    assert.equal(readFileSync(f('o.txt'), 'utf8'), 'original');
    const u = run(['unseal', 'o.txt.sealed']);
    assert.equal(u.code, 1, 'o.txt exists');
    assert.equal(run(['seal', 'o.txt', '-o', 'o.txt', '--key', 'local:local:team-key', '--force']).code, 1, 'output = input');
    assert.equal(readFileSync(f('o.txt'), 'utf8'), 'original');
  });

  it('a symbolic link at -o, even a dangling one, is an existing output: refused without --force; --force replaces the link, not its target, and says so', () => {
    mkdirSync(f('links'), { recursive: true });
    writeFileSync(f('links/plain.txt'), 'linked secret');
    ok(['seal', 'links/plain.txt', '--key', 'local:local:team-key']);
    symlinkSync('nowhere/missing.txt', f('links/dangling'));
    symlinkSync('victim.txt', f('links/to-victim'));
    writeFileSync(f('links/victim.txt'), 'do not overwrite me');
    for (const [link, target] of [
      ['dangling', 'nowhere/missing.txt, which does not exist'],
      ['to-victim', 'victim.txt'],
    ] as const) {
      const r = run(['unseal', 'links/plain.txt.sealed', '-o', `links/${link}`]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`links/${link} already exists \\(a symbolic link to ${target}\\)`));
      assert.match(r.stderr, /--force to replace the link itself/);
      assert.ok(lstatSync(f(`links/${link}`)).isSymbolicLink(), 'the link is still there');
    }
    assert.equal(run(['keys', 'export', '--key', 'team-key', '--out', 'links/dangling']).code, 1, 'keys export refuses it too');
    assert.ok(!existsSync(f('links/nowhere')), 'nothing was written through the link');

    const r = ok(['unseal', 'links/plain.txt.sealed', '-o', 'links/to-victim', '--force']);
    assert.match(
      r.stderr,
      /replaced the symbolic link links\/to-victim \(a symbolic link to victim\.txt\) with the output; the file it pointed to was not touched/,
    );
    assert.ok(lstatSync(f('links/to-victim')).isFile());
    assert.equal(readFileSync(f('links/to-victim'), 'utf8'), 'linked secret');
    assert.equal(readFileSync(f('links/victim.txt'), 'utf8'), 'do not overwrite me');
    const d = ok(['unseal', 'links/plain.txt.sealed', '-o', 'links/dangling', '--force']);
    assert.match(d.stderr, /replaced the symbolic link links\/dangling \(a symbolic link to nowhere\/missing\.txt, which does not exist\)/);
    assert.equal(readFileSync(f('links/dangling'), 'utf8'), 'linked secret');
  });

  it('an encryption context over the format limit is a usage error (exit 1), no output', () => {
    writeFileSync(f('b.txt'), 'bounded');
    const big = run(['seal', 'b.txt', '--key', 'local:local:team-key', '--context', `k=${'x'.repeat(70_000)}`]);
    assert.equal(big.code, 1, big.stderr);
    assert.match(big.stderr, /encryption context takes 70007 bytes in the header, more than the format's limit of 65535 bytes/);
    assert.ok(!existsSync(f('b.txt.sealed')));
  });

  it('a corrupt header length is named in words, never with the parser internal text', () => {
    writeFileSync(f('b.txt'), 'bounded');
    ok(['seal', 'b.txt', '--key', 'local:local:team-key', '-o', 'b.sealed']);
    const bad = readFileSync(f('b.sealed'));
    bad.writeUInt16BE(1, 35); // a one-byte context section
    writeFileSync(f('b-bad.sealed'), bad);
    for (const cmd of ['unseal', 'inspect']) {
      const r = run([cmd, 'b-bad.sealed', '-o', 'b-bad.out'].slice(0, cmd === 'inspect' ? 2 : 4));
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /b-bad\.sealed: malformed header: the encryption context section is corrupt/);
      assert.doesNotMatch(r.stderr, /DataView|Offset|bounds/);
    }
  });

  it('a 50 MB .env with one armored value near its end is unsealed (no search limit)', () => {
    const value = ok(['seal', '-', '--armor', '--key', 'local:local:team-key'], { input: 'deep value' }).stdout.toString().trim();
    const filler = Buffer.alloc(50 * 1024 * 1024, 'FILLER=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ+/==\n');
    const lines = filler.toString('latin1').split('\n').length;
    writeFileSync(f('big.env'), Buffer.concat([filler, Buffer.from(`SECRET=${value}\nTAIL=1\n`)]));
    const deep = ok(['unseal', 'big.env', '-o', '-']);
    assert.equal(deep.stdout.toString(), 'deep value');
    assert.match(deep.stderr, new RegExp(`line ${lines} of big\\.env`));
  });

  it('file names with control or bidi characters are escaped in messages', () => {
    const evil = 'evil\n\x1b[31mname\u202e.txt';
    writeFileSync(f(evil), 'plain text, not sealed\n');
    for (const args of [
      ['unseal', evil],
      ['inspect', evil],
      ['seal', `${evil}.missing`, '--key', 'local:local:team-key'],
    ]) {
      const r = run(args);
      assert.notEqual(r.code, 0);
      assert.ok(!/[\x00-\x08\x0b-\x1f\x7f\u202e]/.test(r.stderr), `raw control character in: ${JSON.stringify(r.stderr)}`);
      assert.match(r.stderr, /^kms-envelope: .*"evil\\n\\u001b\[31mname\\u202e\.txt/);
      assert.equal(r.stderr.trimEnd().split('\n').length, 2, 'one message line and one hint line');
    }
    const sealed = ok(['seal', evil, '--key', 'local:local:team-key']);
    assert.match(sealed.stderr, /^Sealed "evil\\n\\u001b\[31mname\\u202e\.txt" → "evil\\n\\u001b\[31mname\\u202e\.txt\.sealed" for /);
    assert.ok(existsSync(f(`${evil}.sealed`)));
  });

  it('keys: create/list/describe/alias/description/disable/enable/schedule/cancel with --json and tables', () => {
    const k = JSON.parse(ok(['keys', 'create', '--alias', 'k-json', '--description', 'first', '--json']).stdout.toString());
    assert.match(k.keyId, /^local-/);
    assert.equal(k.state, 'Enabled');
    const list = JSON.parse(ok(['keys', 'list', '--provider', 'local', '--json']).stdout.toString()) as Array<{
      keyId: string;
      alias?: string;
    }>;
    assert.ok(list.some((x) => x.keyId === k.keyId && x.alias === 'k-json'));
    const table = ok(['keys', 'list']).stdout.toString();
    assert.match(table, /^KEY ID +ALIAS +STATE +CREATED +DESCRIPTION$/m);
    assert.match(table, new RegExp(`^${k.keyId} +k-json +Enabled `, 'm'));
    assert.match(table, /Key material: the OS keychain/);
    assert.equal(
      JSON.parse(ok(['keys', 'alias', '--key', 'k-json', '--alias', 'k-renamed', '--json']).stdout.toString()).alias,
      'k-renamed',
    );
    assert.equal(
      JSON.parse(ok(['keys', 'description', '--key', 'k-renamed', '--description', 'second', '--json']).stdout.toString()).description,
      'second',
    );
    const taken = run(['keys', 'alias', '--key', 'k-renamed', '--alias', 'team-key']);
    assert.equal(taken.code, 3);
    assert.match(taken.stderr, /alias "team-key" is already used/);
    assert.equal(run(['keys', 'schedule-deletion', '--key', 'k-renamed']).code, 3, 'enabled key: disable first');
    ok(['keys', 'disable', '--key', 'k-renamed']);
    const sched = JSON.parse(ok(['keys', 'schedule-deletion', '--key', 'k-renamed', '--json']).stdout.toString());
    assert.equal(sched.state, 'PendingDeletion');
    const days = (Date.parse(sched.deletionDate) - Date.now()) / 86_400_000;
    assert.ok(days > 29.9 && days <= 30, `default window 30 days, got ${days}`);
    assert.equal(run(['keys', 'schedule-deletion', '--key', 'k-renamed', '--days', '3']).code, 1);
    assert.equal(JSON.parse(ok(['keys', 'cancel-deletion', '--key', 'k-renamed', '--json']).stdout.toString()).state, 'Disabled');
    const desc = ok(['keys', 'describe', '--key', k.keyId]).stdout.toString();
    assert.match(desc, /^state +Disabled$/m);
    assert.match(desc, /^keyref +local:local:k-renamed$/m);
    const missing = run(['keys', 'describe', '--key', 'nope']);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /no local key "nope"/);
    assert.equal(run(['keys', 'teleport']).code, 1);
    assert.equal(run(['keys', 'describe']).code, 1, 'needs --key');
  });

  it('export → import on another machine (key files) opens blobs sealed before; export refuses a terminal-less overwrite', () => {
    writeFileSync(f('shared.txt'), 'team secret');
    ok(['seal', 'shared.txt', '--key', 'local:local:team-key']);
    ok(['keys', 'export', '--key', 'team-key', '--out', 'team-key.json']);
    assert.equal(statSync(f('team-key.json')).mode & 0o777, 0o600);
    assert.equal(run(['keys', 'export', '--key', 'team-key', '--out', 'team-key.json']).code, 1, 'no overwrite');
    const doc = JSON.parse(readFileSync(f('team-key.json'), 'utf8'));
    assert.equal(doc.format, 'kms-envelope-local-key');
    assert.equal(doc.keyId, keyId);
    // Machine B: another config dir and key material in key files (no shared keychain entry).
    const machineB = { ...env, KMS_ENVELOPE_CONFIG_DIR: path.join(tmp, 'cfg-b'), KMS_ENVELOPE_KEY_FILE_DIR: path.join(tmp, 'keys-b') };
    const before = run(['unseal', 'shared.txt.sealed', '-o', 'shared.b'], { env: machineB });
    assert.equal(before.code, 3, before.stderr);
    assert.ok(!existsSync(f('shared.b')));
    const imp = JSON.parse(
      ok(['keys', 'import', '--in', '-', '--json'], { input: readFileSync(f('team-key.json')), env: machineB }).stdout.toString(),
    );
    assert.equal(imp.keyId, keyId);
    assert.equal(imp.alias, 'team-key');
    ok(['unseal', 'shared.txt.sealed', '-o', 'shared.b'], { env: machineB });
    assert.equal(readFileSync(f('shared.b'), 'utf8'), 'team secret');
    // stdout export works when stdout is a pipe
    assert.equal(JSON.parse(ok(['keys', 'export', '--key', 'team-key', '--out', '-']).stdout.toString()).keyId, keyId);
    assert.equal(run(['keys', 'import', '--provider', 'tencent', '--in', 'team-key.json']).code, 1);
  });

  it('key-file opt-in (--key-file-dir): files 0600 in a 0700 dir, a warning shown once, nothing in the config dir', () => {
    const keyDir = path.join(tmp, 'kf');
    const e2 = { ...env, KMS_ENVELOPE_CONFIG_DIR: path.join(tmp, 'cfg-kf') };
    const first = ok(['keys', 'create', '--key-file-dir', keyDir, '--alias', 'srv', '--json'], { env: e2 });
    assert.match(first.stderr, /warning: local key material is stored ON DISK in .*kf/);
    const id = JSON.parse(first.stdout.toString()).keyId as string;
    const file = path.join(keyDir, 'kms-envelope-local-keys', `${id}.key`);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(keyDir).mode & 0o777, 0o700);
    writeFileSync(f('kf.txt'), 'kf');
    const second = ok(['seal', 'kf.txt', '--key-file-dir', keyDir, '--key', 'local:local:srv'], { env: e2 });
    assert.doesNotMatch(second.stderr, /warning/, 'shown once');
    ok(['unseal', 'kf.txt.sealed', '-o', 'kf.out'], { env: { ...e2, KMS_ENVELOPE_KEY_FILE_DIR: keyDir } });
    assert.equal(readFileSync(f('kf.out'), 'utf8'), 'kf');
    const material = readFileSync(file, 'utf8').trim();
    assert.ok(!readFileSync(path.join(tmp, 'cfg-kf', 'local-keys.json'), 'utf8').includes(material));
    const r = spawnSync('secret-tool', ['search', '--all', 'service', 'kms-envelope-local-keys', 'account', id], { encoding: 'utf8' });
    assert.doesNotMatch(r.stdout + r.stderr, new RegExp(id), 'not in the keychain');
  });

  it('no keychain reachable → exit 4 with the key-file opt-in as next step, fast', () => {
    const noBus: NodeJS.ProcessEnv = {
      ...env,
      DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent',
      KMS_ENVELOPE_CONFIG_DIR: path.join(tmp, 'cfg-nobus'),
    };
    delete noBus.DISPLAY;
    const t0 = Date.now();
    const r = run(['keys', 'create', '--alias', 'x'], { env: noBus });
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /^kms-envelope: The OS keychain refused/m);
    assert.match(r.stderr, /→ .*KMS_ENVELOPE_KEY_FILE_DIR/);
    assert.ok(Date.now() - t0 < 15_000);
    writeFileSync(f('nb.txt'), 'x');
    assert.equal(
      run(['seal', 'nb.txt', '--key', 'local:local:team-key', '-o', 'nb.sealed'], {
        env: { ...noBus, KMS_ENVELOPE_CONFIG_DIR: env.KMS_ENVELOPE_CONFIG_DIR },
      }).code,
      4,
    );
    assert.ok(!existsSync(f('nb.sealed')));
  });

  /** Whether a process writes into `dir`: a file there, or an unnamed (O_TMPFILE) file it holds open there. */
  const writingInto = (pid: number, dir: string): boolean => {
    if (readdirSync(dir).length) return true;
    try {
      return readdirSync(`/proc/${pid}/fd`).some((fd) => readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith(dir + '/'));
    } catch {
      return false;
    }
  };

  it('Ctrl-C during a seal: exit 130, no output and no temp file', async () => {
    mkdirSync(f('sig'), { recursive: true });
    const child = spawn(process.execPath, [cli, 'seal', '-', '-o', path.join('sig', 'out.sealed'), '--key', 'local:local:team-key'], {
      cwd: tmp,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // Writes still in flight when the child exits fail with EPIPE: expected here.
    child.stdin.on('error', () => undefined);
    const chunk = randomBytes(256 * 1024);
    let sent = 0;
    // Feed stdin until the seal has visibly started writing its temp file, then interrupt.
    await new Promise<void>((resolve, reject) => {
      const t = setInterval(() => {
        if (sent < 64) {
          child.stdin.write(chunk);
          sent++;
        }
        if (writingInto(child.pid!, f('sig')) && sent >= 8) {
          clearInterval(t);
          resolve();
        }
        if (sent >= 64 && !readdirSync(f('sig')).length) {
          clearInterval(t);
          reject(new Error('the seal never started: ' + stderr));
        }
      }, 20);
    });
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    assert.equal(code, 130, stderr);
    assert.match(stderr, /cancelled; no output was written/);
    assert.deepEqual(readdirSync(f('sig')), [], 'no output, no temp file');
  });
});
