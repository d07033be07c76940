// The extension loads and activates in a real VS Code extension host, from the source tree or from
// the packaged .vsix, and its manifest and its registered commands agree.
import * as assert from 'node:assert/strict';
import { realpathSync } from 'node:fs';
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
