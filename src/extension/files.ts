/**
 * Files: Seal File (`<name>.sealed`, atomic, then an offer to delete the plaintext original),
 * Unseal File (the reverse; an existing output is overwritten only after a confirmation), Open
 * Sealed File (plaintext in an editor through the kms-sealed: file system, nothing on disk),
 * Re-wrap (to another key, or with a recipient added), Inspect (the header as a read-only
 * Markdown document, no KMS call), a badge on sealed files in the explorer, and an offer to open
 * a sealed file decrypted when it is opened as bytes.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { writeFileAtomic } from '../core/atomic';
import { KmsEnvelopeError, usageError } from '../core/errors';
import { dearmor, isSealed } from '../core/envelope/armor';
import type { EnvelopeService, KeyTarget } from '../core/services/envelope-service';
import { headerMarkdown, inspectBlob as inspect, targetName } from '../core/services/envelope-service';
import type { RecipientInfo } from '../core/envelope/recipients';
import { recipientLabel } from '../core/envelope/recipients';
import type { RecipientChange } from '../core/services/team-service';
import type { KeyExclude, KeyPicker } from './key-picker';
import type { TeamAccess } from './team';
import type { ExtensionLogger } from './log';
import { blobOf, sealedUri } from './sealed-fs';
import { blobAt } from './selection';
import { settings } from './settings';
import { dismissed, ui, withCancellableProgress } from './ui';

export const INSPECT_SCHEME = 'kms-inspect';

function isTarget(a: unknown): a is KeyTarget {
  const t = a as KeyTarget;
  return !!t && typeof t === 'object' && typeof t.provider === 'string' && typeof t.region === 'string' && typeof t.key === 'string';
}

/** Something is at `p`; a symbolic link counts even when it dangles (writing there replaces the link). */
async function exists(p: string): Promise<boolean> {
  return fsp.lstat(p).then(
    () => true,
    () => false,
  );
}

