// What a user of the installed .vsix does first, through the public commands only (no testing hooks,
// so it runs against the packaged build too): a local key, Seal Selection, Unseal Selection.
// A platform package shares the OS keychain with the CLI, so the key comes from the CLI; the universal
// package keeps key material in VS Code's SecretStorage, so the key is made in the extension and the
// suite checks it never reached the OS keychain (the one thing the universal package gives up).
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { createRequire } from 'node:module';
import type { KmsEnvelopeApi } from '../../src/extension/extension';
import { activateExtension, closeAllEditors, openTempFile, packageFlavour, testEnv, waitFor } from './helpers';

type Keytar = { findCredentials(service: string): Promise<Array<{ account: string; password: string }>> };

const ARMOR = 'kmsenv:v1:';

suite('packaged build: seal and unseal a selection with a local key @packaged', () => {
  const alias = `it-${randomUUID().slice(0, 8)}`;
  let previousDefault: string | undefined;

  let keyId = '';

  suiteSetup(async () => {
    // The web workbench auto-saves by default; Unseal Selection would ask first (its own test covers that).
    await vscode.workspace.getConfiguration('files').update('autoSave', 'off', vscode.ConfigurationTarget.Global);
    const ext = await activateExtension();
    if (packageFlavour() === 'universal') {
      const local = await (ext.exports as KmsEnvelopeApi).keys.getProvider({ provider: 'local', profile: 'default' });
      keyId = (await local.createKey('local', { alias })).keyId;
      const cfg = vscode.workspace.getConfiguration('kmsEnvelope');
      previousDefault = cfg.get<string>('defaultKey');
      await cfg.update('defaultKey', `local:local:${alias}`, vscode.ConfigurationTarget.Global);
      return;
    }
    // The key is created with the CLI of this checkout, into the same config dir and keychain the host uses.
    const r = spawnSync(
      process.execPath,
      [join(testEnv.repoRoot, 'dist', 'cli.js'), 'keys', 'create', '--provider', 'local', '--alias', alias],
      {
        env: { ...process.env, KMS_ENVELOPE_CONFIG_DIR: testEnv.configDir },
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    assert.equal(r.status, 0, `kms-envelope keys create failed: ${r.stderr}`);
    const cfg = vscode.workspace.getConfiguration('kmsEnvelope');
    previousDefault = cfg.get<string>('defaultKey');
    await cfg.update('defaultKey', `local:local:${alias}`, vscode.ConfigurationTarget.Global);
  });
  suiteTeardown(async () => {
    await vscode.workspace.getConfiguration('files').update('autoSave', undefined, vscode.ConfigurationTarget.Global);
    await vscode.workspace
      .getConfiguration('kmsEnvelope')
      .update('defaultKey', previousDefault || undefined, vscode.ConfigurationTarget.Global);
    await closeAllEditors();
  });

  test('Seal Selection replaces the value with one armored line; Unseal Selection restores it', async () => {
    const secret = `pw-${randomUUID()}`;
    const { editor, document } = await openTempFile(`user=app\npassword=${secret}\n`, { name: 'app.env' });
    assert.ok(editor);
    const line = document.lineAt(1);
    const start = new vscode.Position(1, 'password='.length);
    editor.selection = new vscode.Selection(start, line.range.end);

    await vscode.commands.executeCommand('kmsEnvelope.sealSelection');
    const sealed = await waitFor(() => document.lineAt(1).text.startsWith(`password=${ARMOR}`) && document.lineAt(1).text, {
      timeoutMs: 20_000,
      message: 'the armored value in the editor',
    });
    assert.ok(!document.getText().includes(secret), 'the plaintext is still in the document');
    assert.equal(document.lineAt(0).text, 'user=app');
    assert.equal(document.lineCount, 3, 'the armored value must stay on one line');

    editor.selection = new vscode.Selection(start, document.lineAt(1).range.end);
    await vscode.commands.executeCommand('kmsEnvelope.unsealSelection');
    await waitFor(() => document.lineAt(1).text === `password=${secret}`, {
      timeoutMs: 20_000,
      message: `the value unsealed from ${sealed.slice(0, 40)}…`,
    });
  });

  test('universal package: the local key material is in VS Code SecretStorage, not in the OS keychain the CLI reads', async function () {
    if (packageFlavour() !== 'universal') this.skip();
    assert.ok(keyId, 'the suite created its key in the extension');
    // The checkout's keytar, against the same Secret Service the host has (the runner's private gnome-keyring).
    const keytar = createRequire(join(testEnv.repoRoot, 'package.json'))('keytar') as Keytar;
    const accounts = (await keytar.findCredentials('kms-envelope-local-keys')).map((c) => c.account);
    assert.ok(!accounts.includes(keyId), `the universal package wrote ${keyId} to the OS keychain`);
  });
});
