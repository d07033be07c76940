/**
 * Sealed files edited in memory: a FileSystemProvider for the `kms-sealed:` scheme.
 *
 *   kms-sealed:/abs/path/🔒 config.yaml?sealed=%2Fabs%2Fpath%2Fconfig.yaml.sealed
 *
 * The path is the sealed file's path without its suffix (so VS Code picks the language from the
 * real extension), its name behind a lock: the tab, breadcrumb and tooltip read "🔒 config.yaml",
 * never the same as the plaintext file beside it (sealed-indicators.ts adds the recipients). The
 * query names the sealed file. readFile unseals in memory (one KMS Decrypt) and
 * keeps the message's data key for as long as the document is open (src/core/envelope/reseal.ts);
 * writeFile seals the new text with that key to the SAME recipients and encryption context — no KMS
 * call, a fresh message id — and replaces the sealed file atomically (src/core/atomic.ts). A save that
 * does not change the text writes nothing. No decrypted byte is written to disk by this provider; see
 * README "What stays off the disk" for what VS Code itself does with editors.
 *
 * A second kind of kms-sealed: URI is a read-only decrypted *view* of another resource, one side of
 * a decrypted diff (scm-diff.ts):
 *
 *   kms-sealed:/abs/path/config.yaml?sealed=<the file's path>&view=<the source URI, e.g. git:…?ref=HEAD>
 *
 * readFile reads the source through VS Code (the git extension serves git: URIs) and unseals it in
 * memory (TeamService.textconv: a sealed blob, or a file with its sealed values unsealed in place);
 * stat marks it read-only and writeFile refuses.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { writeFileAtomic } from '../core/atomic';
import { KmsEnvelopeError } from '../core/errors';
import { ARMOR_PREFIX, armor, dearmor, isSealed } from '../core/envelope/armor';
import type { ResealKey } from '../core/envelope/reseal';
import type { HeaderInfo } from '../core/envelope/types';
import { inspectBlob as inspect, type EnvelopeService } from '../core/services/envelope-service';
import type { ExtensionLogger } from './log';
import { settings } from './settings';
import type { TeamAccess } from './team';
import { ui, withCancellableProgress } from './ui';
import { recipientLabel } from '../core/envelope/recipients';

export const SEALED_SCHEME = 'kms-sealed';

/**
 * A sealed file's content as a binary blob. Files made with `kms-envelope seal --armor` hold one
 * armored line instead: they are dearmored here, and written back armored (`armored: true`).
 */
export function blobOf(bytes: Buffer): { blob: Buffer; armored: boolean } {
  const text = bytes
    .subarray(0, 64)
    .toString('latin1')
    .replace(/^\xef\xbb\xbf/, '')
    .trimStart();
  if (text.startsWith(ARMOR_PREFIX)) return { blob: dearmor(bytes.toString('utf8').replace(/^\uFEFF/, '')), armored: true };
  return { blob: bytes, armored: false };
}

/** Bytes to write for a blob in the file's own form. */
export function fileBytes(blob: Buffer, armored: boolean): Buffer {
  return armored ? Buffer.from(armor(blob) + '\n', 'utf8') : blob;
}

/** What a decrypted sealed file's name starts with in its editor (tab, breadcrumb, tooltip). */
export const SEALED_NAME_PREFIX = '🔒 ';

export function sealedUri(realPath: string): vscode.Uri {
  const suffix = settings.sealedSuffix();
  const shown = realPath.endsWith(suffix) && realPath.length > suffix.length ? realPath.slice(0, -suffix.length) : realPath;
  const p = vscode.Uri.file(shown).path;
  const cut = p.lastIndexOf('/') + 1;
  return vscode.Uri.from({
    scheme: SEALED_SCHEME,
    path: p.slice(0, cut) + SEALED_NAME_PREFIX + p.slice(cut),
    query: `sealed=${encodeURIComponent(realPath)}`,
  });
}

/** An editable decrypted sealed file (not a diff side, not a file of sealed values). */
export function isSealedFileUri(uri: vscode.Uri): boolean {
  return uri.scheme === SEALED_SCHEME && /(?:^|&)sealed=/.test(uri.query) && !viewSourceOf(uri);
}

/** A read-only decrypted view of `source` (a side of a diff); `file` is the file's own path (format, policy, messages). */
export function viewUri(source: vscode.Uri, file: string): vscode.Uri {
  const suffix = settings.sealedSuffix();
  const shown = file.endsWith(suffix) && file.length > suffix.length ? file.slice(0, -suffix.length) : file;
  return vscode.Uri.from({
    scheme: SEALED_SCHEME,
    path: vscode.Uri.file(shown).path,
    query: `sealed=${encodeURIComponent(file)}&view=${encodeURIComponent(source.toString())}`,
  });
}