async function firstBytes(p: string, n = 512): Promise<Buffer> {
  const fh = await fsp.open(p, 'r');
  try {
    const b = Buffer.alloc(n);
    const { bytesRead } = await fh.read(b, 0, n, 0);
    return b.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

export class FileCommands implements vscode.Disposable, vscode.FileDecorationProvider, vscode.TextDocumentContentProvider {
  private readonly decorationEmitter = new vscode.EventEmitter<vscode.Uri | vscode.Uri[] | undefined>();
  readonly onDidChangeFileDecorations = this.decorationEmitter.event;
  private readonly inspectDocs = new Map<string, string>();
  private readonly offered = new Set<string>();
  private inspectCounter = 0;

  constructor(
    private readonly envelope: EnvelopeService,
    private readonly picker: KeyPicker,
    private readonly log: ExtensionLogger,
    private readonly team?: TeamAccess,
  ) {}

  dispose(): void {
    this.decorationEmitter.dispose();
    this.inspectDocs.clear();
  }

  refreshDecorations(): void {
    this.decorationEmitter.fire(undefined);
  }

  provideFileDecoration(uri: vscode.Uri): vscode.FileDecoration | undefined {
    if (uri.scheme !== 'file' || !uri.path.endsWith(settings.sealedSuffix())) return undefined;
    // A letter, not an emoji: emoji badges render as empty boxes where no emoji font is installed (seen in headless Chromium on Linux).
    return new vscode.FileDecoration('S', 'Sealed with KMS Envelope (right-click: Open Sealed File, Unseal File, Inspect)');
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.inspectDocs.get(uri.query) ?? '(this header view has expired: run KMS Envelope: Inspect again)';
  }

  /** Explorer passes (clicked, allSelected); the key view passes (uri, target). */
  private uris(arg?: unknown, second?: unknown): vscode.Uri[] {
    if (Array.isArray(second) && second.length && second.every((u) => u instanceof vscode.Uri)) return second as vscode.Uri[];
    if (arg instanceof vscode.Uri) return [arg];
    const doc = vscode.window.activeTextEditor?.document;
    if (doc && !doc.isUntitled) return [doc.uri];
    return [];
  }

  private async askFile(title: string, filters?: Record<string, string[]>): Promise<vscode.Uri> {
    const picked = await vscode.window.showOpenDialog({ canSelectMany: false, openLabel: title, filters });
    if (!picked?.[0]) dismissed();
    return picked[0];
  }

  private fsPath(uri: vscode.Uri): string {
    if (uri.scheme !== 'file') throw usageError(`${uri.toString(true)} is not a file on this machine's disk.`, 'Save it to a file first.');
    return uri.fsPath;
  }

  private async confirmOverwrite(out: string): Promise<void> {
    if (!(await exists(out))) return;
    const ok = await ui.prompts.confirm(
      `${path.basename(out)} already exists. Replace it?`,
      `${out} will be replaced atomically.`,
      'Replace',
    );
    if (!ok) dismissed();
  }

  async sealFile(arg?: unknown, second?: unknown): Promise<string[]> {
    let uris = this.uris(arg, isTarget(second) ? undefined : second);
    if (!uris.length) uris = [await this.askFile('Seal')];
    const suffix = settings.sealedSuffix();
    const files = uris.map((u) => this.fsPath(u));
    for (const f of files) {
      if (f.endsWith(suffix) || isSealed(await firstBytes(f)))
        throw usageError(`${f} is already sealed.`, 'Use Re-wrap to change its keys, or Open Sealed File to edit it.', { file: f });
    }
    const target = await this.picker.resolve(isTarget(second) ? second : undefined, 'Seal File with which key?');
    const outs: string[] = [];
    for (const f of files) {
      const out = f + suffix;
      await this.confirmOverwrite(out);
      const size = (await fsp.stat(f)).size;
      let last = 0;
      await withCancellableProgress(`Sealing ${path.basename(f)} with ${targetName(target)}…`, (signal, progress) =>
        this.envelope.sealFile(f, out, [target], settings.encryptionContext(), {
          signal,
          onProgress: (done) => {
            if (!size) return;
            const pct = Math.floor((done / size) * 100);
            if (pct > last) {
              progress.report(`${pct}%`, pct - last);
              last = pct;
            }
          },
        }),
      );
      outs.push(out);
      this.decorationEmitter.fire(vscode.Uri.file(out));
    }
    const names = files.map((f) => path.basename(f)).join(', ');
    const choice = await ui.prompts.offer(
      `Sealed ${names} → ${outs.map((o) => path.basename(o)).join(', ')}. Delete the plaintext original${files.length > 1 ? 's' : ''}?`,
      'Delete Original',
      'Keep',
    );
    if (choice === 'Delete Original') {
      for (const f of files) {
        // Permanently: a plaintext copy in the trash would defeat the point.
        await fsp.rm(f, { force: true });
        this.log.info(`Deleted the plaintext original ${f}`);
      }
    }
    return outs;
  }

  async unsealFile(arg?: unknown, second?: unknown): Promise<string[]> {
    let uris = this.uris(arg, second);
    if (!uris.length) uris = [await this.askFile('Unseal')];
    const suffix = settings.sealedSuffix();
    const outs: string[] = [];
    for (const u of uris) {
      const f = this.fsPath(u);
      if (!isSealed(await firstBytes(f)))
        throw usageError(`${f} is not a sealed file.`, 'Pick a file made by Seal File (or kms-envelope seal).', { file: f });
      const out = f.endsWith(suffix) && f.length > suffix.length ? f.slice(0, -suffix.length) : f + '.unsealed';
      await this.confirmOverwrite(out);
      const size = (await fsp.stat(f)).size;
      let last = 0;
      const head = await firstBytes(f, 64);
      if (
        head
          .toString('latin1')
          .replace(/^\xef\xbb\xbf/, '')
          .trimStart()
          .startsWith('kmsenv:')
      ) {
        // Armored text (kms-envelope seal --armor): small by nature; unsealed in memory, written atomically.
        const { blob } = blobOf(await fsp.readFile(f));
        const { plaintext } = await withCancellableProgress(`Unsealing ${path.basename(f)}…`, (signal) =>
          this.envelope.unsealBytes(blob, { signal }),
        );
        try {
          await writeFileAtomic(out, plaintext);
        } finally {
          plaintext.fill(0);
        }
      } else {
        await withCancellableProgress(`Unsealing ${path.basename(f)}…`, (signal, progress) =>
          this.envelope.unsealFile(f, out, {
            signal,
            onProgress: (done) => {
              const pct = Math.floor((done / Math.max(1, size)) * 100);
              if (pct > last) {
                progress.report(`${pct}%`, pct - last);
                last = pct;
              }
            },
          }),
        );
      }
      outs.push(out);
    }
    vscode.window.setStatusBarMessage(`$(unlock) Unsealed ${outs.map((o) => path.basename(o)).join(', ')}`, 5000);
    return outs;
  }

  async openSealedFile(arg?: unknown): Promise<vscode.Uri> {
    let uri = this.uris(arg)[0];
    if (!uri || uri.scheme !== 'file') uri = await this.askFile('Open Decrypted');
    const f = this.fsPath(uri);
    if (!isSealed(await firstBytes(f))) throw usageError(`${f} is not a sealed file.`, 'Open it normally, or seal it first.', { file: f });
    const target = sealedUri(f);
    const doc = await vscode.workspace.openTextDocument(target);
    await vscode.window.showTextDocument(doc, { preview: false });
    return target;
  }

  /** Asks how the recipients change: add a key not yet in every file, re-wrap to one key, or remove one. */
  private async askRecipientChange(names: string, current: RecipientInfo[][]): Promise<{ change: RecipientChange; what: string }> {
    const same = (r: RecipientInfo, provider: string, region: string, keyId: string, arn?: string) =>
      r.provider === provider && r.region === region && (r.keyId === keyId || (!!arn && r.keyId === arn));
    // Offered to add: keys that are not a recipient of every selected file already.
    const inAll: KeyExclude = (provider, region, keyId, arn) =>
      current.every((rs) => rs.some((r) => same(r, provider, region, keyId, arn)));
    const union = new Map<string, RecipientInfo>();
    for (const rs of current) for (const r of rs) union.set(recipientLabel(r), r);
    const mode = await ui.prompts.pick(
      [
        {
          label: '$(add) Add a recipient',
          description: `keep the current key${union.size === 1 ? '' : 's'} and add one`,
          mode: 'add' as const,
        },
        { label: '$(replace) Re-wrap to another key', description: 'only that key opens it afterwards', mode: 'replace' as const },
        ...(union.size > 1
          ? [{ label: '$(remove) Remove a recipient', description: 'at least one key stays', mode: 'remove' as const }]
          : []),
      ],
      { title: `Re-wrap ${names}` },
    );
    if (!mode) dismissed();
    const change: RecipientChange = { add: [], remove: [] };
    let what: string;
    if (mode.mode === 'remove') {
      const r = await ui.prompts.pick(
        [...union.values()].map((x) => ({ label: recipientLabel(x), recipient: x })),
        { title: `Re-wrap ${names}: recipient to remove` },
      );
      if (!r) dismissed();
      change.remove.push({ provider: r.recipient.provider ?? r.recipient.providerId, ...r.recipient, label: r.label });
      what = `without ${r.label}`;
    } else {
      const target = await this.picker.pick(mode.mode === 'add' ? `Re-wrap ${names}: recipient to add` : `Re-wrap ${names} to which key?`, {
        exclude: mode.mode === 'add' ? inAll : undefined,
      });
      await this.picker.remember(target);
      const [recipient] = await this.envelope.recipients([target]);
      const meta = await recipient.provider.describeKey(target.region, target.key);
      // Headers name a key by id, or by ARN (AWS): use the name the current headers use.
      const keyId =
        meta.arn && current.some((rs) => rs.some((r) => r.keyId === meta.arn))
          ? meta.arn
          : meta.arn && target.provider === 'aws'
            ? meta.arn
            : meta.keyId;
      const entry = { recipient: { ...recipient, key: meta.keyId }, keyId, label: `${target.provider}:${target.region}:${keyId}` };
      if (mode.mode === 'add') change.add.push(entry);
      else change.to = [entry];
      what = mode.mode === 'add' ? `+ ${meta.alias ?? keyId}` : `→ ${meta.alias ?? keyId}`;
    }
    return { change, what };
  }

  /**
   * Re-wrap: other recipients for the selected sealed files and files of sealed values (explorer
   * multi-select), through the core's header re-wrap (TeamService.rewrap): one Decrypt per file, the
   * EDKs of the keys that stay kept, one Encrypt per new cloud recipient; a file of values changes in
   * its header line only. Keys already recipients of every selected file are not offered.
   */
  async rewrapFile(arg?: unknown, second?: unknown): Promise<string[]> {
    let uris = this.uris(arg, second).filter((u) => u.scheme === 'file');
    if (!uris.length) uris = [await this.askFile('Re-wrap')];
    const files = uris.map((u) => this.fsPath(u));
    if (!this.team) throw usageError('Re-wrap is not available in this window.', 'Reload the window.');
    const { recipientsOfFile } = await import('../core/services/team-service.js');
    const current: RecipientInfo[][] = [];
    for (const f of files) {
      const r = await recipientsOfFile(f).catch(() => undefined);
      if (!r?.length)
        throw usageError(
          `${f} is neither a sealed file nor a file of sealed values.`,
          'Re-wrap works on what Seal File, Seal Values or kms-envelope seal wrote; seal this file first.',
          { file: f },
        );
      current.push(r);
    }
    const names = files.length === 1 ? path.basename(files[0]) : `${files.length} files`;
    const { change, what } = await this.askRecipientChange(names, current);
    const svc = await this.team.service();
    const results = await withCancellableProgress(`Re-wrapping ${names}…`, async (signal, progress) => {
      const out = [];
      for (const [i, f] of files.entries()) {
        progress.report(path.basename(f), 100 / files.length);
        out.push(await svc.rewrap(f, change, { signal }));
        if (i === 0 && files.length > 1) signal.throwIfAborted();
      }
      return out;
    });
    const changed = results.filter((r) => r.changed);
    for (const r of results)
      this.log.info(`Re-wrap ${r.file}: ${r.changed ? `${r.before.join(', ')} → ${r.after.join(', ')}` : 'unchanged'}`);
    const unchanged = results.length - changed.length;
    ui.prompts.inform(
      changed.length
        ? `Re-wrapped ${changed.length === 1 ? path.basename(changed[0].file) : `${changed.length} files`} (${what})${unchanged ? `; ${unchanged} already as asked` : ''}. Recipients now: ${changed[changed.length - 1].after.join(', ')}.`
        : `Nothing to re-wrap: ${names} ${files.length === 1 ? 'is' : 'are'} already as asked (${what}).`,
    );
    return files;
  }

  /** Inspect: the blob under the cursor, else the given / active sealed file. Header only, no KMS call. */
  async inspect(arg?: unknown): Promise<vscode.Uri> {
    const editor = vscode.window.activeTextEditor;
    let title: string;
    let md: string;
    // From the editor's context menu the argument is that editor's own Uri: the blob under the cursor wins then.
    const fromThisEditor = !(arg instanceof vscode.Uri) || (!!editor && arg.toString() === editor.document.uri.toString());
    const at = editor && fromThisEditor ? blobAt(editor.document, editor.selection.active) : undefined;
    if (at) {
      title = `Sealed value at ${path.basename(editor!.document.uri.path)}:${at.range.start.line + 1}`;
      md = headerMarkdown(await inspect(dearmor(at.text)), undefined, this.envelope.aliasOf);
    } else {
      let uri = this.uris(arg)[0];
      if (!uri || uri.scheme !== 'file') uri = await this.askFile('Inspect');
      const f = this.fsPath(uri);
      const head = await firstBytes(f);
      if (!isSealed(head))
        throw usageError(
          `${f} is not a sealed file.`,
          'Inspect reads what Seal File or kms-envelope seal wrote: a binary blob, or one kmsenv:v1: line.',
          { file: f },
        );
      const text = head.toString('latin1').trimStart();
      let info;
      if (text.startsWith('kmsenv:')) info = await inspect(dearmor((await fsp.readFile(f, 'utf8')).trim()));
      else {
        const stream = createReadStream(f);
        try {
          info = await inspect(stream);
        } catch (err) {
          throw err instanceof KmsEnvelopeError
            ? err
            : new KmsEnvelopeError('format', `Cannot read the header of ${f}: ${(err as Error).message}`, { details: { file: f } });
        } finally {
          stream.destroy();
        }
      }
      title = `Header of ${path.basename(f)}`;
      md = headerMarkdown(info, undefined, this.envelope.aliasOf);
    }
    const id = String(++this.inspectCounter);
    this.inspectDocs.set(id, `# ${title}\n\n${md}\n`);
    const uri = vscode.Uri.from({ scheme: INSPECT_SCHEME, path: `/${title.replace(/[\\/:]/g, '_')}.md`, query: id });
    const doc = await vscode.workspace.openTextDocument(uri);
    await vscode.languages.setTextDocumentLanguage(doc, 'markdown');
    await vscode.window.showTextDocument(doc, { preview: true });
    return uri;
  }

  /** When a sealed file is opened as bytes, offer to open it decrypted (once per file per session). */
  onTabsOpened(tabs: readonly vscode.Tab[]): void {
    const suffix = settings.sealedSuffix();
    for (const t of tabs) {
      const input = t.input;
      const uri = input instanceof vscode.TabInputText ? input.uri : input instanceof vscode.TabInputCustom ? input.uri : undefined;
      if (!uri || uri.scheme !== 'file' || !uri.path.endsWith(suffix) || this.offered.has(uri.toString())) continue;
      this.offered.add(uri.toString());
      void ui.prompts
        .offer(`${path.basename(uri.fsPath)} is sealed. Open it decrypted (in memory, re-sealed on save)?`, 'Open Decrypted')
        .then(async (c) => {
          if (c !== 'Open Decrypted') return;
          await vscode.window.tabGroups.close(t).then(undefined, () => undefined);
          await vscode.commands.executeCommand('kmsEnvelope.openSealedFile', uri);
        });
    }
  }
}
