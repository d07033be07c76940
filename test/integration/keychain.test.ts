// keytar (the one native module, shipped inside the .vsix) loads in the extension host of the build
// under test and reaches the real Secret Service the runner started (gnome-keyring on a private D-Bus).
import * as assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { readdirSync, readFileSync } from 'node:fs';
import { EXTENSION_ID, packageFlavour } from './helpers';

type Keytar = {
  setPassword(service: string, account: string, password: string): Promise<void>;
  getPassword(service: string, account: string): Promise<string | null>;
  deletePassword(service: string, account: string): Promise<boolean>;
};

suite('keychain in the extension host @packaged', () => {
  test('the universal package carries no keytar: no node_modules, no require of it in the bundle', async function () {
    if (packageFlavour() !== 'universal') this.skip();
    const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
    const req = createRequire(join(ext.extensionPath, 'dist', 'extension.js'));
    assert.throws(() => req.resolve('keytar'), /Cannot find module/);
    // The launcher and every chunk it loads (an external keytar would be a require("keytar") call, renamed by the minifier).
    const dist = join(ext.extensionPath, 'dist');
    const files = [
      'extension.js',
      ...readdirSync(join(dist, 'extension'), { recursive: true, encoding: 'utf8' }).map((f) => join('extension', f)),
    ];
    const bundle = files
      .filter((f) => /\.m?js$/.test(f))
      .map((f) => readFileSync(join(dist, f), 'utf8'))
      .join('\n');
    assert.ok(!/\("keytar"\)/.test(bundle), 'the universal bundle requires keytar');
    assert.ok(bundle.includes('keytar is not part of the universal KMS Envelope package'));
  });

  test("the extension's own keytar round-trips a secret through the OS keychain", async function () {
    if (packageFlavour() === 'universal') this.skip();
    // Linux without a session bus has no Secret Service at all (a headless CI box outside with-keyring.sh).
    if (process.platform === 'linux' && !process.env.DBUS_SESSION_BUS_ADDRESS) this.skip();
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(ext, `${EXTENSION_ID} not loaded`);
    // Resolve keytar the way dist/extension.js does: from the extension's own node_modules.
    const req = createRequire(join(ext.extensionPath, 'dist', 'extension.js'));
    const keytarPath = req.resolve('keytar');
    assert.ok(keytarPath.startsWith(ext.extensionPath), `keytar resolved outside the extension: ${keytarPath}`);
    const keytar = req('keytar') as Keytar;
    const service = 'kms-envelope-integration-probe';
    const account = randomUUID();
    const secret = randomUUID();
    await keytar.setPassword(service, account, secret);
    try {
      assert.equal(await keytar.getPassword(service, account), secret);
    } finally {
      assert.equal(await keytar.deletePassword(service, account), true);
    }
    assert.equal(await keytar.getPassword(service, account), null);
  });
});
