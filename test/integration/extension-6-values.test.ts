// Config files sealed value by value (issue 13, the editor half): Seal Values in File from the explorer
// (the command gets the clicked Uri and the selection, as the explorer passes them), Unseal Values in
// File opening the kms-sealed: editor, saves that write nothing for an unchanged plaintext and keep
// every other record byte for byte, and a debug session whose environment gets the unsealed values
// (`kmsEnvelopeEnv` in the launch configuration). KMS calls are counted by the emulator.
import * as assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, promises as fsp, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { closeAllEditors, makeTempDir, waitFor } from './helpers';
import { addEmulatorProfiles, api, counters, filesContaining, plaintextSearchRoots, setSetting } from './extension-support';

/** KMS data-key calls (GenerateDataKey, Encrypt, Decrypt) the emulator has answered so far. */
async function kmsCalls(): Promise<number> {
  const c = await counters();
  return Object.entries(c)
    .filter(([k]) => /:(GenerateDataKey|Encrypt|Decrypt)$/.test(k))
    .reduce((n, [, v]) => n + v, 0);
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

suite('extension: sealed config values', () => {
  let keyref: string;
  suiteSetup(async () => {
    const a = await api();
    await addEmulatorProfiles(a);
    const tc = await a.keys.getProvider({ provider: 'tencent', profile: 'emu' });
    const key = await tc.createKey('ap-guangzhou', { alias: `values-${Date.now().toString(36)}` });
    keyref = `tencent:ap-guangzhou:${key.keyId}`;
    await vscode.workspace.getConfiguration('files').update('autoSave', 'off', vscode.ConfigurationTarget.Global);
    await setSetting('sealedFiles.autoSaveDelayMs', 0);
  });
  suiteTeardown(async () => {
    await setSetting('sealedFiles.autoSaveDelayMs', undefined);
  });
  teardown(closeAllEditors);

  function project(prefix: string): { dir: string; yaml: string; password: string; token: string } {
    const dir = makeTempDir(prefix);
    writeFileSync(
      join(dir, '.kms-envelope.yaml'),
      `rules:\n  - path: "config/*.yaml"\n    keys: [${keyref}]\n    values: "(?i)(password|secret|token)"\n  - path: "*.env"\n    keys: [${keyref}]\n    values: "(?i)(password|secret|token)"\n`,
    );
    const password = `pw-${randomUUID()}`;
    const token = `tok-${randomUUID()}`;
    const yaml = join(dir, 'config', 'values.yaml');
    return { dir, yaml, password, token };
  }

  test('Seal Values in File from the explorer seals what the policy selects, in place, keys and comments readable; one KMS call', async () => {
    const a = await api();
    const { yaml, password, token } = project('seal-values-');
    await fsp.mkdir(join(yaml, '..'), { recursive: true });
    const body = `# billing\ndatabase:\n  host: db.internal   # kept\n  password: "${password}"\napi:\n  token: ${token}\n  timeout: 30\n`;
    writeFileSync(yaml, body);
    const uri = vscode.Uri.file(yaml);
    const before = await kmsCalls();
    const r = await vscode.commands.executeCommand<Array<{ sealed: string[] }>>('kmsEnvelope.sealValues', uri, [uri]);
    assert.deepEqual(r?.[0]?.sealed, ['database.password', 'api.token'], String(a.testing!.lastError()?.error));
    assert.equal((await kmsCalls()) - before, 1, 'one GenerateDataKey for the file');
    const sealed = readFileSync(yaml, 'utf8');
    assert.ok(!sealed.includes(password) && !sealed.includes(token), 'a secret left in plaintext');
    assert.match(sealed, /^ {2}host: db\.internal {3}# kept$/m);
    assert.match(sealed, /^ {2}password: "?kmsenv:f1:[A-Za-z0-9+/=]+"?$/m);
    assert.match(sealed, /^ {2}token: kmsenv:f1:/m);
    assert.match(sealed, /^kms-envelope: kmsenv:h1:/m);

    // Again: nothing left to seal, nothing written, no KMS call.
    const mtime = statSync(yaml).mtimeMs;
    const again = await kmsCalls();
    await vscode.commands.executeCommand('kmsEnvelope.sealValues', uri, [uri]);
    assert.equal(await kmsCalls(), again);
    assert.equal(statSync(yaml).mtimeMs, mtime);
    assert.equal(readFileSync(yaml, 'utf8'), sealed);
  });

  test('Unseal Values in File opens the plaintext in memory; a save that changes nothing writes nothing and calls no KMS; an edit re-seals one line', async function () {
    this.timeout(90_000);
    const a = await api();
    const { yaml, password, token } = project('unseal-values-');
    await fsp.mkdir(join(yaml, '..'), { recursive: true });
    const body = `database:\n  host: db.internal\n  password: ${password}\napi:\n  token: ${token}\n`;
    writeFileSync(yaml, body);
    await vscode.commands.executeCommand('kmsEnvelope.sealValues', vscode.Uri.file(yaml));
    const sealed = readFileSync(yaml, 'utf8');
    assert.ok(sealed.includes('kmsenv:h1:'), String(a.testing!.lastError()?.error));

    const c0 = await kmsCalls();
    const vuri = await vscode.commands.executeCommand<vscode.Uri>('kmsEnvelope.unsealValues', vscode.Uri.file(yaml));
    assert.equal(vuri?.scheme, 'kms-sealed', String(a.testing!.lastError()?.error));
    const editor = vscode.window.activeTextEditor!;
    assert.equal(editor.document.uri.toString(), vuri.toString());
    assert.equal(editor.document.getText(), body, 'the plaintext, header line gone');
    assert.equal(editor.document.languageId, 'yaml');
    assert.equal((await kmsCalls()) - c0, 1, 'one Decrypt to open');
    assert.equal(readFileSync(yaml, 'utf8'), sealed, 'opening wrote nothing');

    // An edit undone: the editor is dirty, the plaintext is the same. The save writes nothing and calls no KMS.
    const mtime = statSync(yaml).mtimeMs;
    const c1 = await kmsCalls();
    await editor.edit((eb) => eb.insert(new vscode.Position(0, 0), 'x'));
    await editor.edit((eb) => eb.delete(new vscode.Range(0, 0, 0, 1)));
    assert.equal(editor.document.getText(), body);
    assert.equal(editor.document.isDirty, true, 'the save below must be a real one');
    assert.equal(await editor.document.save(), true, String(a.testing!.lastError()?.error));
    assert.equal(await kmsCalls(), c1, 'a no-op save called the KMS');
    assert.equal(statSync(yaml).mtimeMs, mtime, 'a no-op save wrote the file');
    assert.equal(readFileSync(yaml, 'utf8'), sealed);

    // One value changed: its line and nothing else; no KMS call (the file's data key is in the session).
    const marker = `NEW-PASSWORD-${randomUUID()}`;
    const line = editor.document.lineAt(2);
    await editor.edit((eb) => eb.replace(line.range, `  password: ${marker}`));
    const c2 = await kmsCalls();
    assert.equal(await editor.document.save(), true, String(a.testing!.lastError()?.error));
    await waitFor(() => !editor.document.isDirty, { message: 'the save' });
    assert.equal(await kmsCalls(), c2, 'the save called the KMS');
    const after = readFileSync(yaml, 'utf8');
    assert.ok(!after.includes(marker), 'the new value reached the disk in plaintext');
    const [b, n] = [sealed.split('\n'), after.split('\n')];
    assert.equal(n.length, b.length);
    const changed = b.map((l, i) => (l === n[i] ? -1 : i)).filter((i) => i >= 0);
    assert.deepEqual(changed, [2], 'only the edited value changed');
    // Opened afresh (closed first): the new plaintext is what the file holds.
    await closeAllEditors();
    const again = await vscode.commands.executeCommand<vscode.Uri>('kmsEnvelope.unsealValues', vscode.Uri.file(yaml));
    assert.equal((await vscode.workspace.openTextDocument(again)).getText(), body.replace(password, marker));

    await new Promise((r) => setTimeout(r, 1500));
    const hits = await filesContaining(marker, plaintextSearchRoots());
    assert.deepEqual(hits, [], `plaintext found on disk: ${hits.join(', ')}`);
  });

  test('Unseal Values in File refuses a file with no sealed values, naming it', async () => {
    const a = await api();
    a.testing!.clearLastError();
    const dir = makeTempDir('plain-values-');
    const file = join(dir, 'plain.yaml');
    writeFileSync(file, 'a: 1\n');
    await vscode.commands.executeCommand('kmsEnvelope.unsealValues', vscode.Uri.file(file));
    assert.match(String((a.testing!.lastError()?.error as Error)?.message), /plain\.yaml has no sealed values/);
  });

  test('a debug session with kmsEnvelopeEnv gets the unsealed values in its environment, and nothing on disk', async function () {
    this.timeout(120_000);
    const a = await api();
    const { dir, password, token } = project('debug-values-');
    const env = join(dir, 'app.env');
    writeFileSync(env, `# app\nDB_HOST=db.internal\nDB_PASSWORD=${password}\nexport API_TOKEN="${token}"\n`);
    await vscode.commands.executeCommand('kmsEnvelope.sealValues', vscode.Uri.file(env));
    assert.ok(!readFileSync(env, 'utf8').includes(password), String(a.testing!.lastError()?.error));
    const out = join(dir, 'result.json');
    const program = join(dir, 'main.js');
    // The program writes only digests of what it got.
    writeFileSync(
      program,
      `const h=(s)=>require('crypto').createHash('sha256').update(String(s)).digest('hex');\n` +
        `require('fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify({ pw: h(process.env.DB_PASSWORD), tok: h(process.env.API_TOKEN), host: process.env.DB_HOST, own: process.env.OWN }));\n`,
    );
    const ended = new Promise<void>((resolve) => {
      const sub = vscode.debug.onDidTerminateDebugSession(() => {
        sub.dispose();
        resolve();
      });
    });
    const started = await vscode.debug.startDebugging(undefined, {
      type: 'node',
      request: 'launch',
      name: 'sealed env',
      program,
      console: 'internalConsole',
      kmsEnvelopeEnv: [env],
      env: { OWN: 'mine', DB_HOST: 'overridden' },
    });
    assert.equal(started, true, String(a.testing!.lastError()?.error));
    await ended;
    await waitFor(() => existsSync(out), { timeoutMs: 30_000, message: 'the program to write its result' });
    const got = JSON.parse(readFileSync(out, 'utf8')) as Record<string, string>;
    assert.deepEqual(got, { pw: sha(password), tok: sha(token), host: 'overridden', own: 'mine' });
    const hits = await filesContaining(password, plaintextSearchRoots());
    assert.deepEqual(hits, [], `plaintext found on disk: ${hits.join(', ')}`);
  });
});
