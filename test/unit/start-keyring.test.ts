// First run does not depend on the user's keyring (issue 15, item 1).
//
// A headless HOME whose ~/.local/share/keyrings/login.keyring exists with another password (made
// here by gnome-keyring itself): `npm start -- --check` (sandbox, emulator, profiles, local key,
// then the CLI lists each profile's keys and seals + unseals a value) must work, keep its secrets
// in the sandbox's own keyring folder and leave the user's keyring folder byte-identical. Before,
// scripts/with-keyring.sh unlocked (or created) that login keyring with a fixed password and every
// write failed with "Cannot create an item in a locked collection".
// Also: an error of the start script is printed before its "stopped" line (stderr used to pass
// through a filter process and arrive after it), and with-keyring.sh alone uses a throw-away folder.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(__dirname, '../..');
const hasKeyringTools = ['dbus-run-session', 'gnome-keyring-daemon', 'secret-tool'].every((b) => {
  try {
    execFileSync('sh', ['-c', `command -v ${b}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});

/** A headless user's environment: no session bus, no keyring session of ours, no cloud credentials. */
function headlessEnv(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(DBUS_SESSION_BUS_ADDRESS|KMS_ENVELOPE_|XDG_DATA_HOME|XDG_RUNTIME_DIR|TENCENTCLOUD_|ALIBABA_CLOUD_|ALICLOUD_|AWS_)/.test(k))
      continue;
    env[k] = v;
  }
  return { ...env, HOME: home, KMS_ENVELOPE_START_BUILT: '1', ...extra };
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    // One pipe for stdout and stderr, so the order of lines is the order the user sees.
    const child = spawn('bash', ['-c', 'exec "$@" 2>&1', 'bash', cmd, ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`${cmd} ${args.join(' ')} did not finish in ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

function snapshot(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) files[name] = readFileSync(path.join(dir, name)).toString('base64');
  return files;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe(
  'first run on a headless box whose login keyring has another password',
  { skip: !hasKeyringTools && 'needs dbus-run-session, gnome-keyring-daemon and secret-tool (scripts/setup.sh)' },
  () => {
    let tmp: string;
    let home: string;
    let keyrings: string;
    let before_: Record<string, string>;
    before(async () => {
      assert.ok(existsSync(path.join(root, 'dist/cli.js')), 'build first (node esbuild.mjs)');
      tmp = mkdtempSync(path.join(os.tmpdir(), 'kms-envelope-start-'));
      home = path.join(tmp, 'home');
      keyrings = path.join(home, '.local/share/keyrings');
      mkdirSync(home, { recursive: true });
      // The user's own login keyring, made by gnome-keyring with the user's password, holding one item.
      execFileSync(
        'dbus-run-session',
        [
          '--',
          'sh',
          '-c',
          'printf users-own-password | gnome-keyring-daemon --unlock --components=secrets >/dev/null; printf mine | secret-tool store --label=mine app mine',
        ],
        { env: { ...headlessEnv(home), XDG_DATA_HOME: path.join(home, '.local/share') }, stdio: ['ignore', 'ignore', 'ignore'] },
      );
      assert.ok(existsSync(path.join(keyrings, 'login.keyring')), 'could not make the user keyring for the test');
      before_ = snapshot(keyrings);
    });
    after(() => rmSync(tmp, { recursive: true, force: true }));

    it('npm start -- --check works, keeps its secrets in the sandbox keyring and leaves ~/.local/share/keyrings byte-identical', async () => {
      const sandbox = path.join(tmp, 'sandbox');
      const port = await freePort();
      const r = await run('scripts/start.sh', ['--check', '--sandbox', sandbox, '--emulator-port', String(port)], headlessEnv(home));
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /no OS keychain answers here/);
      assert.match(r.out, /check: tencent\/sandbox lists \d+ keys/);
      assert.match(r.out, /check: the local key 'sandbox' seals and unseals/);
      assert.doesNotMatch(r.out, /locked collection/);
      assert.deepEqual(snapshot(keyrings), before_, 'the user keyring folder changed');
      assert.ok(existsSync(path.join(sandbox, 'keyring/keyrings/login.keyring')), 'no keyring in the sandbox folder');
      // A second run reuses the sandbox keyring (its local key's material is still there).
      const again = await run('scripts/start.sh', ['--check', '--sandbox', sandbox, '--emulator-port', String(port)], headlessEnv(home));
      assert.equal(again.code, 0, again.out);
      assert.doesNotMatch(again.out, /creating the local key/);
      assert.deepEqual(snapshot(keyrings), before_, 'the user keyring folder changed on the second run');
    });

    it('the start script\'s error is printed before its "stopped" line', async () => {
      const blocker: Server = createServer();
      await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
      const port = (blocker.address() as { port: number }).port;
      try {
        const r = await run(
          'scripts/start.sh',
          ['--check', '--sandbox', path.join(tmp, 'sandbox-busy'), '--emulator-port', String(port)],
          headlessEnv(home),
        );
        assert.notEqual(r.code, 0, r.out);
        const lines = r.out.split('\n');
        const error = lines.findIndex((l) => l.includes('start: ERROR: the emulator did not start'));
        const stopped = lines.findIndex((l) => l.includes('stopped (sandbox kept'));
        assert.ok(error >= 0 && stopped >= 0, r.out);
        assert.ok(error < stopped, `the error comes after "stopped":\n${r.out}`);
        assert.equal(lines.filter((l) => l.trim()).at(-1), lines[stopped], `"stopped" is not the last line:\n${r.out}`);
      } finally {
        await new Promise((r) => blocker.close(r));
      }
      assert.deepEqual(snapshot(keyrings), before_, 'the user keyring folder changed');
    });

    it('scripts/with-keyring.sh alone uses a throw-away keyring folder and removes it', async () => {
      const tmpdir = path.join(tmp, 'tmpdir');
      mkdirSync(tmpdir);
      const script =
        "node -e \"require('keytar').setPassword('kms-envelope-test', 'a', 'b').then(() => require('keytar').getPassword('kms-envelope-test', 'a')).then((v) => console.log('got', v))\"";
      const r = await run('scripts/with-keyring.sh', ['bash', '-c', script], headlessEnv(home, { TMPDIR: tmpdir }));
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /got b/);
      assert.deepEqual(snapshot(keyrings), before_, 'the user keyring folder changed');
      assert.deepEqual(readdirSync(tmpdir), [], 'with-keyring.sh left its temporary folders behind');
    });
  },
);
