/**
 * Sealed files edited in memory: a FileSystemProvider for the `kms-sealed:` scheme.
 *
 *   kms-sealed:/abs/path/config.yaml?sealed=%2Fabs%2Fpath%2Fconfig.yaml.sealed
 *
 * The path is the sealed file's path without its suffix (so VS Code picks the language from the
 * real extension); the query names the sealed file. readFile unseals in memory; writeFile seals the
 * new text again to the SAME recipients and encryption context as the blob it was opened from and
 * replaces the sealed file atomically (src/core/atomic.ts). No decrypted byte is written to disk by
 * this provider; see README "What stays off the disk" for what VS Code itself does with editors.
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
import { createReadStream, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { writeFileAtomic } from '../core/atomic';
import { KmsEnvelopeError } from '../core/errors';
import { ARMOR_PREFIX, armor, dearmor, isSealed } from '../core/envelope/armor';
import type { HeaderInfo } from '../core/envelope/types';
import { inspectBlob as inspect, type EnvelopeService } from '../core/services/envelope-service';
import type { ExtensionLogger } from './log';
import { settings } from './settings';
import type { TeamAccess } from './team';
import { withCancellableProgress } from './ui';

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

export function sealedUri(realPath: string): vscode.Uri {
  const suffix = settings.sealedSuffix();
  const shown = realPath.endsWith(suffix) && realPath.length > suffix.length ? realPath.slice(0, -suffix.length) : realPath;
  return vscode.Uri.from({ scheme: SEALED_SCHEME, path: vscode.Uri.file(shown).path, query: `sealed=${encodeURIComponent(realPath)}` });
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
  return vscode.Uri.file(uri.path).fsPath + settings.sealedSuffix();
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

  /** Decrypted views (diff sides): plaintext kept a few seconds for the workbench's repeated reads, then zeroed. */
  private readonly views = new Map<string, { plaintext: Buffer; timer: NodeJS.Timeout }>();
  private readonly viewSizes = new Map<string, number>();

  constructor(
    private readonly envelope: EnvelopeService,
    private readonly log: ExtensionLogger,
    private readonly team?: TeamAccess,
  ) {}

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
    let blob: Buffer;
    let st: { mtimeMs: number; size: number };
    try {
      st = await fsp.stat(real);
      const hit = this.recent.get(real);
      if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return Buffer.from(hit.plaintext);
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
    const { plaintext, header } = await withCancellableProgress(`Unsealing ${path.basename(real)}…`, (signal) =>
      this.envelope.unsealBytes(binary, { signal }),
    );
    this.headers.set(real, header);
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

  async writeFile(uri: vscode.Uri, content: Uint8Array, options: { create: boolean; overwrite: boolean }): Promise<void> {
    if (viewSourceOf(uri)) throw vscode.FileSystemError.NoPermissions('A decrypted diff is read-only: open the file itself to edit it.');
    const real = realPathOf(uri);
    let header = this.headers.get(real);
    let mode = 0o600;
    try {
      const st = await fsp.stat(real);
      mode = st.mode & 0o777;
      // The header on disk now, not the one read at open: a Re-wrap (or the CLI) may have changed the
      // recipients meanwhile, and the save must not undo that. Only the header is read.
      const now = await this.currentHeader(real);
      header = now.header;
      this.armored.set(real, now.armored);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        if (!options.create || !header) throw vscode.FileSystemError.FileNotFound(uri);
      } else throw fsError(err, uri);
    }
    const blob = await withCancellableProgress(`Sealing ${path.basename(real)}…`, (signal) =>
      this.envelope.reseal(content, header!, { signal }),
    );
    this.forgetRecent(real);
    await writeFileAtomic(real, fileBytes(blob, this.armored.get(real) ?? false), mode);
    this.headers.set(real, await inspect(blob));
    this.sizes.set(real, content.length);
    this.log.info(
      `Saved ${real}: sealed again to ${header.recipients.map((r) => `${r.provider ?? r.providerId}:${r.region}:${r.keyId}`).join(', ')}.`,
    );
    this.emitter.fire([{ type: vscode.FileChangeType.Changed, uri }]);
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

  /** Forgets a closed document's header. */
  forget(uri: vscode.Uri): void {
    if (viewSourceOf(uri)) {
      this.forgetView(uri.toString());
      this.viewSizes.delete(uri.toString());
      return;
    }
    const real = realPathOf(uri);
    this.forgetRecent(real);
    this.headers.delete(real);
    this.sizes.delete(real);
    this.armored.delete(real);
  }
}

/**
 * Keeps decrypted editors from lingering dirty. VS Code writes a hot-exit backup of every dirty
 * editor (any scheme, this one included) to `<user-data>/User/Backups/…` about one second after an
 * edit; measured in the integration suite, that backup holds the plaintext. So an edited
 * kms-sealed: document is saved — sealed again — shortly after typing stops, before the backup
 * timer fires; saving also makes VS Code discard any backup already written.
 * `kmsEnvelope.sealedFiles.autoSaveDelayMs` = 0 turns this off (then unsaved edits do reach the
 * backup folder until saved or reverted).
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
    if (delay <= 0) return;
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
