/**
 * What uses each key in this workspace: the sealed files and sealed values whose headers name it
 * (TeamService.scan: headers only, no KMS call). The Keys view shows the count on each key row
 * ("used by 3 files, 12 values"); Disable Key and Schedule Key Deletion warn with it first and offer
 * the list of files. The workspace is scanned on first need; after that only the files that change are
 * read again (debounced), so a busy workspace does not rescan everything on each save.
 */
import { promises as fsp } from 'node:fs';
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

/** How many changed paths are re-read one by one; past that (a checkout, a pull) the workspace is scanned again. */
const MAX_INCREMENTAL = 200;

/** The per-file pieces of a scan: each file's usages, each naming only that file. */
function splitByFile(all: readonly KeyUsage[]): Map<string, KeyUsage[]> {
  const out = new Map<string, KeyUsage[]>();
  for (const u of all)
    for (const f of u.files) {
      const list = out.get(f.file) ?? [];
      list.push({ ...u, files: [{ ...f }], fileCount: 1, valueCount: f.values });
      out.set(f.file, list);
    }
  return out;
}

/** The per-file pieces merged back into one usage per key, as TeamService.scan gives them. */
function mergeFiles(byFile: ReadonlyMap<string, readonly KeyUsage[]>): KeyUsage[] {
  const byKey = new Map<string, KeyUsage>();
  for (const list of byFile.values())
    for (const u of list) {
      const had = byKey.get(u.key);
      if (!had) byKey.set(u.key, { ...u, files: [...u.files] });
      else {
        had.files.push(...u.files);
        had.fileCount += u.fileCount;
        had.valueCount += u.valueCount;
      }
    }
  for (const u of byKey.values()) u.files.sort((a, b) => a.file.localeCompare(b.file));
  return [...byKey.values()].sort((a, b) => a.key.localeCompare(b.key));
}

export class KeyUsageIndex implements vscode.Disposable {
  private byFile?: Map<string, KeyUsage[]>;
  private usage?: KeyUsage[];
  private running?: Promise<KeyUsage[]>;
  /** Paths changed since the last scan (re-read one by one), or everything (a folder came or went). */
  private changed = new Set<string>();
  private everything = true;
  private timer?: NodeJS.Timeout;
  private readonly subs: vscode.Disposable[] = [];
  /** Whole-workspace scans and single-file re-reads so far (the integration test reads them). */
  scans = 0;
  fileScans = 0;

  constructor(
    private readonly team: TeamAccess,
    private readonly log: ExtensionLogger,
    /** Called after a scan changed what the index holds (the tree redraws its key rows). */
    private readonly onChanged: () => void,
  ) {
    const watcher = vscode.workspace.createFileSystemWatcher('**/*');
    const touched = (uri: vscode.Uri) => {
      if (uri.scheme !== 'file' || /[\\/](\.git|node_modules)([\\/]|$)/.test(uri.fsPath)) return;
      this.changed.add(uri.fsPath);
      this.schedule();
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

  /** Scan the whole workspace again shortly (a folder was added or removed). */
  invalidate(): void {
    this.everything = true;
    this.schedule();
  }

  private get stale(): boolean {
    return this.everything || this.changed.size > 0;
  }

  /** Something changed: bring the index up to date shortly, if it was ever asked for. */
  private schedule(): void {
    if (!this.usage) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.update().catch(() => undefined), 1500);
    this.timer.unref?.();
  }

  /** The count for a key from the last scan; starts the first scan (and answers undefined until it is done). */
  peek(k: KeyRefLike): UsageCount | undefined {
    if (!this.usage) {
      void this.update().catch(() => undefined);
      return undefined;
    }
    return countFor(this.usage, k);
  }

  /** The count for a key from an up-to-date index (Disable Key, Schedule Key Deletion). */
  async countOf(k: KeyRefLike): Promise<UsageCount> {
    return countFor(this.stale || !this.usage ? await this.update() : this.usage, k);
  }

  /** Scans every file of the workspace again (the view's Refresh): headers only, no KMS call. */
  async refresh(): Promise<KeyUsage[]> {
    await this.running?.catch(() => undefined);
    this.everything = true;
    return this.update();
  }

  /**
   * Brings the index up to date from headers only (no KMS call): the first time and after a folder
   * change, every file of the workspace; after edits, only the files that changed.
   */
  private update(): Promise<KeyUsage[]> {
    this.running ??= (async () => {
      try {
        const paths = [...this.changed];
        const whole = this.everything || !this.byFile || paths.length > MAX_INCREMENTAL;
        this.changed.clear();
        this.everything = false;
        const byFile = whole ? await this.scanWorkspace() : await this.rescan(this.byFile!, paths);
        const out = mergeFiles(byFile);
        const before = JSON.stringify(this.usage ?? null);
        this.byFile = byFile;
        this.usage = out;
        if (JSON.stringify(out) !== before) this.onChanged();
        return out;
      } catch (err) {
        this.log.warn(`Key usage: scanning the workspace failed: ${err instanceof Error ? err.message : String(err)}`);
        this.usage ??= [];
        this.everything = true;
        throw err;
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  private async scanWorkspace(): Promise<Map<string, KeyUsage[]>> {
    const dirs = (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
    this.scans++;
    if (!dirs.length) return new Map();
    const { listFiles } = await import('../core/git/repo.js');
    const svc = await this.team.service();
    return splitByFile(await svc.scan(await listFiles(dirs), await this.team.policies()));
  }

  /** Re-reads the changed paths only: gone ones (a file, or a folder and what was below it) drop out. */
  private async rescan(prev: ReadonlyMap<string, KeyUsage[]>, paths: string[]): Promise<Map<string, KeyUsage[]>> {
    const byFile = new Map(prev);
    const files: string[] = [];
    for (const p of paths) {
      for (const f of byFile.keys()) if (f === p || f.startsWith(p + path.sep)) byFile.delete(f);
      const st = await fsp.stat(p).catch(() => undefined);
      if (st?.isFile()) files.push(p);
      else if (st?.isDirectory()) {
        // A folder appeared (moved in, checked out): what is below it, as the full scan would list it.
        const { listFiles } = await import('../core/git/repo.js');
        files.push(...(await listFiles([p])));
      }
    }
    if (!files.length) return byFile;
    const svc = await this.team.service();
    const { ignoredFiles } = await import('../core/git/repo.js');
    const kept = await ignoredFiles(files).then((ignored) => files.filter((f) => !ignored.has(f)));
    this.fileScans += kept.length;
    for (const [file, list] of splitByFile(await svc.scan(kept, await this.team.policies()))) byFile.set(file, list);
    return byFile;
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
      `${consequence} Re-wrap them to another key first (KMS Envelope: Re-wrap Sealed File).`,
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
