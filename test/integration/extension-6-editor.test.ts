// An open sealed editor (kms-sealed:) re-seals locally: the data key of the opened message is held in
// memory while the document is open, so saves need no KMS. Here the KMS is an emulator process this
// suite runs itself (AWS KMS wire protocol, an aws profile named "default" pointing at it), so it can
// really be stopped: 100 edits with it stopped are all saved (auto-save) with no KMS and no plaintext anywhere on
// disk (user data incl. hot-exit backups, the workspace, the temp dir), with a positive control that the
// search finds a dirty plain editor's backup; then, with it running again, its counters show zero calls
// for further saves and for saves that change nothing (which write nothing).
import * as assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fsp, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { inspect } from '../../src/core/envelope/index';
import { emulatorAdmin } from '../../src/emulator/admin-client';
import { closeAllEditors, makeTempDir, testEnv, waitFor } from './helpers';
import { api, filesContaining, plaintextSearchRoots } from './extension-support';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface EmulatorProcess {
  url: string;
  port: number;
  exports: Record<string, string>;
  counters(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

/** `kms-envelope emulator` as its own process (as a user runs it), keys kept in `statePath`. */
async function startEmulatorProcess(statePath: string, port = 0): Promise<EmulatorProcess> {
  const cli = join(testEnv.repoRoot, 'dist', 'cli.js');
  const args = [cli, 'emulator', '--seed', '--no-instance', '--port', String(port), '--state', statePath];
  const proc: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the emulator printed no URL within 20 s: ${err}`)), 20_000);
    proc.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (/Stop with Ctrl\+C/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.once('exit', (code) => reject(new Error(`the emulator exited with code ${code}: ${err || out}`)));
  });
  const url = /https?:\/\/127\.0\.0\.1:\d+/.exec(out)![0];
  const exports: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const e = /^\s*export\s+([A-Z0-9_]+)=(.*)$/.exec(line);
    if (e) exports[e[1]!] = e[2]!.replace(/^(['"])(.*)\1$/, '$2');
  }
  return {
    url,
    port: Number(new URL(url).port),
    exports,
    counters: () => emulatorAdmin(url, 'GET', 'counters'),
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  };
}

suite('extension: sealed editor saves locally', () => {
  let em: EmulatorProcess | undefined;
  let statePath = '';
  suiteSetup(async function () {
    this.timeout(60_000);
    statePath = join(makeTempDir('editor-emu-'), 'state.json');
    em = await startEmulatorProcess(statePath);
    const a = await api();
    await a.credentials.addProfile(
      // One region: the Keys view lists only it (not every AWS region) on this emulator.
      { provider: 'aws', name: 'default', endpoint: em.url, regions: ['us-east-1'] },
      { accessKeyId: em.exports.AWS_ACCESS_KEY_ID!, accessKeySecret: em.exports.AWS_SECRET_ACCESS_KEY! },
      { replace: true },
    );
    // Desktop VS Code's default; the web workbench defaults to afterDelay, which would hide hot-exit backups.
    await vscode.workspace.getConfiguration('files').update('autoSave', 'off', vscode.ConfigurationTarget.Global);
  });
  suiteTeardown(async () => {
    await closeAllEditors();
    const a = await api();
    await a.credentials.removeProfile('aws', 'default').catch(() => undefined);
    await em?.stop();
  });

  test('100 edits with the KMS stopped: saved locally, no plaintext on disk (positive control), zero KMS calls; unchanged saves write nothing', async function () {
    this.timeout(240_000);
    const a = await api();
    a.testing!.clearLastError();
    const aws = await a.keys.getProvider({ provider: 'aws', profile: 'default' });
    const key = await aws.createKey('us-east-1', { alias: `editor-${Date.now().toString(36)}` });
    const dir = makeTempDir('editor-');
    const sealed = join(dir, 'secrets.env.sealed');
    const marker = `EDITOR-PLAINTEXT-${randomUUID()}`;
    const initial = `API_TOKEN=first-${randomUUID()}\n`;
    writeFileSync(
      sealed,
      await a.envelope.sealBytes(Buffer.from(initial), [{ provider: 'aws', region: 'us-east-1', key: key.keyId }], { purpose: 'editor' }),
    );
    const first = await inspect(readFileSync(sealed));
    await emulatorAdmin(em!.url, 'DELETE', 'counters');

    const vuri = await vscode.commands.executeCommand<vscode.Uri>('kmsEnvelope.openSealedFile', vscode.Uri.file(sealed));
    const editor = vscode.window.activeTextEditor!;
    assert.equal(editor.document.uri.toString(), vuri.toString());
    assert.equal(editor.document.getText(), initial);
    const opening = await em!.counters();
    assert.equal(opening['aws:Decrypt'], 1, `opening is one Decrypt: ${JSON.stringify(opening)}`);

    // The KMS goes away for real.
    const port = em!.port;
    await em!.stop();
    em = undefined;

    let saves = 0;
    const seen = new Set<string>([first.messageId]);
    const onSave = vscode.workspace.onDidSaveTextDocument((d) => {
      if (d.uri.toString() === vuri.toString()) saves++;
    });
    try {
      for (let i = 0; i < 100; i++) {
        const doc = editor.document;
        const ok = await editor.edit((eb) => eb.insert(doc.lineAt(doc.lineCount - 1).range.end, `LINE_${i}=${marker}-${i}\n`));
        assert.equal(ok, true, `edit ${i}`);
        // Mostly typing speed; every tenth edit a pause long enough for the auto-save (300 ms) to run.
        if (i % 10 === 9) {
          await waitFor(() => !editor.document.isDirty, { timeoutMs: 5000, intervalMs: 20, message: `the auto-save after edit ${i}` });
          seen.add((await inspect(readFileSync(sealed))).messageId);
        } else await sleep(30);
      }
      await waitFor(() => !editor.document.isDirty, { timeoutMs: 5000, intervalMs: 20, message: 'the last auto-save' });
    } finally {
      onSave.dispose();
    }
    assert.equal(a.testing!.lastError(), undefined, String(a.testing!.lastError()?.error));
    assert.ok(saves >= 10, `auto-saves with the KMS stopped: ${saves}`);
    assert.ok(seen.size >= 11, `each save is a new message (new message id): ${seen.size}`);
    const text = editor.document.getText();
    assert.ok(text.endsWith(`LINE_99=${marker}-99\n`));

    // Past VS Code's hot-exit backup delay (1 s after the last edit), then look everywhere.
    await sleep(2500);
    const roots = [...plaintextSearchRoots(), ...(vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath)];
    const hits = await filesContaining(marker, roots);
    assert.deepEqual(hits, [], `plaintext of the sealed editor found on disk: ${hits.join(', ')}`);
    assert.deepEqual((await fsp.readdir(dir)).sort(), ['secrets.env.sealed'], 'nothing but the sealed file in its folder');

    // Positive control: the same search finds a dirty plain editor's hot-exit backup.
    const control = `CONTROL-${randomUUID()}`;
    const plain = join(dir, 'plain.txt');
    writeFileSync(plain, 'plain\n');
    const plainEditor = await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(vscode.Uri.file(plain)));
    await plainEditor.edit((eb) => eb.insert(new vscode.Position(0, 0), control));
    const controlHits = await waitFor(
      async () => {
        const h = await filesContaining(control, roots);
        return h.length ? h : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 1000, message: 'the backup of a dirty plain editor (positive control)' },
    );
    assert.ok(
      controlHits.some((h) => h.includes('Backups')),
      `control found, in the backup folder: ${controlHits.join(', ')}`,
    );
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');

    // The KMS back (same keys, same port): its counters stay at zero for further saves.
    em = await startEmulatorProcess(statePath, port);
    await vscode.window.showTextDocument(editor.document);
    const again = vscode.window.activeTextEditor!;
    for (let i = 0; i < 5; i++) {
      await again.edit((eb) => eb.insert(new vscode.Position(0, 0), `# edit ${i}\n`));
      await waitFor(() => !again.document.isDirty, { timeoutMs: 5000, intervalMs: 20, message: `auto-save ${i} with the KMS running` });
    }
    // Saves that change nothing: an explicit Save of the clean editor, and a character typed and deleted
    // (the editor is dirty, its text the same as on disk; the auto-save runs).
    const before = readFileSync(sealed);
    const mtime = statSync(sealed).mtimeMs;
    await vscode.commands.executeCommand('workbench.action.files.save');
    await again.edit((eb) => eb.insert(new vscode.Position(0, 0), 'x'));
    await again.edit((eb) => eb.delete(new vscode.Range(0, 0, 0, 1)));
    assert.equal(again.document.isDirty, true);
    await waitFor(() => !again.document.isDirty, { timeoutMs: 5000, intervalMs: 20, message: 'the auto-save of the unchanged text' });
    assert.equal(a.testing!.lastError(), undefined, String(a.testing!.lastError()?.error));
    assert.ok(readFileSync(sealed).equals(before), 'an unchanged save writes nothing');
    assert.equal(statSync(sealed).mtimeMs, mtime);
    const forSaves = await em.counters();
    assert.equal(forSaves.total ?? 0, 0, `KMS calls for the saves: ${JSON.stringify(forSaves)}`);

    // What is on disk is the editor's text, for the same recipient and context (one Decrypt to check).
    const opened = await a.envelope.unsealBytes(readFileSync(sealed));
    assert.equal(opened.plaintext.toString(), again.document.getText());
    assert.deepEqual(opened.header.context, { purpose: 'editor' });
    assert.deepEqual(
      opened.header.recipients.map((r) => r.keyId),
      first.recipients.map((r) => r.keyId),
    );
    assert.equal((await em.counters())['aws:Decrypt'], 1);
  });
});
