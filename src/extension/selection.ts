/**
 * Selections: Seal Selection (each selection of a multi-cursor edit becomes one armored line; the
 * whitespace around the selected value stays where it was, so indentation, quotes and the line
 * structure are kept), Unseal Selection (armored blobs inside the selections, or the blob under
 * each cursor, become plaintext), Copy Unsealed (clipboard, cleared after a timeout if it still
 * holds that value), and a hover on armored blobs that reads the header only (no KMS call).
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { usageError } from '../core/errors';
import { formatFromName } from '../core/values/formats/names';
import { dearmor, findArmored } from '../core/envelope/armor';
import type { EnvelopeService, KeyTarget } from '../core/services/envelope-service';
import { headerMarkdown, inspectBlob as inspect, targetLabel, targetName, type AliasLookup } from '../core/services/envelope-service';
import type { KeyPicker } from './key-picker';
import { settings } from './settings';
import { dismissed, ui, withCancellableProgress } from './ui';
import type { ExtensionLogger } from './log';

/** The choices of the auto-save warning before Unseal Selection. */
const COPY_UNSEALED = 'Copy Unsealed Value';
const OPEN_IN_MEMORY = 'Open in Memory';
const UNSEAL_HERE = 'Unseal Here';

export interface BlobAt {
  range: vscode.Range;
  text: string;
}

/** Armored blobs in a range of a document. */
export function blobsIn(doc: vscode.TextDocument, range: vscode.Range): BlobAt[] {
  const base = doc.offsetAt(range.start);
  return findArmored(doc.getText(range)).map((b) => ({
    range: new vscode.Range(doc.positionAt(base + b.start), doc.positionAt(base + b.end)),
    text: b.text,
  }));
}

/** The armored blob that contains a position (on its line). */
export function blobAt(doc: vscode.TextDocument, pos: vscode.Position): BlobAt | undefined {
  const line = doc.lineAt(pos.line);
  return blobsIn(doc, line.range).find((b) => b.range.start.character <= pos.character && pos.character <= b.range.end.character);
}

/** Where a hover link points: the blob at this position of this document. */
export interface BlobPosition {
  uri: string;
  line: number;
  character: number;
}

function isBlobPosition(a: unknown): a is BlobPosition {
  const b = a as BlobPosition;
  return !!b && typeof b === 'object' && typeof b.uri === 'string' && Number.isInteger(b.line) && Number.isInteger(b.character);
}

/** Blobs the user means: the one a hover link names, else inside non-empty selections, else under each cursor. */
function targetBlobs(editor: vscode.TextEditor, at?: unknown): BlobAt[] {
  if (isBlobPosition(at) && at.uri === editor.document.uri.toString()) {
    const b = blobAt(editor.document, new vscode.Position(at.line, at.character));
    return b ? [b] : [];
  }
  const out: BlobAt[] = [];
  const seen = new Set<string>();
  for (const sel of editor.selections) {
    const found = sel.isEmpty ? [blobAt(editor.document, sel.active)].filter((b): b is BlobAt => !!b) : blobsIn(editor.document, sel);
    for (const b of found) {
      const k = `${b.range.start.line}:${b.range.start.character}`;
      if (seen.has(k)) continue;
      seen.add(k);
      out.push(b);
    }
  }
  return out;
}

function splitWhitespace(text: string): { lead: string; core: string; trail: string } {
  const lead = /^\s*/.exec(text)![0];
  const rest = text.slice(lead.length);
  const trail = /\s*$/.exec(rest)![0];
  return { lead, core: rest.slice(0, rest.length - trail.length), trail };
}

/** The walkthrough's sample: a config whose password line is sealed by Seal a Sample Value. */
const SAMPLE_KEY = '  password: ';
const SAMPLE = [
  '# A sample config, not saved anywhere. Its password was selected and sealed: hover the',
  '# sealed value to see which key opens it; right-click it to Unseal or Inspect it.',
  'database:',
  '  host: db.internal',
  `${SAMPLE_KEY}correct-horse-battery-staple`,
  '  port: 5432',
  '',
].join('\n');

export class SelectionCommands implements vscode.Disposable {
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Values put on the clipboard that are still to be cleared (cleared at once on dispose). */
  private readonly pending = new Set<string>();
  /** Auto-saved files the person chose to unseal in place anyway (asked once per file per session). */
  private readonly unsealHereOk = new Set<string>();

  constructor(
    private readonly envelope: EnvelopeService,
    private readonly picker: KeyPicker,
    private readonly log: ExtensionLogger,
  ) {}

