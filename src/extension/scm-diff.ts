/**
 * Decrypted diffs in the Source Control view. The git extension opens a change as a diff of git:
 * URIs (HEAD, the index) and the file itself; for a sealed file both sides are ciphertext (VS Code
 * does not run git's textconv for the working tree), for a file with sealed values every changed value
 * is an unreadable record. When such a diff opens, it is replaced by the same diff of read-only
 * kms-sealed: views (sealed-fs.ts): each side read through VS Code (git: sides by the git extension's
 * file system) and unsealed in memory. Nothing is written to disk.
 *
 * `kmsEnvelope.openDecryptedDiff` (the Source Control view's context menu, the palette) opens it on
 * purpose, through the git extension's API (vscode.git: getRepository, toGitUri).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { usageError } from '../core/errors';
import type { ExtensionLogger } from './log';
import { SEALED_SCHEME, viewUri } from './sealed-fs';
import { settings } from './settings';
import type { TeamAccess } from './team';
import { dismissed } from './ui';

/** Largest side looked at (a bigger file of values is not diffed decrypted; a sealed file by name is). */
const SNIFF_LIMIT = 64 * 1024 * 1024;

/** The part of the git extension's API (extensions/git/src/api/git.d.ts, version 1) used here. */
interface GitApi {
  toGitUri(uri: vscode.Uri, ref: string): vscode.Uri;
  getRepository(uri: vscode.Uri): { rootUri: vscode.Uri; state: { indexChanges: Array<{ uri: vscode.Uri }> } } | null;
}

async function gitApi(): Promise<GitApi | undefined> {
  const ext = vscode.extensions.getExtension<{ enabled: boolean; getAPI(v: 1): GitApi }>('vscode.git');
  if (!ext) return undefined;
  const exp = ext.isActive ? ext.exports : await ext.activate();
  return exp?.enabled ? exp.getAPI(1) : undefined;
}

/** The file a diff side stands for: a file: URI's path, a git: URI's `path` query field. */
export function filePathOf(uri: vscode.Uri): string | undefined {
  if (uri.scheme === 'file') return uri.fsPath;
  if (uri.scheme === 'git') {
    try {
      const q = JSON.parse(uri.query) as { path?: unknown };
      return typeof q.path === 'string' ? q.path : uri.fsPath;
    } catch {
      return uri.fsPath;
    }
  }
  return undefined;
}

export class DecryptedDiffs {
  /** Diffs being replaced (original|modified), so a tab event seen twice is handled once. */
  private readonly busy = new Set<string>();

  constructor(
    private readonly team: TeamAccess,
    private readonly log: ExtensionLogger,
  ) {}

  private enabled(): boolean {
    return vscode.workspace.getConfiguration('kmsEnvelope').get<boolean>('git.decryptedDiffs') ?? true;
  }

  /** Whether one side holds sealed content (a blob, sealed values, armored values). Reads the side. */
  private async sealedSide(uri: vscode.Uri, file: string): Promise<boolean> {
    try {
      if (uri.scheme === 'file') {
        const st = await fsp.stat(uri.fsPath);
        if (st.size > SNIFF_LIMIT) return false;
      }
      const bytes = Buffer.from(await vscode.workspace.fs.readFile(uri));
      if (bytes.length > SNIFF_LIMIT) return false;
      const { classify } = await import('../core/services/team-service.js');
      return (await classify(file, bytes, await this.team.policies())).kind !== 'plain';
    } catch {
      return false; // a side that does not exist (an added or deleted file)
    }
  }

  /** Is this diff one of a sealed file / a file with sealed values? */
  private async wants(original: vscode.Uri, modified: vscode.Uri): Promise<string | undefined> {
    const schemes = ['file', 'git'];
    if (!schemes.includes(original.scheme) || !schemes.includes(modified.scheme)) return undefined;
    if (original.scheme === 'file' && modified.scheme === 'file') return undefined; // not a change git shows
    const file = filePathOf(modified) ?? filePathOf(original);
    if (!file) return undefined;
    if (file.endsWith(settings.sealedSuffix())) return file;
    return (await this.sealedSide(modified, file)) || (await this.sealedSide(original, file)) ? file : undefined;
  }

  /** Tabs opened (or a preview tab given another input): replace diffs of sealed content. */
  onTabs(tabs: readonly vscode.Tab[]): void {
    if (!this.enabled()) return;
    for (const t of tabs) {
      const input = t.input;
      if (!(input instanceof vscode.TabInputTextDiff)) continue;
      if (input.original.scheme === SEALED_SCHEME || input.modified.scheme === SEALED_SCHEME) continue;
      const id = `${input.original.toString()}|${input.modified.toString()}`;
      if (this.busy.has(id)) continue;
      this.busy.add(id);
      void this.replace(t, input)
        .catch((err: unknown) => this.log.warn(`Decrypted diff of ${input.modified.toString(true)}: ${(err as Error).message}`))
        .finally(() => this.busy.delete(id));
    }
  }

  private async replace(tab: vscode.Tab, input: vscode.TabInputTextDiff): Promise<void> {
    const file = await this.wants(input.original, input.modified);
    if (!file) return;
    const title = `${tab.label} (decrypted)`;
    const column = tab.group.viewColumn;
    const preview = tab.isPreview;
    this.log.info(`Showing the diff of ${file} decrypted in memory (${input.original.toString(true)} ↔ ${input.modified.toString(true)}).`);
    await vscode.window.tabGroups.close(tab, true).then(undefined, () => undefined);
    await this.open(input.original, input.modified, file, title, { viewColumn: column, preview });
  }

  private async open(original: vscode.Uri, modified: vscode.Uri, file: string, title: string, opts: vscode.TextDocumentShowOptions) {
    await vscode.commands.executeCommand('vscode.diff', viewUri(original, file), viewUri(modified, file), title, opts);
  }

  /**
   * The command: the decrypted diff of a file against the index (or HEAD when `staged`), through the
   * git extension's API. From the Source Control view it gets the resource state(s).
   */
  async openDecryptedDiff(arg?: unknown): Promise<vscode.Uri[]> {
    const a = arg as { resourceUri?: vscode.Uri } | vscode.Uri | undefined;
    let uri = a instanceof vscode.Uri ? a : a?.resourceUri;
    uri ??= vscode.window.activeTextEditor?.document.uri;
    if (!uri || uri.scheme !== 'file') dismissed();
    const git = await gitApi();
    if (!git)
      throw usageError('The git extension (vscode.git) is not available or disabled.', 'Enable it (setting git.enabled) and retry.');
    const repo = git.getRepository(uri);
    if (!repo) throw usageError(`${uri.fsPath} is not in a git repository VS Code has open.`, 'Open the repository folder and retry.');
    const staged = repo.state.indexChanges.some((c) => c.uri.fsPath === uri.fsPath);
    // Working tree against the index (what "Open Changes" shows), or the staged change against HEAD.
    const left = git.toGitUri(uri, staged ? 'HEAD' : '~');
    const right = staged ? git.toGitUri(uri, '') : uri;
    const base = path.basename(uri.fsPath);
    await this.open(left, right, uri.fsPath, `${base} (${staged ? 'Index' : 'Working Tree'}) (decrypted)`, { preview: true });
    return [viewUri(left, uri.fsPath), viewUri(right, uri.fsPath)];
  }
}
