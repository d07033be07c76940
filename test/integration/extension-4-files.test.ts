// Files from the explorer context menu (the command gets the clicked Uri and the selection, as the
// explorer passes them): Seal File with the offer to delete the original, Unseal File refusing to
// overwrite without confirmation, Open Sealed File edited and saved (re-sealed to the same
// recipients and context) with a disk-wide search for a plaintext marker, Re-wrap, Inspect.
import * as assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, promises as fsp, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { inspect } from '../../src/core/envelope/index';
import { closeAllEditors, makeTempDir, waitFor } from './helpers';
import {
  addEmulatorProfiles,
  api,
  choose,
  filesContaining,
  no,
  plaintextSearchRoots,
  say,
  scripted,
  setSetting,
  yes,
} from './extension-support';

suite('extension: files', () => {
  let localKeyId: string;
  suiteSetup(async () => {
    const a = await api();
    await addEmulatorProfiles(a);
    await setSetting('localKeys', 'always');
    const local = await a.keys.getProvider({ provider: 'local', profile: 'default' });
    localKeyId = (await local.createKey('local', { alias: `files-${Date.now().toString(36)}` })).keyId;
    await setSetting('defaultKey', `local:local:${localKeyId}`);
    await setSetting('encryptionContext', { purpose: 'files-suite' });
    // Desktop VS Code's default; the web workbench defaults to afterDelay, which would hide hot-exit backups.
    await vscode.workspace.getConfiguration('files').update('autoSave', 'off', vscode.ConfigurationTarget.Global);
  });
  suiteTeardown(async () => {
    await setSetting('defaultKey', undefined);
    await setSetting('encryptionContext', undefined);
  });
  teardown(closeAllEditors);

  test('Seal File from the explorer writes <name>.sealed and deletes the original when asked; Unseal File reverses it', async () => {
    const a = await api();
    const dir = makeTempDir('seal-');
    const file = join(dir, 'app.env');
    const body = `DB_PASSWORD=${randomUUID()}\n# comment kept\n`;
    writeFileSync(file, body);
    const uri = vscode.Uri.file(file);
    const p = scripted(a).answer(say('Delete Original'));
    const outs = await vscode.commands.executeCommand<string[]>('kmsEnvelope.sealFile', uri, [uri]);
    assert.deepEqual(outs, [file + '.sealed'], String(a.testing!.lastError()?.error));
    assert.match(p.asked[0].message!, /Delete the plaintext original/);
    assert.equal(existsSync(file), false, 'the original was deleted');
    const info = await inspect(readFileSync(file + '.sealed'));
    assert.deepEqual(info.context, { purpose: 'files-suite' });
    assert.equal(info.recipients[0].keyId, localKeyId);
    assert.deepEqual((await fsp.readdir(dir)).sort(), ['app.env.sealed'], 'no temp file left behind');

    const sealedUri = vscode.Uri.file(file + '.sealed');
    await vscode.commands.executeCommand('kmsEnvelope.unsealFile', sealedUri, [sealedUri]);
    assert.equal(readFileSync(file, 'utf8'), body);
  });

  test('Unseal File refuses to overwrite an existing file unless confirmed', async () => {
    const a = await api();
    const dir = makeTempDir('unseal-');
    const file = join(dir, 'x.json');
    writeFileSync(file, '{"v": 1}\n');
    scripted(a).answer(say('Keep'));
    await vscode.commands.executeCommand('kmsEnvelope.sealFile', vscode.Uri.file(file));
    writeFileSync(file, 'edited meanwhile\n');
    const sealed = vscode.Uri.file(file + '.sealed');
    const refused = scripted(a).answer(no);
    await vscode.commands.executeCommand('kmsEnvelope.unsealFile', sealed);
    assert.match(refused.asked[0].message!, /x\.json already exists/);
    assert.equal(readFileSync(file, 'utf8'), 'edited meanwhile\n');
    scripted(a).answer(yes);
    await vscode.commands.executeCommand('kmsEnvelope.unsealFile', sealed);
    assert.equal(readFileSync(file, 'utf8'), '{"v": 1}\n');
  });

  test('Open Sealed File: plaintext in the editor, save re-seals to the same recipients and context; no plaintext anywhere on disk @packaged', async function () {
    this.timeout(120_000);
    const a = await api();
    const dir = makeTempDir('open-');
    const file = join(dir, 'secrets.yaml');
    const marker = `PLAINTEXT-MARKER-${randomUUID()}`;
    const initial = `api_key: first-${randomUUID()}\n`;
    writeFileSync(file, initial);
    // Two recipients: the local key and a Tencent key; the save must keep both and the context.
    scripted(a).answer(say('Delete Original'));
    await vscode.commands.executeCommand('kmsEnvelope.sealFile', vscode.Uri.file(file));
    const sealedPath = file + '.sealed';
    scripted(a).answer(
      choose((l) => l.includes('Add a recipient')),
      choose((l, i) => l.includes('seed-enabled') && (i.description ?? '').includes('ap-guangzhou')),
    );
    await vscode.commands.executeCommand('kmsEnvelope.rewrapFile', vscode.Uri.file(sealedPath));
    const before = await inspect(readFileSync(sealedPath));
    assert.deepEqual(
      before.recipients.map((r) => r.provider),
      ['local', 'tencent'],
      String(a.testing!.lastError()?.error),
    );

    const vuri = await vscode.commands.executeCommand<vscode.Uri>('kmsEnvelope.openSealedFile', vscode.Uri.file(sealedPath));
    assert.equal(vuri.scheme, 'kms-sealed');
    const editor = vscode.window.activeTextEditor!;
    assert.equal(editor.document.uri.toString(), vuri.toString());
    assert.equal(editor.document.getText(), initial);
    assert.equal(editor.document.languageId, 'yaml', 'language from the name without .sealed');

    await editor.edit((eb) => eb.insert(new vscode.Position(1, 0), `note: ${marker}\n`));
    assert.equal(editor.document.isDirty, true);
    // Give the workbench time to write a hot-exit backup of the dirty editor (default delay 1 s) and look for it.
    await new Promise((r) => setTimeout(r, 3000));
    const whileDirty = await filesContaining(marker, plaintextSearchRoots());
    assert.deepEqual(whileDirty, [], `plaintext of a dirty sealed editor found on disk: ${whileDirty.join(', ')}`);

    assert.equal(await editor.document.save(), true, String(a.testing!.lastError()?.error));
    await waitFor(() => !editor.document.isDirty, { message: 'the save' });
    const after = await inspect(readFileSync(sealedPath));
    assert.deepEqual(
      after.recipients.map((r) => `${r.provider}:${r.region}:${r.keyId}`),
      before.recipients.map((r) => `${r.provider}:${r.region}:${r.keyId}`),
    );
    assert.deepEqual(after.context, { purpose: 'files-suite' });
    assert.notEqual(after.messageId, before.messageId);
    const opened = await a.envelope.unsealBytes(readFileSync(sealedPath));
    assert.equal(opened.plaintext.toString(), initial + `note: ${marker}\n`);
    assert.deepEqual((await fsp.readdir(dir)).sort(), ['secrets.yaml.sealed'], 'only the sealed file in its folder');

    await new Promise((r) => setTimeout(r, 1500));
    const afterSave = await filesContaining(marker, plaintextSearchRoots());
    assert.deepEqual(afterSave, [], `plaintext found on disk after save (local history?): ${afterSave.join(', ')}`);
  });

  test('control: a dirty editor of a plain file IS backed up to disk where the search looks (so the search above can fail)', async function () {
    this.timeout(60_000);
    const dir = makeTempDir('control-');
    const file = join(dir, 'plain.txt');
    writeFileSync(file, 'plain\n');
    const marker = `CONTROL-MARKER-${randomUUID()}`;
    const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(file));
    const editor = await vscode.window.showTextDocument(doc);
    await editor.edit((eb) => eb.insert(new vscode.Position(0, 0), marker));
    const hits = await waitFor(
      async () => {
        const h = await filesContaining(marker, plaintextSearchRoots());
        return h.length ? h : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 1000, message: 'the backup of a dirty plain editor' },
    );
    writeFileSync(join(plaintextSearchRoots()[0], 'control-hits.txt'), hits.join('\n'));
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
  });

  test('Re-wrap to another key replaces the recipients; Inspect shows the header without a KMS call', async () => {
    const a = await api();
    const dir = makeTempDir('rewrap-');
    const file = join(dir, 'r.txt');
    writeFileSync(file, 'rewrap me\n');
    scripted(a).answer(say('Keep'));
    await vscode.commands.executeCommand('kmsEnvelope.sealFile', vscode.Uri.file(file));
    const sealed = vscode.Uri.file(file + '.sealed');
    scripted(a).answer(
      choose((l) => l.includes('Re-wrap to another key')),
      choose((l, i) => l.includes('seed-enabled') && (i.description ?? '').includes('cn-shanghai')),
    );
    await vscode.commands.executeCommand('kmsEnvelope.rewrapFile', sealed);
    const info = await inspect(readFileSync(sealed.fsPath));
    assert.deepEqual(
      info.recipients.map((r) => `${r.provider}:${r.region}`),
      ['alibaba:cn-shanghai'],
    );
    assert.deepEqual(info.context, { purpose: 'files-suite' });
    assert.equal((await a.envelope.unsealBytes(readFileSync(sealed.fsPath))).plaintext.toString(), 'rewrap me\n');

    const doc = await vscode.commands.executeCommand<vscode.Uri>('kmsEnvelope.inspect', sealed);
    const text = (await vscode.workspace.openTextDocument(doc)).getText();
    assert.match(text, /Alibaba Cloud KMS/);
    assert.ok(text.includes(info.recipients[0].keyId));
    assert.match(text, /purpose=files-suite/);
  });

  test('an armored sealed file opened normally offers "Open Decrypted"; saving keeps it armored; Unseal File handles it', async () => {
    const a = await api();
    const dir = makeTempDir('armored-');
    const file = join(dir, 'notes.txt.sealed');
    writeFileSync(
      file,
      (await a.envelope.sealText('armored body\n', [{ provider: 'local', region: 'local', key: localKeyId }], { kind: 'armored' })) + '\n',
    );
    const p = scripted(a).answer(say('Open Decrypted'));
    await vscode.window.showTextDocument(vscode.Uri.file(file));
    const editor = await waitFor(
      () => {
        const e = vscode.window.activeTextEditor;
        return e?.document.uri.scheme === 'kms-sealed' ? e : undefined;
      },
      { message: 'the decrypted editor' },
    );
    assert.match(p.asked[0].message!, /notes\.txt\.sealed is sealed\. Open it decrypted/);
    assert.equal(editor.document.getText(), 'armored body\n');
    await editor.edit((eb) => eb.insert(new vscode.Position(1, 0), 'more\n'));
    assert.equal(await editor.document.save(), true, String(a.testing!.lastError()?.error));
    const text = readFileSync(file, 'utf8');
    assert.match(text, /^kmsenv:v1:[A-Za-z0-9+/=]+\n$/);
    const opened = await a.envelope.unsealText(text);
    assert.equal(opened.text, 'armored body\nmore\n');
    assert.deepEqual(opened.header.context, { kind: 'armored' });
    await closeAllEditors();
    await vscode.commands.executeCommand('kmsEnvelope.unsealFile', vscode.Uri.file(file));
    assert.equal(readFileSync(join(dir, 'notes.txt'), 'utf8'), 'armored body\nmore\n');
  });

  test('a Re-wrap while the file is open decrypted is kept by the next save', async () => {
    const a = await api();
    const dir = makeTempDir('rewrap-open-');
    const file = join(dir, 'open.txt');
    writeFileSync(file, 'v1\n');
    scripted(a).answer(say('Keep'));
    await vscode.commands.executeCommand('kmsEnvelope.sealFile', vscode.Uri.file(file));
    const sealed = file + '.sealed';
    await vscode.commands.executeCommand('kmsEnvelope.openSealedFile', vscode.Uri.file(sealed));
    const editor = vscode.window.activeTextEditor!;
    assert.equal(editor.document.getText(), 'v1\n');
    scripted(a).answer(
      choose((l) => l.includes('Add a recipient')),
      choose((l, i) => l.includes('seed-enabled') && (i.description ?? '').includes('cn-hangzhou')),
    );
    await vscode.commands.executeCommand('kmsEnvelope.rewrapFile', vscode.Uri.file(sealed));
    await editor.edit((eb) => eb.insert(new vscode.Position(1, 0), 'v2\n'));
    assert.equal(await editor.document.save(), true, String(a.testing!.lastError()?.error));
    const info = await inspect(readFileSync(sealed));
    assert.deepEqual(
      info.recipients.map((r) => r.provider),
      ['local', 'alibaba'],
    );
    assert.equal((await a.envelope.unsealBytes(readFileSync(sealed))).plaintext.toString(), 'v1\nv2\n');
  });

  test('a decrypted editor does not look like the plaintext file: lock in its name, recipients in the status bar, first save says it re-seals', async () => {
    const a = await api();
    await a.keys.refreshRegion({ provider: 'local', profile: 'default', region: 'local' }); // its aliases known, as the Keys view has them
    const alias = a.keys.findCachedKey({ provider: 'local', profile: 'default', region: 'local' }, localKeyId)?.alias;
    assert.ok(alias, 'the files key is listed');
    const dir = makeTempDir('look-');
    const plain = join(dir, 'service.yaml');
    writeFileSync(plain, 'replicas: 2\n');
    writeFileSync(
      plain + '.sealed',
      await a.envelope.sealBytes(Buffer.from('token: look-alike\n'), [{ provider: 'local', region: 'local', key: localKeyId }], undefined),
    );
    // The real plaintext file beside it, open in its own tab.
    await vscode.window.showTextDocument(vscode.Uri.file(plain), { preview: false });
    assert.equal(a.testing!.sealedEditorStatus(), undefined, 'no sealed status on a plain file');

    const p = scripted(a);
    const vuri = await vscode.commands.executeCommand<vscode.Uri>('kmsEnvelope.openSealedFile', vscode.Uri.file(plain + '.sealed'));
    const editor = vscode.window.activeTextEditor!;
    assert.equal(editor.document.uri.toString(), vuri.toString());
    assert.equal(editor.document.languageId, 'yaml', 'language from the inner name');
    const tabs = vscode.window.tabGroups.activeTabGroup.tabs.map((t) => t.label);
    assert.ok(tabs.includes('service.yaml') && tabs.includes('🔒 service.yaml'), `two tabs told apart: ${tabs.join(' | ')}`);
    assert.equal(vscode.window.tabGroups.activeTabGroup.activeTab?.label, '🔒 service.yaml');

    const status = await waitFor(() => a.testing!.sealedEditorStatus()?.text.includes(alias) && a.testing!.sealedEditorStatus(), {
      message: 'the status bar item naming the recipient by alias',
    });
    assert.equal(status.text, `$(lock) Sealed: ${alias}`);
    assert.match(status.tooltip, new RegExp(`decrypted in memory from ${(plain + '.sealed').replace(/[.\\/]/g, '\\$&')}`));
    assert.match(status.tooltip, new RegExp(`Saving seals it again to: ${alias} \\(`));

    // First save: said once that saving re-seals (not again on the next save).
    for (const line of ['a: 1\n', 'b: 2\n']) {
      await editor.edit((eb) => eb.insert(new vscode.Position(0, 0), line));
      assert.equal(await editor.document.save(), true, String(a.testing!.lastError()?.error));
    }
    await waitFor(() => !editor.document.isDirty, { message: 'the saves to finish' });
    const told = p.messages.filter((m) => /saving this decrypted editor seals it again/.test(m));
    assert.equal(told.length, 1, `said once: ${p.messages.join(' | ')}`);
    assert.match(told[0], /^info: Saved service\.yaml\.sealed: /);
    assert.equal(readFileSync(plain, 'utf8'), 'replicas: 2\n', 'the plaintext file beside it is untouched');

    // Another editor active: the item goes away.
    await vscode.window.showTextDocument(vscode.Uri.file(plain), { preview: false });
    await waitFor(() => a.testing!.sealedEditorStatus() === undefined, { message: 'the sealed status to hide' });
    a.testing!.setPrompts(undefined);
  });

  test('Seal File refuses a file that is already sealed', async () => {
    const a = await api();
    a.testing!.clearLastError();
    const dir = makeTempDir('twice-');
    const file = join(dir, 'a.txt');
    writeFileSync(file, 'a\n');
    scripted(a).answer(say('Keep'));
    await vscode.commands.executeCommand('kmsEnvelope.sealFile', vscode.Uri.file(file));
    await vscode.commands.executeCommand('kmsEnvelope.sealFile', vscode.Uri.file(file + '.sealed'));
    assert.match(String((a.testing!.lastError()?.error as Error)?.message), /already sealed/);
  });
});
