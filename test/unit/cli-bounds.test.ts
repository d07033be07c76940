// Bounded inputs on the paths the first round of bounds checks did not reach (the built CLI, local
// keys in the real OS keychain): an encryption context that only goes over the format's 64 KiB once
// kms-envelope adds its own entry (a policy's context + the file id of a file of sealed values), and a
// key path too long to bind into a value's record, are usage errors (exit 1) that say so — not "number
// out of bounds" with exit 3 or an "internal error"; control characters in file names and in what a
// blob's header says are escaped in everything printed.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(__dirname, '../..');
const cli = path.join(root, 'dist/cli.js');
const inKeyring = process.env.KMS_ENVELOPE_IN_KEYRING === '1';
/** C0/C1 controls (but the newline that separates message lines), DEL and bidi overrides. */
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

function ensureBuilt(): void {
  if (existsSync(cli) && existsSync(path.join(root, 'dist/cli/main.mjs'))) return;
  execFileSync(process.execPath, ['esbuild.mjs'], { cwd: root, stdio: 'inherit' });
}

describe(
  'kms-envelope CLI (built): bounded inputs, escaped names',
  { skip: !inKeyring && 'run under scripts/with-keyring.sh (npm test does)' },
  () => {
    let tmp: string;
    let env: NodeJS.ProcessEnv;
    const f = (name: string) => path.join(tmp, name);
    const run = (args: string[], input = '') => {
      const r = spawnSync(process.execPath, [cli, ...args], { cwd: tmp, env, input, timeout: 60_000 });
      return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
    };
    const policy = (body: string) => writeFileSync(f('.kms-envelope.yaml'), body);

    before(() => {
      ensureBuilt();
      tmp = mkdtempSync(path.join(os.tmpdir(), 'kms-bounds-'));
      env = { ...process.env, KMS_ENVELOPE_CONFIG_DIR: path.join(tmp, 'cfg') };
      delete env.KMS_ENVELOPE_KEY_FILE_DIR;
      const r = run(['keys', 'create', '--provider', 'local', '--alias', 'bounds', '--json']);
      assert.equal(r.code, 0, r.stderr);
    });
    after(() => rmSync(tmp, { recursive: true, force: true }));

    it("a policy context that fits alone but not with kms-envelope's file id: usage error, exit 1, before any write", () => {
      policy(
        `rules:\n  - path: "*.yaml"\n    keys: [local:local:bounds]\n    values: "(?i)password"\n    context: { big: "${'a'.repeat(65_500)}" }\n`,
      );
      writeFileSync(f('v.yaml'), 'db:\n  password: hunter2\n');
      const r = run(['seal', '--values', 'v.yaml', '-o', '-']);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /encryption context .*takes \d+ bytes in the header, more than the format's limit of 65535 bytes/);
      assert.match(r.stderr, /kmsenv:file-id/);
      assert.doesNotMatch(r.stderr, /out of bounds|internal error/);
      assert.equal(r.stdout, '');
    });

    it('a key path too long to bind into its record: usage error naming the limit, not an internal error', () => {
      policy('rules:\n  - path: "*.env"\n    keys: [local:local:bounds]\n    all: true\n');
      writeFileSync(f('long.env'), `SHORT=1\n${'K'.repeat(70_000)}=hunter2\n`);
      const r = run(['seal', '--values', 'long.env', '-o', '-']);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /key path .*70000 bytes.* at most 65518/);
      assert.doesNotMatch(r.stderr, /out of bounds|internal error/);
      assert.ok(r.stderr.length < 2000, 'the 70,000-byte key is not printed whole');
    });

    it('control characters in a file name are escaped in the errors of the values commands', () => {
      policy('rules:\n  - path: "*.yaml"\n    keys: [local:local:bounds]\n    all: true\n');
      const name = 'x\u001b[31mred\u0007\r.yaml';
      writeFileSync(f(name), 'a: [unclosed\n');
      const r = run(['seal', '--values', name, '-o', '-']);
      assert.notEqual(r.code, 0);
      assert.doesNotMatch(r.stderr, RAW_CONTROL, JSON.stringify(r.stderr));
      assert.match(r.stderr, /\\u001b\[31mred\\u0007\\r\.yaml/);
    });

    it("control characters in a blob's header (context, key names) are escaped when inspect prints them", () => {
      writeFileSync(f('c.txt'), 'hello\n');
      const s = run(['seal', 'c.txt', '--key', 'local:local:bounds', '--context', 'note=\u001b]0;pwned\u0007\u202eevil', '-o', 'c.sealed']);
      assert.equal(s.code, 0, s.stderr);
      const r = run(['inspect', 'c.sealed']);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stdout, RAW_CONTROL, JSON.stringify(r.stdout));
      assert.match(r.stdout, /note=\\u001b\]0;pwned\\u0007\\u202eevil/);
      // --json keeps the exact value (JSON escapes it).
      assert.equal(JSON.parse(run(['inspect', 'c.sealed', '--json']).stdout).context.note, '\u001b]0;pwned\u0007\u202eevil');
    });
  },
);
