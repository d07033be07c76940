// The extension loads and activates in a real VS Code extension host, from the source tree or from
// the packaged .vsix, and its manifest and its registered commands agree.
import * as assert from 'node:assert/strict';
import { existsSync, realpathSync } from 'node:fs';
import { relative, isAbsolute } from 'node:path';
import * as vscode from 'vscode';
import { EXTENSION_ID, activateExtension, testEnv } from './helpers';

interface Manifest {
  name: string;
  publisher: string;
  version: string;
  main: string;
  contributes: {
    commands?: { command: string; title: string }[];
    views?: Record<string, { id: string }[]>;
    viewsContainers?: Record<string, { id: string }[]>;
  };
}

// Commands the workbench itself registers for every contributed view / view container.
const WORKBENCH_VIEW_COMMAND_SUFFIXES = ['.focus', '.resetViewLocation', '.toggleVisibility', '.removeView', '.open'];

const isInside = (child: string, parent: string) => {
  const rel = relative(realpathSync(parent), realpathSync(child));
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
};

suite('activation @packaged', () => {
  test('the extension is present and activates', async () => {
    const ext = await activateExtension();
    const pkg = ext.packageJSON as Manifest;
    assert.equal(`${pkg.publisher}.${pkg.name}`.toLowerCase(), EXTENSION_ID);
    assert.equal(ext.isActive, true);
  });

  test('the host runs the build under test (source tree or installed .vsix)', () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
    if (testEnv.mode === 'vsix') {
      const dir = testEnv.extensionsDir;
      assert.ok(dir, 'KMS_ENVELOPE_TEST_EXTENSIONS_DIR must be set in vsix mode');
      assert.ok(isInside(ext.extensionPath, dir), `expected the installed copy under ${dir}, got ${ext.extensionPath}`);
      assert.equal(ext.extensionKind, vscode.ExtensionKind.Workspace);
    } else if (testEnv.mode === 'source') {
      assert.equal(realpathSync(ext.extensionPath), realpathSync(testEnv.repoRoot));
    } else {
      assert.ok(ext.extensionPath.length > 0);
    }
  });

  test('runs on the workspace side of a remote window: UI in a browser, the host on the server with the workspace files', () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
    assert.deepEqual((ext.packageJSON as { extensionKind?: string[] }).extensionKind, ['workspace']);
    assert.equal(ext.extensionKind, vscode.ExtensionKind.Workspace);
    if (testEnv.mode === 'electron') return; // a desktop window without a remote is all local
    // code-server is a remote window: the workbench runs in Chromium, this host next to the files.
    assert.equal(vscode.env.uiKind, vscode.UIKind.Web);
    assert.ok(vscode.env.remoteName, 'a code-server window is a remote window (remoteName is its host:port)');
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder, 'the runner opens a folder');
    assert.equal(folder.uri.scheme, 'file', 'the host sees the workspace as local files (Seal File writes beside them)');
    assert.ok(existsSync(folder.uri.fsPath), `${folder.uri.fsPath} is not on this host's disk`);
  });

  test('every command in contributes.commands is registered', async () => {
    await activateExtension();
    const manifest = vscode.extensions.getExtension(EXTENSION_ID)!.packageJSON as Manifest;
    const declared = (manifest.contributes.commands ?? []).map((c) => c.command);
    assert.ok(declared.length > 0, 'the manifest declares no commands');
    const registered = new Set(await vscode.commands.getCommands(true));
    const missing = declared.filter((c) => !registered.has(c));
    assert.deepEqual(missing, [], `declared in package.json but not registered: ${missing.join(', ')}`);
  });

  test('every registered kmsEnvelope.* command is declared in the manifest', async () => {
    await activateExtension();
    const manifest = vscode.extensions.getExtension(EXTENSION_ID)!.packageJSON as Manifest;
    const declared = new Set((manifest.contributes.commands ?? []).map((c) => c.command));
    const viewIds = [
      ...Object.values(manifest.contributes.views ?? {})
        .flat()
        .map((v) => v.id),
      ...Object.values(manifest.contributes.viewsContainers ?? {})
        .flat()
        .map((v) => v.id),
    ];
    const generated = (c: string) => viewIds.some((id) => WORKBENCH_VIEW_COMMAND_SUFFIXES.some((s) => c === id + s));
    const ours = (await vscode.commands.getCommands(true)).filter((c) => c.startsWith('kmsEnvelope.'));
    const undeclared = ours.filter((c) => !declared.has(c) && !generated(c));
    assert.deepEqual(undeclared, [], `registered but missing from contributes.commands: ${undeclared.join(', ')}`);
  });

  test('the Keys view container opens', async () => {
    await activateExtension();
    await vscode.commands.executeCommand('workbench.view.extension.kmsEnvelope');
    await vscode.commands.executeCommand('kmsEnvelope.keys.focus');
  });
});