/** The source of a view URI, or undefined for an editable kms-sealed: document. */
export function viewSourceOf(uri: vscode.Uri): vscode.Uri | undefined {
  const m = /(?:^|&)view=([^&]*)/.exec(uri.query);
  return m ? vscode.Uri.parse(decodeURIComponent(m[1]), true) : undefined;
}

export function realPathOf(uri: vscode.Uri): string {
  const m = /(?:^|&)sealed=([^&]*)/.exec(uri.query);
  if (m) return decodeURIComponent(m[1]);
  const cut = uri.path.lastIndexOf('/') + 1;
  const name = uri.path.slice(cut);
  const bare = uri.path.slice(0, cut) + (name.startsWith(SEALED_NAME_PREFIX) ? name.slice(SEALED_NAME_PREFIX.length) : name);
  return vscode.Uri.file(bare).fsPath + settings.sealedSuffix();
}

function fsError(err: unknown, uri: vscode.Uri): Error {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ENOENT') return vscode.FileSystemError.FileNotFound(uri);
  if (e?.code === 'EACCES' || e?.code === 'EPERM') return vscode.FileSystemError.NoPermissions(uri);
  return err instanceof Error ? err : new Error(String(err));
}

export class SealedFileSystem implements vscode.FileSystemProvider {
  private readonly emitter = new vscode.EventEmitter<vscode.FileChangeEvent[]>();
  readonly onDidChangeFile = this.emitter.event;
  /** Header of the blob each open sealed file was read from (recipients + context for the re-seal). No plaintext. */
  private readonly headers = new Map<string, HeaderInfo>();
  private readonly sizes = new Map<string, number>();
  /** Whether each open sealed file is armored text (kept armored on save). */
  private readonly armored = new Map<string, boolean>();
  /**
   * The workbench reads a file more than once while opening it (resolve, then the editor); each read
   * would be a KMS Decrypt. The last plaintext is kept in memory (never on disk) for a few seconds,
   * for the same file version only, then zeroed.
   */
  private readonly recent = new Map<string, { mtimeMs: number; size: number; plaintext: Buffer; timer: NodeJS.Timeout }>();
  /** Opens under way, per real path and file version: VS Code reads one URI from several places at once; one KMS call serves them. */
  private readonly opening = new Map<string, Promise<Buffer>>();
  /**
   * Per open sealed file: the data key of the message it was opened from (saves seal locally with it,
   * no KMS call), and a keyed digest of the text last read or written (a save of the same text writes
   * nothing). Dropped and zeroed when the document closes.
   */
  private readonly held = new Map<string, { key: ResealKey; digest: Buffer }>();
  /** Key of the digests above (random per window; the digests never leave memory). */
  private readonly digestKey = randomBytes(32);

  /** Decrypted views (diff sides): plaintext kept a few seconds for the workbench's repeated reads, then zeroed. */
  private readonly views = new Map<string, { plaintext: Buffer; timer: NodeJS.Timeout }>();
  private readonly viewSizes = new Map<string, number>();

  /** Sealed files whose first save this session was announced ("saving re-seals"). */
  private readonly toldResealed = new Set<string>();

  constructor(
    private readonly envelope: EnvelopeService,
    private readonly log: ExtensionLogger,
    private readonly team?: TeamAccess,
  ) {}

  /** The header (recipients, context) of an open sealed file as last read or written; no plaintext. */
  headerOf(real: string): HeaderInfo | undefined {
    return this.headers.get(real);
  }

  watch(): vscode.Disposable {
    return new vscode.Disposable(() => undefined);
  }

  async stat(uri: vscode.Uri): Promise<vscode.FileStat> {
    const src = viewSourceOf(uri);
    if (src) {
      const st = await vscode.workspace.fs.stat(src);
      return {
        type: vscode.FileType.File,
        ctime: st.ctime,
        mtime: st.mtime,
        size: this.viewSizes.get(uri.toString()) ?? st.size,
        permissions: vscode.FilePermission.Readonly,
      };
    }
    const real = realPathOf(uri);
    try {
      const st = await fsp.stat(real);
      return { type: vscode.FileType.File, ctime: st.ctimeMs, mtime: st.mtimeMs, size: this.sizes.get(real) ?? st.size };
    } catch (err) {
      throw fsError(err, uri);
    }
  }

  private forgetRecent(real: string): void {
    const r = this.recent.get(real);
    if (!r) return;
    clearTimeout(r.timer);
    r.plaintext.fill(0);
    this.recent.delete(real);
  }

