/**
 * What uses each key in this workspace: the sealed files and sealed values whose headers name it
 * (TeamService.scan: headers only, no KMS call). The Keys view shows the count on each key row
 * ("used by 3 files, 12 values"); Disable Key and Schedule Key Deletion warn with it first and offer
 * the list of files. The workspace is scanned on first need, then again (debounced) after files change.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { KeyUsage } from '../core/services/team-service';
import type { ExtensionLogger } from './log';
import type { TeamAccess } from './team';
import { dismissed, ui } from './ui';

export interface UsageCount {
  /** Files naming the key (sealed files and files of sealed values), absolute, sorted. */
  files: Array<{ file: string; kind: 'file' | 'values'; values: number }>;
  values: number;
}

/** "used by 3 files, 12 values" ('' when nothing uses the key). */
export function usageText(u: UsageCount | undefined): string {
  if (!u || !u.files.length) return '';
  const n = (k: number, w: string) => `${k} ${w}${k === 1 ? '' : 's'}`;
  return `used by ${n(u.files.length, 'file')}${u.values ? `, ${n(u.values, 'value')}` : ''}`;
}

/** A key as the tree and the commands know it. */
export interface KeyRefLike {
  provider: string;
  region: string;
  keyId: string;
  arn?: string;
}

/** The usages naming this key: headers name a key by its id (Tencent, Alibaba, local) or its ARN (AWS). */
export function countFor(all: readonly KeyUsage[], k: KeyRefLike): UsageCount {
  const files = new Map<string, { file: string; kind: 'file' | 'values'; values: number }>();
  let values = 0;
  for (const u of all) {
    const r = u.recipient;
    if (r.provider !== k.provider || r.region !== k.region || (r.keyId !== k.keyId && (!k.arn || r.keyId !== k.arn))) continue;
    for (const f of u.files) {
      const had = files.get(f.file);
      if (had) had.values += f.values;
      else files.set(f.file, { ...f });
    }
    values += u.valueCount;
  }
  return { files: [...files.values()].sort((a, b) => a.file.localeCompare(b.file)), values };
}

export class KeyUsageIndex implements vscode.Disposable {
  private usage?: KeyUsage[];
  private running?: Promise<KeyUsage[]>;
  private stale = true;
  private timer?: NodeJS.Timeout;
  private readonly subs: vscode.Disposable[] = [];
  /** Scans run so far (the integration test reads it). */
  scans = 0;

  constructor(
    private readonly team: TeamAccess,
    private readonly log: ExtensionLogger,
    /** Called after a scan changed what the index holds (the tree redraws its key rows). */
    private readonly onChanged: () => void,
  ) {
    const watcher = vscode.workspace.createFileSystemWatcher('**/*');
    const touched = (uri: vscode.Uri) => {
      if (/[\\/](\.git|node_modules)([\\/]|$)/.test(uri.fsPath)) return;
      this.invalidate();
    };
    this.subs.push(
      watcher,
      watcher.onDidChange(touched),
      watcher.onDidCreate(touched),
      watcher.onDidDelete(touched),
      vscode.workspace.onDidSaveTextDocument((d) => touched(d.uri)),
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.invalidate()),
    );
  }

  dispose(): void {
    clearTimeout(this.timer);
    for (const s of this.subs) s.dispose();
  }

  /** Files changed: scan again shortly, if the index was ever asked for. */
  invalidate(): void {
    this.stale = true;
    if (!this.usage) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.refresh().catch(() => undefined), 1500);
    this.timer.unref?.();
  }

  /** The count for a key from the last scan; starts the first scan (and answers undefined until it is done). */
  peek(k: KeyRefLike): UsageCount | undefined {
    if (!this.usage) {
      void this.refresh().catch(() => undefined);
      return undefined;
    }
    return countFor(this.usage, k);
  }

  /** The count for a key from an up-to-date scan (Disable Key, Schedule Key Deletion). */
  async countOf(k: KeyRefLike): Promise<UsageCount> {
    return countFor(this.stale || !this.usage ? await this.refresh() : this.usage, k);
  }

  /** Scans every folder of the workspace on disk: headers only, no KMS call. */
  refresh(): Promise<KeyUsage[]> {
    this.running ??= (async () => {
      try {
        const dirs = (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
        this.stale = false;
        let out: KeyUsage[] = [];
        if (dirs.length) {
          const { listFiles } = await import('../core/git/repo.js');
          const svc = await this.team.service();
          out = await svc.scan(await listFiles(dirs), await this.team.policies());
        }
        this.scans++;
        const before = JSON.stringify(this.usage ?? null);
        this.usage = out;
        if (JSON.stringify(out) !== before) this.onChanged();
        return out;
      } catch (err) {
        this.log.warn(`Key usage: scanning the workspace failed: ${err instanceof Error ? err.message : String(err)}`);
        this.usage ??= [];
        throw err;
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }
}

/**
 * Before a key is disabled or scheduled for deletion: when files of this workspace name it, a modal
 * warning with the count, and a list of the files on request; goes on only when the person says so.
 */
export async function warnIfUsed(index: KeyUsageIndex, k: KeyRefLike & { name: string }, action: 'Disable' | 'Schedule Deletion') {
  const u = await index.countOf(k);
  if (!u.files.length) return;
  const consequence =
    action === 'Disable'
      ? 'While it is disabled, they cannot be opened with this key (nor saved again to it).'
      : 'Once it is deleted, whatever is sealed only to this key can never be opened again.';
  const go = action === 'Disable' ? 'Disable Anyway' : 'Schedule Deletion Anyway';
  for (;;) {
    const c = await ui.prompts.choose(
      `Key ${k.name} is ${usageText(u)} in this workspace.`,
      `${consequence} Re-wrap them to another key first (Re-wrap Sealed File, or kms-envelope rewrap <files> --add-key <keyref>).`,
      'Show Files',
      go,
    );
    if (c === go) return;
    if (c !== 'Show Files') dismissed();
    const root = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    const picked = await ui.prompts.pick(
      u.files.map((f) => ({
        label: root ? path.relative(root, f.file) : f.file,
        description: f.kind === 'values' ? `${f.values} sealed value${f.values === 1 ? '' : 's'}` : 'sealed file',
        file: f.file,
      })),
      { title: `Files that name key ${k.name} (${usageText(u)})`, placeHolder: 'Pick one to reveal it in the explorer, Escape to go back' },
    );
    if (picked) await vscode.commands.executeCommand('revealInExplorer', vscode.Uri.file(picked.file));
  }
}