  dispose(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const v of this.pending) void this.clearIfStill(v);
  }

  private editor(): vscode.TextEditor {
    const e = vscode.window.activeTextEditor;
    if (!e) throw usageError('No active editor.', 'Open a file and select the value to seal or unseal.');
    return e;
  }

  /**
   * The walkthrough's "Seal a Sample Value": an untitled YAML document (never on disk) with its
   * sample password selected, then Seal Selection on it, so a newcomer sees the whole flow once.
   */
  async sealSample(): Promise<number> {
    // An untitled document with a name, so its tab reads like a file and not like its first line.
    let uri = vscode.Uri.from({ scheme: 'untitled', path: 'kms-envelope-sample.yaml' });
    for (let n = 2; vscode.workspace.textDocuments.some((d) => d.uri.toString() === uri.toString()); n++)
      uri = vscode.Uri.from({ scheme: 'untitled', path: `kms-envelope-sample-${n}.yaml` });
    const doc = await vscode.workspace.openTextDocument(uri);
    const editor = await vscode.window.showTextDocument(doc, { preview: false });
    await editor.edit((eb) => eb.insert(new vscode.Position(0, 0), SAMPLE));
    const line = doc.lineAt(SAMPLE.split('\n').findIndex((l) => l.startsWith(SAMPLE_KEY)));
    const start = line.range.start.translate(0, SAMPLE_KEY.length);
    editor.selection = new vscode.Selection(start, line.range.end);
    editor.revealRange(line.range);
    return this.sealSelection();
  }

  async sealSelection(explicit?: KeyTarget): Promise<number> {
    const editor = this.editor();
    const doc = editor.document;
    const sels = editor.selections.filter((s) => !s.isEmpty);
    if (!sels.length) {
      // Not a failure: say what to do, as a warning.
      ui.prompts.inform('Nothing is selected: select the value to seal first (several selections seal each one).', 'warning');
      return 0;
    }
    const parts = sels.map((s) => ({ sel: s, ...splitWhitespace(doc.getText(s)) })).filter((p) => p.core.length > 0);
    if (!parts.length) throw usageError('The selection holds only whitespace.', 'Select the value to seal.');
    if (parts.some((p) => findArmored(p.core).length > 0))
      throw usageError('The selection already contains a sealed value.', 'Unseal it first, or select only plaintext.');
    const target = await this.picker.resolve(explicit, 'Seal Selection with which key?');
    const version = doc.version;
    const context = settings.encryptionContext();
    const sealed = await withCancellableProgress(
      `Sealing ${parts.length} value${parts.length > 1 ? 's' : ''} with ${targetName(target)}…`,
      async (signal) => {
        const out: string[] = [];
        for (const p of parts) out.push(await this.envelope.sealText(p.core, [target], context, { signal }));
        return out;
      },
    );
    if (doc.version !== version) throw usageError('The document changed while sealing; nothing was replaced.', 'Run Seal Selection again.');
    const ok = await editor.edit((eb) => parts.forEach((p, i) => eb.replace(p.sel, p.lead + sealed[i] + p.trail)));
    if (!ok)
      throw usageError(
        'The editor refused the edit (read-only document?).',
        'Make the document writable (or save a copy), then run the command again.',
      );
    this.log.info(
      `Sealed ${parts.length} selection(s) in ${doc.uri.toString(true)} with ${targetName(target)}, keyref ${targetLabel(target)}`,
    );
    return parts.length;
  }

  async unsealSelection(at?: unknown): Promise<number> {
    const editor = this.editor();
    const doc = editor.document;
    const blobs = targetBlobs(editor, at);
    if (!blobs.length)
      throw usageError(
        'No sealed value under the cursor or in the selection.',
        'Put the cursor on a kmsenv:v1:… value, or select text that contains some.',
      );
    if (!(await this.unsealHereDespiteAutoSave(doc, at))) return 0;
    const version = doc.version;
    const plain = await withCancellableProgress(`Unsealing ${blobs.length} value${blobs.length > 1 ? 's' : ''}…`, async (signal) => {
      const out: string[] = [];
      for (const b of blobs) out.push((await this.envelope.unsealText(b.text, { signal })).text);
      return out;
    });
    if (doc.version !== version)
      throw usageError('The document changed while unsealing; nothing was replaced.', 'Run Unseal Selection again.');
    const ok = await editor.edit((eb) => blobs.forEach((b, i) => eb.replace(b.range, plain[i])));
    if (!ok)
      throw usageError(
        'The editor refused the edit (read-only document?).',
        'Make the document writable (or save a copy), then run the command again.',
      );
    this.log.info(`Unsealed ${blobs.length} value(s) in ${doc.uri.toString(true)}`);
    return blobs.length;
  }

  /**
   * With `files.autoSave` on, plaintext unsealed into a file on disk is written to it within a second.
   * Before that, once per document, a modal warning offers the ways that keep it off the disk: Copy
   * Unsealed Value (clipboard, cleared after the timeout) or, for a config file the values editor
   * reads, Open in Memory (Unseal Values in File); or Unseal Here after all. True: unseal in place.
   */
  private async unsealHereDespiteAutoSave(doc: vscode.TextDocument, at?: unknown): Promise<boolean> {
    const autoSave = vscode.workspace.getConfiguration('files', doc.uri).get<string>('autoSave', 'off');
    if (doc.uri.scheme !== 'file' || autoSave === 'off' || this.unsealHereOk.has(doc.uri.toString())) return true;
    const name = path.basename(doc.uri.fsPath);
    const inMemory = formatFromName(name) ? [OPEN_IN_MEMORY] : [];
    const choice = await ui.prompts.choose(
      `Auto-save is on: unsealing here writes the plaintext into ${name} on disk within a second.`,
      `files.autoSave is "${autoSave}". ${COPY_UNSEALED} puts the value on the clipboard instead` +
        (inMemory.length ? `; ${OPEN_IN_MEMORY} opens ${name} decrypted in an editor that seals again on save` : '') +
        `; ${UNSEAL_HERE} replaces the sealed text in the file (asked once for this file).`,
      COPY_UNSEALED,
      ...inMemory,
      UNSEAL_HERE,
    );
    if (choice === COPY_UNSEALED) await this.copyUnsealed(at);
    else if (choice === OPEN_IN_MEMORY) await vscode.commands.executeCommand('kmsEnvelope.unsealValues', doc.uri);
    else if (choice === UNSEAL_HERE) this.unsealHereOk.add(doc.uri.toString());
    else dismissed();
    return choice === UNSEAL_HERE;
  }

  async copyUnsealed(at?: unknown): Promise<number> {
    const editor = this.editor();
    const blob = targetBlobs(editor, at)[0];
    if (!blob) throw usageError('No sealed value under the cursor or in the selection.', 'Put the cursor on a kmsenv:v1:… value.');
    const { text } = await withCancellableProgress('Unsealing to the clipboard…', (signal) =>
      this.envelope.unsealText(blob.text, { signal }),
    );
    await vscode.env.clipboard.writeText(text);
    const seconds = settings.clipboardTimeoutSeconds();
    if (seconds > 0) {
      this.pending.add(text);
      const t = setTimeout(() => {
        this.timers.delete(t);
        void this.clearIfStill(text);
      }, seconds * 1000);
      this.timers.add(t);
      vscode.window.setStatusBarMessage(
        `$(copy) Unsealed value copied; the clipboard is cleared in ${seconds} s`,
        Math.min(seconds, 10) * 1000,
      );
    } else {
      vscode.window.setStatusBarMessage('$(copy) Unsealed value copied', 5000);
    }
    return seconds;
  }

  /** Empties the clipboard only if it still holds `value` (the user may have copied something else). */
  private async clearIfStill(value: string): Promise<void> {
    this.pending.delete(value);
    try {
      if ((await vscode.env.clipboard.readText()) === value) {
        await vscode.env.clipboard.writeText('');
        this.log.info('Cleared the unsealed value from the clipboard.');
      }
    } catch (err) {
      this.log.warn(`Could not clear the clipboard: ${(err as Error).message}`);
    }
  }
}

