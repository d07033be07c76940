/**
 * What tells a decrypted sealed-file editor (kms-sealed:) apart from the plaintext file beside it.
 * Its name carries a lock (sealed-fs.ts: the tab and breadcrumb read "🔒 config.yaml"); here, a file
 * decoration (the badge S, as on the sealed file in the explorer, and a tooltip naming the sealed file
 * and its recipients), and a status bar item, shown
 * while such an editor is active, naming the recipients by alias where the Keys view knows them
 * (click: Inspect the sealed file's header). Nothing here reads or holds plaintext: only headers.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { recipientLabel, type RecipientInfo } from '../core/envelope/recipients';
import { findProvider } from '../core/kms/registry';
import type { KeyService } from '../core/services/key-service';
import { isSealedFileUri, realPathOf, type SealedFileSystem } from './sealed-fs';

export class SealedEditorIndicators implements vscode.Disposable, vscode.FileDecorationProvider {
  private readonly item: vscode.StatusBarItem;
  private readonly changed = new vscode.EventEmitter<vscode.Uri[]>();
  readonly onDidChangeFileDecorations = this.changed.event;
  private readonly subs: vscode.Disposable[];
  /** What the status bar shows now (read by the integration tests through the API). */
  status?: { text: string; tooltip: string };

  constructor(
    private readonly fs: SealedFileSystem,
    private readonly keys: KeyService,
  ) {
    this.item = vscode.window.createStatusBarItem('kmsEnvelope.sealedEditor', vscode.StatusBarAlignment.Left, 50);
    this.item.name = 'KMS Envelope: decrypted sealed file';
    // The header is known once the document is read (opened) and may change when a save adopts new recipients.
    const refresh = (d: vscode.TextDocument) => {
      if (!isSealedFileUri(d.uri)) return;
      this.changed.fire([d.uri]);
      void this.update();
    };
    this.subs = [
      vscode.window.registerFileDecorationProvider(this),
      vscode.window.onDidChangeActiveTextEditor(() => void this.update()),
      vscode.workspace.onDidOpenTextDocument(refresh),
      vscode.workspace.onDidSaveTextDocument(refresh),
    ];
    void this.update();
  }

  async provideFileDecoration(uri: vscode.Uri): Promise<vscode.FileDecoration | undefined> {
    if (!isSealedFileUri(uri)) return undefined;
    const real = realPathOf(uri);
    const names = await this.recipientNames(real);
    // The explorer's letter for sealed files (an emoji badge renders as an empty box where no emoji font is installed).
    return new vscode.FileDecoration(
      'S',
      `Decrypted in memory from ${path.basename(real)}${names.length ? `, sealed to ${names.join(', ')}` : ''}. Saving seals it again.`,
    );
  }

  /** Recipients of an open sealed file: alias (provider region) where a loaded region of the Keys view has the key, else its keyref. */
  private async recipientNames(real: string): Promise<string[]> {
    const header = this.fs.headerOf(real);
    if (!header) return [];
    return Promise.all(header.recipients.map((r) => this.nameOf(r)));
  }

  private async nameOf(r: RecipientInfo): Promise<string> {
    const d = r.provider ? findProvider(r.provider) : undefined;
    if (!d || !r.provider) return recipientLabel(r);
    const profiles = (await this.keys.listProfiles(r.provider).catch(() => [])).map((p) => p.name);
    for (const profile of profiles) {
      const alias = this.keys.findCachedKey({ provider: r.provider, profile, region: r.region }, r.keyId)?.alias;
      if (alias) return d.credentials ? `${alias} (${d.label} ${r.region})` : `${alias} (${d.label})`;
    }
    return recipientLabel(r);
  }

  private async update(): Promise<void> {
    const doc = vscode.window.activeTextEditor?.document;
    if (!doc || !isSealedFileUri(doc.uri)) {
      this.status = undefined;
      this.item.hide();
      return;
    }
    const real = realPathOf(doc.uri);
    const names = await this.recipientNames(real);
    if (vscode.window.activeTextEditor?.document !== doc) return; // another editor became active meanwhile
    const short = names.map((n) => n.replace(/ \(.*\)$/, ''));
    this.status = {
      text: `$(lock) Sealed${short.length ? `: ${short.join(', ')}` : ''}`,
      tooltip:
        `${path.basename(doc.uri.path)} is decrypted in memory from ${real}.\n` +
        (names.length ? `Saving seals it again to: ${names.join(', ')}.\n` : 'Saving seals it again to the same recipients.\n') +
        'Click to inspect the sealed header.',
    };
    this.item.text = this.status.text;
    this.item.tooltip = this.status.tooltip;
    this.item.command = { title: 'Inspect Sealed Header', command: 'kmsEnvelope.inspect', arguments: [vscode.Uri.file(real)] };
    this.item.show();
  }

  dispose(): void {
    for (const d of this.subs) d.dispose();
    this.item.dispose();
    this.changed.dispose();
  }
}