  private forgetView(key: string): void {
    const v = this.views.get(key);
    if (!v) return;
    clearTimeout(v.timer);
    v.plaintext.fill(0);
    this.views.delete(key);
  }

  /** A side of a decrypted diff: the source's bytes (git: through the git extension), unsealed in memory. */
  private async readView(uri: vscode.Uri, src: vscode.Uri): Promise<Uint8Array> {
    const key = uri.toString();
    const hit = this.views.get(key);
    if (hit) return Buffer.from(hit.plaintext);
    if (!this.team) throw vscode.FileSystemError.Unavailable(uri);
    const file = realPathOf(uri);
    const bytes = Buffer.from(await vscode.workspace.fs.readFile(src));
    let plaintext: Buffer;
    try {
      const team = await this.team.service();
      const policies = await this.team.policies();
      plaintext = await withCancellableProgress(
        `Decrypting ${path.basename(file)} for the diff…`,
        (signal) => team.textconv(file, bytes, { signal, policies }),
        vscode.ProgressLocation.Window,
      );
    } catch (err) {
      // A note stands in for the side (no plaintext involved), so the other side still shows.
      const msg = err instanceof Error ? err.message : String(err);
      this.log.warn(`Decrypted diff: ${src.toString(true)} cannot be opened here: ${msg}`);
      plaintext = Buffer.from(
        `[KMS Envelope: ${path.basename(file)} (${src.scheme === 'git' ? 'git' : 'working tree'}) cannot be decrypted here: ${msg}]\n`,
      );
    }
    this.forgetView(key);
    const timer = setTimeout(() => this.forgetView(key), 5000);
    timer.unref?.();
    this.views.set(key, { plaintext: Buffer.from(plaintext), timer });
    this.viewSizes.set(key, plaintext.length);
    return plaintext;
  }

  async readFile(uri: vscode.Uri): Promise<Uint8Array> {
    const src = viewSourceOf(uri);
    if (src) return this.readView(uri, src);
    const real = realPathOf(uri);
    let st: { mtimeMs: number; size: number };
    try {
      st = await fsp.stat(real);
      const hit = this.recent.get(real);
      if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return Buffer.from(hit.plaintext);
    } catch (err) {
      throw fsError(err, uri);
    }
    const version = `${real}\0${st.mtimeMs}\0${st.size}`;
    let pending = this.opening.get(version);
    if (!pending) {
      pending = this.open(uri, real, st).finally(() => this.opening.delete(version));
      this.opening.set(version, pending);
    }
    return Buffer.from(await pending);
  }

  private async open(uri: vscode.Uri, real: string, st: { mtimeMs: number; size: number }): Promise<Buffer> {
    let blob: Buffer;
    try {
      blob = await fsp.readFile(real);
    } catch (err) {
      throw fsError(err, uri);
    }
    if (!isSealed(blob.subarray(0, 512))) {
      throw new KmsEnvelopeError('format', `${real} is not a sealed file.`, {
        hint: 'Open it normally, or seal it first (KMS Envelope: Seal File).',
        details: { file: real },
      });
    }
    const { blob: binary, armored } = blobOf(blob);
    this.armored.set(real, armored);
    const { plaintext, header, key } = await withCancellableProgress(`Unsealing ${path.basename(real)}…`, (signal) =>
      this.envelope.openForEditing(binary, { signal }),
    );
    this.headers.set(real, header);
    this.hold(real, key, plaintext);
    this.sizes.set(real, plaintext.length);
    this.forgetRecent(real);
    const timer = setTimeout(() => this.forgetRecent(real), 5000);
    timer.unref?.();
    this.recent.set(real, { mtimeMs: st.mtimeMs, size: st.size, plaintext: Buffer.from(plaintext), timer });
    this.log.info(`Opened ${real} decrypted in memory (${header.recipients.length} recipient(s)).`);
    return plaintext;
  }

  private async currentHeader(real: string): Promise<{ header: HeaderInfo; armored: boolean }> {
    const fh = await fsp.open(real, 'r');
    let head: Buffer;
    try {
      head = Buffer.alloc(64);
      head = head.subarray(0, (await fh.read(head, 0, 64, 0)).bytesRead);
    } finally {
      await fh.close();
    }
    if (
      head
        .toString('latin1')
        .replace(/^\xef\xbb\xbf/, '')
        .trimStart()
        .startsWith(ARMOR_PREFIX)
    ) {
      return { header: await inspect(blobOf(await fsp.readFile(real)).blob), armored: true };
    }
    const stream = createReadStream(real);
    try {
      return { header: await inspect(stream), armored: false };
    } finally {
      stream.destroy();
    }
  }