/** Hover on an armored blob: provider, region, key id and context from the header, no KMS call. */
export class SealedHoverProvider implements vscode.HoverProvider {
  /** `aliasOf` names a recipient by the alias a loaded listing knows (no KMS call). */
  constructor(private readonly aliasOf?: AliasLookup) {}

  async provideHover(doc: vscode.TextDocument, pos: vscode.Position): Promise<vscode.Hover | undefined> {
    const b = blobAt(doc, pos);
    if (!b) return undefined;
    let md: vscode.MarkdownString;
    try {
      const info = await inspect(dearmor(b.text));
      md = new vscode.MarkdownString(headerMarkdown(info, 'KMS Envelope sealed value', this.aliasOf));
      const args = encodeURIComponent(
        JSON.stringify([{ uri: doc.uri.toString(), line: b.range.start.line, character: b.range.start.character } satisfies BlobPosition]),
      );
      md.appendMarkdown(
        `\n\n[Unseal](command:kmsEnvelope.unsealSelection?${args}) · [Copy Unsealed](command:kmsEnvelope.copyUnsealed?${args})`,
      );
      md.isTrusted = { enabledCommands: ['kmsEnvelope.unsealSelection', 'kmsEnvelope.copyUnsealed'] };
    } catch (err) {
      md = new vscode.MarkdownString(`**KMS Envelope:** this does not read as a sealed value: ${(err as Error).message}`);
    }
    return new vscode.Hover(md, b.range);
  }
}

/**
 * Context key `kmsEnvelope.onSealedValue`: true while the cursor of the active editor is on an
 * armored blob, so the editor context menu offers Unseal / Copy Unsealed / Inspect only there.
 */
export class SealedValueContext implements vscode.Disposable {
  private current = false;
  private readonly subs: vscode.Disposable[];

  constructor() {
    this.subs = [
      vscode.window.onDidChangeTextEditorSelection((e) => this.update(e.textEditor)),
      vscode.window.onDidChangeActiveTextEditor((e) => this.update(e)),
    ];
    this.update(vscode.window.activeTextEditor);
  }

  private update(editor: vscode.TextEditor | undefined): void {
    let on = false;
    if (editor) {
      const doc = editor.document;
      const pos = editor.selection.active;
      // Cheap: only lines that contain the prefix are searched.
      on = pos.line < doc.lineCount && doc.lineAt(pos.line).text.includes('kmsenv:v1:') && !!blobAt(doc, pos);
    }
    if (on === this.current) return;
    this.current = on;
    void vscode.commands.executeCommand('setContext', 'kmsEnvelope.onSealedValue', on);
  }

  dispose(): void {
    for (const s of this.subs) s.dispose();
  }
}
