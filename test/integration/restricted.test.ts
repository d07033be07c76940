// Restricted Mode (an untrusted folder: `scripts/vscode/run.ts --vsix <file> --untrusted`). The manifest
// declares capabilities.untrustedWorkspaces "limited", so the installed extension runs; the settings it
// lists in restrictedConfigurations come from the user's settings only, so a cloned repository's
// .vscode/settings.json cannot choose the sealing key or the encryption context, or weaken how long
// plaintext lives. Settings classified as harmless still apply from the workspace.
import * as assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { dearmor } from '../../src/core/envelope/armor';
import { inspect } from '../../src/core/envelope/index';
import { parseHeader } from '../../src/core/values/records';
import type { KmsEnvelopeApi } from '../../src/extension/extension';
import { EXTENSION_ID, activateExtension, closeAllEditors, openTempFile, waitFor } from './helpers';

const ARMOR = 'kmsenv:v1:';

suite('Restricted Mode: the workspace cannot choose keys @untrusted', () => {
  const cfg = () => vscode.workspace.getConfiguration('kmsEnvelope');
  let userKeyId = '';

  suiteSetup(async function () {
    if (process.env.KMS_ENVELOPE_TEST_UNTRUSTED !== '1') this.skip(); // only in the runner's --untrusted run
    const a = (await activateExtension()).exports as KmsEnvelopeApi;
    const local = await a.keys.getProvider({ provider: 'local', profile: 'default' });
    userKeyId = (await local.createKey('local', { alias: `user-${Date.now().toString(36)}` })).keyId;
    await cfg().update('defaultKey', `local:local:${userKeyId}`, vscode.ConfigurationTarget.Global);
    // What a hostile repository would carry.
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder, 'the runner opens a folder');
    mkdirSync(join(folder.uri.fsPath, '.vscode'), { recursive: true });
    writeFileSync(
      join(folder.uri.fsPath, '.vscode', 'settings.json'),
      JSON.stringify({
        'kmsEnvelope.defaultKey': 'local:local:chosen-by-the-workspace',
        'kmsEnvelope.defaultKeyProfile': 'workspace-profile',
        'kmsEnvelope.encryptionContext': { owner: 'workspace' },
        'kmsEnvelope.clipboardTimeoutSeconds': 0,
        'kmsEnvelope.sealedFiles.autoSaveDelayMs': 0,
        'kmsEnvelope.sealedSuffix': '.txt',
        'kmsEnvelope.regions': { 'tencent/ws': ['ap-workspace'] },
      }),
    );
    // A harmless setting showing up means VS Code has read the workspace file.
    await waitFor(() => JSON.stringify(cfg().get('regions')).includes('ap-workspace'), {
      timeoutMs: 20_000,
      message: 'the workspace settings to be read',
    });
  });
  suiteTeardown(async () => {
    await closeAllEditors();
    await cfg().update('defaultKey', undefined, vscode.ConfigurationTarget.Global);
  });

  test('the folder is untrusted and the installed extension is active in it', () => {
    assert.equal(vscode.workspace.isTrusted, false);
    const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
    assert.equal(ext.isActive, true);
    assert.equal(ext.packageJSON.capabilities.untrustedWorkspaces.supported, 'limited');
  });

  test('restricted settings come from the user settings only; harmless ones still from the workspace', () => {
    assert.equal(cfg().get('defaultKey'), `local:local:${userKeyId}`);
    assert.equal(cfg().get('defaultKeyProfile'), '');
    assert.deepEqual(cfg().get('encryptionContext'), {});
    assert.equal(cfg().get('clipboardTimeoutSeconds'), 30);
    assert.equal(cfg().get('sealedFiles.autoSaveDelayMs'), 300);
    assert.equal(cfg().get('sealedSuffix'), '.sealed');
    assert.deepEqual(cfg().get('regions'), { 'tencent/ws': ['ap-workspace'] });
  });

  test("Seal Selection seals to the user's default key without the workspace's context", async () => {
    const secret = `pw-${Date.now()}`;
    const { editor, document } = await openTempFile(`password=${secret}\n`, { name: 'restricted.env' });
    editor!.selection = new vscode.Selection(new vscode.Position(0, 'password='.length), document.lineAt(0).range.end);
    await vscode.commands.executeCommand('kmsEnvelope.sealSelection');
    const line = await waitFor(() => document.lineAt(0).text.startsWith(`password=${ARMOR}`) && document.lineAt(0).text, {
      timeoutMs: 20_000,
      message: 'the armored value',
    });
    const info = await inspect(dearmor(line.slice('password='.length)));
    assert.deepEqual(
      info.recipients.map((r) => r.keyId),
      [userKeyId],
    );
    assert.equal(info.context.owner, undefined, 'the workspace chose the encryption context');
  });

  test("Seal Values in File: the workspace's .kms-envelope.yaml says which values, not which keys or context", async () => {
    const folder = vscode.workspace.workspaceFolders![0]!.uri.fsPath;
    const secret = `pw-${Date.now()}`;
    writeFileSync(
      join(folder, '.kms-envelope.yaml'),
      'rules:\n  - path: "*.yaml"\n    keys: [local:local:chosen-by-the-workspace]\n    values: "(?i)password"\n    context: { owner: workspace }\n',
    );
    const file = join(folder, 'restricted-values.yaml');
    writeFileSync(file, `db:\n  host: h\n  password: ${secret}\n`);
    const out = await vscode.commands.executeCommand<Array<{ sealed: string[] }>>('kmsEnvelope.sealValues', vscode.Uri.file(file));
    assert.deepEqual(out?.[0]?.sealed, ['db.password']);
    const text = readFileSync(file, 'utf8');
    assert.ok(!text.includes(secret), 'the value was not sealed');
    const header = /^kms-envelope: (kmsenv:h1:\S+)$/m.exec(text)?.[1];
    assert.ok(header, `no header line in ${text}`);
    const info = parseHeader(header).info;
    assert.deepEqual(
      info.recipients.map((r) => r.keyId),
      [userKeyId],
      'the workspace policy chose the key',
    );
    assert.equal(info.context.owner, undefined, "the workspace policy's context was used");
  });
});