  private digest(content: Uint8Array): Buffer {
    return createHmac('sha256', this.digestKey).update(content).digest();
  }

  private hold(real: string, key: ResealKey | undefined, plaintext: Uint8Array): void {
    this.held.get(real)?.key.dispose();
    if (key) this.held.set(real, { key, digest: this.digest(plaintext) });
    else this.held.delete(real);
  }

  /** The sealed file's message as a source for reading its header (binary: streamed; armored: dearmored). */
  private async messageSource(real: string): Promise<{ source: AsyncIterable<Buffer>; armored: boolean; close: () => void }> {
    const { armored } = await this.currentForm(real);
    if (armored) {
      const blob = blobOf(await fsp.readFile(real)).blob;
      return {
        source: (async function* () {
          yield blob;
        })(),
        armored,
        close: () => undefined,
      };
    }
    const stream = createReadStream(real);
    return { source: stream, armored, close: () => stream.destroy() };
  }

  private async currentForm(real: string): Promise<{ armored: boolean }> {
    const fh = await fsp.open(real, 'r');
    try {
      const head = Buffer.alloc(64);
      const n = (await fh.read(head, 0, 64, 0)).bytesRead;
      return {
        armored: head
          .subarray(0, n)
          .toString('latin1')
          .replace(/^\xef\xbb\xbf/, '')
          .trimStart()
          .startsWith(ARMOR_PREFIX),
      };
    } finally {
      await fh.close();
    }
  }

  /**
   * Seals `content` with the held data key (no KMS call). Before that, the sealed file as it is on disk
   * now is checked against the key: a Re-wrap that kept the data key (adding a recipient) is adopted,
   * so the save keeps the new recipients; a file sealed meanwhile under another data key is opened
   * again first (one Decrypt), since sealing with the old key would undo that change.
   */
  private async sealLocally(
    real: string,
    held: { key: ResealKey; digest: Buffer },
    content: Uint8Array,
    exists: boolean,
  ): Promise<{ blob?: Buffer; unchanged: boolean; kmsCalls: number }> {
    let kmsCalls = 0;
    if (exists) {
      const before = held.key.messageId;
      const { source, armored, close } = await this.messageSource(real);
      this.armored.set(real, armored);
      let same: boolean;
      try {
        same = await held.key.adopt(source);
      } finally {
        close();
      }
      if (same && held.key.messageId === before && held.digest.equals(this.digest(content))) return { unchanged: true, kmsCalls };
      if (!same) {
        this.log.info(
          `${real} was sealed again under another data key since it was opened; opening it again (one KMS Decrypt) before saving.`,
        );
        const { plaintext, key } = await withCancellableProgress(`Unsealing ${path.basename(real)}…`, async (signal) =>
          this.envelope.openForEditing(blobOf(await fsp.readFile(real)).blob, { signal }),
        );
        kmsCalls++;
        plaintext.fill(0);
        if (!key) {
          this.hold(real, undefined, plaintext);
          return { unchanged: false, kmsCalls };
        }
        this.hold(real, key, Buffer.alloc(0));
        held = this.held.get(real)!;
      }
    }
    const { blob } = await held.key.seal(content);
    held.digest = this.digest(content);
    return { blob, unchanged: false, kmsCalls };
  }

