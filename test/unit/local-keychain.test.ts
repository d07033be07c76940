// The local provider on the REAL OS keychain (gnome-keyring in a private D-Bus session, started by
// scripts/with-keyring.sh), and the keychain being absent (a child process whose D-Bus address
// points nowhere): a clear credentials error with the key-file opt-in as the way out, no hang.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { KeytarSecretStore, LOCAL_KEYS_SERVICE } from '../../src/core/secrets';
import { LocalKmsProvider } from '../../src/core/kms/local/index';

const inKeyring = process.env.KMS_ENVELOPE_IN_KEYRING === '1';
const root = path.resolve(__dirname, '../..');

function secretToolSearch(account?: string): string {
  const args = ['search', '--all', 'service', LOCAL_KEYS_SERVICE];
  if (account) args.push('account', account);
  const r = spawnSync('secret-tool', args, { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`;
}

describe('local provider on the real OS keychain', { skip: !inKeyring && 'run under scripts/with-keyring.sh (npm test does)' }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'kms-keychain-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('stores key material in the Secret Service (secret-tool finds it), uses it, and removes it on purge', async () => {
    let clock = Date.now();
    const p = new LocalKmsProvider({ secretStore: new KeytarSecretStore(), configDir: dir, now: () => clock });
    const k = await p.createKey('local', { alias: `kc-${process.pid}` });
    const found = secretToolSearch(k.keyId);
    assert.match(found, new RegExp(`attribute\\.account = ${k.keyId}`), found);
    assert.match(found, /attribute\.service = kms-envelope-local-keys/);
    // The secret the keychain holds is the base64 of 32 bytes.
    const secret = execFileSync('secret-tool', ['lookup', 'service', LOCAL_KEYS_SERVICE, 'account', k.keyId], { encoding: 'utf8' });
    assert.equal(Buffer.from(secret.trim(), 'base64').length, 32);

    const dk = await p.generateDataKey('local', k.keyId, { t: '1' });
    assert.deepEqual((await p.decryptDataKey('local', k.keyId, dk.ciphertext, { t: '1' })).plaintext, dk.plaintext);

    await p.disableKey('local', k.keyId);
    await p.scheduleDeletion('local', k.keyId, 7);
    clock += 8 * 86_400_000;
    assert.deepEqual((await p.listKeys('local')).keys, []);
    assert.doesNotMatch(secretToolSearch(k.keyId), new RegExp(k.keyId), 'purged from the keychain');
  });
});

describe('no keychain reachable', () => {
  it('fails fast with a credentials error that names the key-file opt-in; the opt-in then works', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kms-nokeychain-'));
    try {
      const script = path.join(dir, 'probe.ts');
      writeFileSync(
        script,
        `import { createProvider } from ${JSON.stringify(path.join(root, 'src/core/kms/registry'))};
         createProvider('local', { env: process.env }).then((p) => p.createKey('local', { alias: 'x' })).then(
           (k) => { process.stdout.write(JSON.stringify({ ok: k.keyId })); },
           (e) => { process.stdout.write(JSON.stringify({ kind: e.kind, message: e.message, hint: e.hint })); });`,
      );
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent',
        KMS_ENVELOPE_CONFIG_DIR: path.join(dir, 'cfg'),
      };
      delete env.DISPLAY;
      delete env.KMS_ENVELOPE_KEY_FILE_DIR;
      const t0 = Date.now();
      const r = spawnSync(process.execPath, ['--import', 'tsx', script], { env, encoding: 'utf8', timeout: 30_000, cwd: root });
      const took = Date.now() - t0;
      const out = JSON.parse(r.stdout) as { kind?: string; message?: string; hint?: string; ok?: string };
      assert.equal(out.kind, 'credentials', r.stdout + r.stderr);
      assert.match(out.message ?? '', /OS keychain/);
      assert.match(out.hint ?? '', /KMS_ENVELOPE_KEY_FILE_DIR/);
      assert.ok(took < 15_000, `took ${took} ms`);

      const r2 = spawnSync(process.execPath, ['--import', 'tsx', script], {
        env: { ...env, KMS_ENVELOPE_KEY_FILE_DIR: path.join(dir, 'keys') },
        encoding: 'utf8',
        timeout: 30_000,
        cwd: root,
      });
      const out2 = JSON.parse(r2.stdout) as { ok?: string };
      assert.match(out2.ok ?? '', /^local-/, r2.stdout + r2.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
