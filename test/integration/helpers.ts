// Helpers for suites that run inside the real extension host (see README.md in this folder).
import * as assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';

export const EXTENSION_ID = 'kms-envelope.kms-envelope';

/** How the runner started this host: from the source tree, from an installed .vsix, or in desktop VS Code. */
export type TestMode = 'source' | 'vsix' | 'electron';

export interface EmulatorInfo {
  /** Base URL of the loopback KMS emulator, e.g. http://127.0.0.1:41234 */
  url: string;
  /** The `export NAME=value` lines it printed (TENCENTCLOUD_SECRET_ID, ALIBABA_CLOUD_ACCESS_KEY_ID, ...).
   *  Deliberately NOT in process.env: discovery would otherwise point profiles at the real clouds. */
  exports: Record<string, string>;
}

function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the suites through scripts/vscode/run.ts or test/integration/electron.mjs`);
  return v;
}

/** Environment the runner passes to the extension host. */
export const testEnv = {
  /** KMS_ENVELOPE_CONFIG_DIR: a throw-away config dir the extension uses instead of the user's. */
  get configDir(): string {
    return required('KMS_ENVELOPE_CONFIG_DIR');
  },
  /** KMS_ENVELOPE_TEST_TMP: a throw-away folder for files the tests create. */
  get tmpDir(): string {
    return required('KMS_ENVELOPE_TEST_TMP');
  },
  get mode(): TestMode {
    return (process.env.KMS_ENVELOPE_TEST_MODE as TestMode | undefined) ?? 'source';
  },
  /** Absolute path of the repository (the extension's source tree). */
  get repoRoot(): string {
    return required('KMS_ENVELOPE_REPO_ROOT');
  },
  /** Extensions dir of the throw-away profile (where a .vsix gets installed). */
  get extensionsDir(): string | undefined {
    return process.env.KMS_ENVELOPE_TEST_EXTENSIONS_DIR;
  },
  /** The emulator the runner started (`--emulator`), or undefined. Suites that need it call requireEmulator(). */
  get emulator(): EmulatorInfo | undefined {
    const url = process.env.KMS_ENVELOPE_EMULATOR_URL;
    if (!url) return undefined;
    return { url, exports: JSON.parse(process.env.KMS_ENVELOPE_EMULATOR_EXPORTS ?? '{}') as Record<string, string> };
  },
};

/** The emulator, or a failed assertion explaining how to get one (a suite that needs it must not pass without it). */
export function requireEmulator(): EmulatorInfo {
  const e = testEnv.emulator;
  assert.ok(e, 'KMS_ENVELOPE_EMULATOR_URL is not set: run with `scripts/vscode/run.ts --emulator`');
  return e;
}

/**
 * Which package the host runs: `universal` (the .vsix without keytar: secrets in VS Code's SecretStorage)
 * or `platform` (keytar inside; the source tree counts as one).
 */
export function packageFlavour(): 'platform' | 'universal' {
  const ext = vscode.extensions.getExtension(EXTENSION_ID);
  assert.ok(ext, `extension ${EXTENSION_ID} is not loaded in this host`);
  return existsSync(join(ext.extensionPath, 'node_modules', 'keytar')) ? 'platform' : 'universal';
}

/** Activates the extension (it activates on its view/commands) and returns it. */
export async function activateExtension(): Promise<vscode.Extension<unknown>> {
  const ext = vscode.extensions.getExtension(EXTENSION_ID);
  assert.ok(ext, `extension ${EXTENSION_ID} is not loaded in this host`);
  await ext.activate();
  assert.equal(ext.isActive, true, `extension ${EXTENSION_ID} did not become active`);
  return ext;
}

/** A new empty directory under the runner's temp dir. */
export function makeTempDir(prefix = 'it-'): string {
  const base = join(process.env.KMS_ENVELOPE_TEST_TMP ?? tmpdir(), 'files');
  mkdirSync(base, { recursive: true });
  return mkdtempSync(join(base, prefix));
}

/** Writes `content` to a new temp file and opens it in an editor (like a user opening a workspace file). */
export async function openTempFile(
  content: string | Uint8Array,
  opts: { name?: string; language?: string; show?: boolean } = {},
): Promise<{ uri: vscode.Uri; document: vscode.TextDocument; editor: vscode.TextEditor | undefined }> {
  const file = join(makeTempDir('file-'), opts.name ?? 'sample.txt');
  writeFileSync(file, content);
  const uri = vscode.Uri.file(file);
  let document = await vscode.workspace.openTextDocument(uri);
  if (opts.language) document = await vscode.languages.setTextDocumentLanguage(document, opts.language);
  const editor = opts.show === false ? undefined : await vscode.window.showTextDocument(document, { preview: false });
  return { uri, document, editor };
}

/** Selects the whole text of an editor (or a range) so selection commands have something to act on. */
export function selectAll(editor: vscode.TextEditor, range?: vscode.Range): void {
  const r = range ?? new vscode.Range(editor.document.positionAt(0), editor.document.positionAt(editor.document.getText().length));
  editor.selection = new vscode.Selection(r.start, r.end);
}

/** Polls `probe` until it returns a truthy value (returned) or fails with `message` after timeoutMs. */
export async function waitFor<T>(
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  opts: { timeoutMs?: number; intervalMs?: number; message?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${opts.timeoutMs ?? 10_000} ms waiting for ${opts.message ?? 'a condition'}${why}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 50));
  }
}

/** Closes every editor without saving (between tests). */
export async function closeAllEditors(): Promise<void> {
  await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
  await vscode.commands.executeCommand('workbench.action.closeAllEditors');
}