  async writeFile(uri: vscode.Uri, content: Uint8Array, options: { create: boolean; overwrite: boolean }): Promise<void> {
    if (viewSourceOf(uri)) throw vscode.FileSystemError.NoPermissions('A decrypted diff is read-only: open the file itself to edit it.');
    const real = realPathOf(uri);
    let header = this.headers.get(real);
    let mode = 0o600;
    let exists = true;
    try {
      mode = (await fsp.stat(real)).mode & 0o777;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(err, uri);
      exists = false;
      if (!options.create || !header) throw vscode.FileSystemError.FileNotFound(uri);
    }
    const held = this.held.get(real);
    let blob: Buffer | undefined;
    let how = '';
    if (held) {
      const r = await this.sealLocally(real, held, content, exists);
      if (r.unchanged) {
        this.log.info(`Saved ${real}: the text is unchanged, so nothing was written (no KMS call).`);
        return;
      }
      blob = r.blob;
      how = r.kmsCalls ? ` (after ${r.kmsCalls} KMS call to re-open it)` : ' locally, with the data key held in memory (no KMS call)';
    }
    if (!blob) {
      // No data key held (a message of another suite, or never opened here): the KMS path.
      if (exists) {
        // The header on disk now, not the one read at open: a Re-wrap (or the CLI) may have changed the
        // recipients meanwhile, and the save must not undo that. Only the header is read.
        const now = await this.currentHeader(real);
        header = now.header;
        this.armored.set(real, now.armored);
      }
      blob = await withCancellableProgress(`Sealing ${path.basename(real)}…`, (signal) =>
        this.envelope.reseal(content, header!, { signal }),
      );
      how = ' through the KMS';
    }
    this.forgetRecent(real);
    await writeFileAtomic(real, fileBytes(blob, this.armored.get(real) ?? false), mode);
    const info = await inspect(blob);
    this.headers.set(real, info);
    this.sizes.set(real, content.length);
    this.log.info(`Saved ${real}: sealed again${how} to ${info.recipients.map(recipientLabel).join(', ')}.`);
    this.emitter.fire([{ type: vscode.FileChangeType.Changed, uri }]);
    if (!this.toldResealed.has(real)) {
      // Once per file per session: a save here writes the sealed file, never the plaintext.
      this.toldResealed.add(real);
      ui.prompts.inform(
        `Saved ${path.basename(real)}: saving this decrypted editor seals it again to the same recipients (edits are saved ` +
          'shortly after typing stops); no plaintext is written to disk.',
      );
    }
  }

  readDirectory(): [string, vscode.FileType][] {
    throw vscode.FileSystemError.NoPermissions('kms-sealed: shows single sealed files, not folders.');
  }
  createDirectory(): void {
    throw vscode.FileSystemError.NoPermissions('kms-sealed: cannot create folders.');
  }
  delete(uri: vscode.Uri): void {
    throw vscode.FileSystemError.NoPermissions(`Delete the sealed file itself (${realPathOf(uri)}) in the explorer.`);
  }
  rename(uri: vscode.Uri): void {
    throw vscode.FileSystemError.NoPermissions(`Rename the sealed file itself (${realPathOf(uri)}) in the explorer.`);
  }

  /** Forgets a closed document: its header, and its data key (zeroed). */
  forget(uri: vscode.Uri): void {
    if (viewSourceOf(uri)) {
      this.forgetView(uri.toString());
      this.viewSizes.delete(uri.toString());
      return;
    }
    const real = realPathOf(uri);
    this.forgetRecent(real);
    this.held.get(real)?.key.dispose();
    this.held.delete(real);
    this.headers.delete(real);
    this.sizes.delete(real);
    this.armored.delete(real);
  }

  dispose(): void {
    for (const real of [...this.recent.keys()]) this.forgetRecent(real);
    for (const key of [...this.views.keys()]) this.forgetView(key);
    for (const h of this.held.values()) h.key.dispose();
    this.held.clear();
    this.digestKey.fill(0);
  }
}

/**
 * Keeps decrypted editors from lingering dirty. VS Code writes a hot-exit backup of every dirty
 * editor (any scheme, this one included) to `<user-data>/User/Backups/…` about one second after an
 * edit; measured in the integration suite, that backup holds the plaintext. So an edited
 * kms-sealed: document is saved — sealed again — shortly after typing stops, before the backup
 * timer fires; saving also makes VS Code discard any backup already written. The save seals with the
 * data key held for the open file (no KMS call), so it takes milliseconds and does not fail when a KMS
 * is slow or unreachable. `kmsEnvelope.sealedFiles.autoSaveDelayMs` comes from the user settings only
 * and is clamped to 50–750 ms: neither a workspace nor a user setting turns the protection off.
 */
export class SealedAutoSave implements vscode.Disposable {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly sub: vscode.Disposable;

  constructor(private readonly log: ExtensionLogger) {
    this.sub = vscode.workspace.onDidChangeTextDocument((e) => this.onChange(e.document));
  }

  private onChange(doc: vscode.TextDocument): void {
    if (doc.uri.scheme !== SEALED_SCHEME) return;
    const delay = settings.sealedAutoSaveDelayMs();
    const key = doc.uri.toString();
    clearTimeout(this.timers.get(key));
    if (!doc.isDirty) return;
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        if (!doc.isDirty || doc.isClosed) return;
        doc.save().then(
          (ok) => {
            if (!ok) this.log.warn(`Auto-save of ${realPathOf(doc.uri)} did not complete; unsaved edits stay only in the editor.`);
          },
          (err: unknown) =>
            this.log.error(`Auto-save of ${realPathOf(doc.uri)} failed: ${err instanceof Error ? err.message : String(err)}`),
        );
      }, delay),
    );
  }

  dispose(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.sub.dispose();
  }
}
