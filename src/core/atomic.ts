/**
 * Atomic file writes: an output appears at its target complete or not at all, a failure never
 * touches the target, and a killed process leaves no plaintext behind.
 *
 * Linux: the bytes go to an unnamed file in the target's folder (open(2) with O_TMPFILE). It has no
 * name until commit, so a crash, `kill -9` or a power cut leaves nothing to find: the kernel frees it
 * when the last descriptor closes. Commit fsyncs it and gives it the target's name with
 * `linkat(AT_FDCWD, "/proc/self/fd/N", …, AT_SYMLINK_FOLLOW)`. Node 20 cannot make that call itself:
 * it opens O_TMPFILE fine (numeric flags go straight to open(2)), but it has no linkat and no FFI;
 * `fs.link` is link(2), which does not follow the /proc magic link and fails with EXDEV, and
 * `fs.rename` fails the same way. So a short-lived `ln -L` child makes that one system call on the
 * file it inherits as its fd 3: onto a new target directly (`ln` never replaces a name), over an
 * existing one as `ln -L` to a hidden name then `mv -f -T` (rename(2)) in one `sh` child of its own
 * session, so neither killing this process nor Ctrl-C in its terminal can stop it half-way. It costs
 * 2–4 ms per output.
 *
 * Elsewhere — macOS, Windows, file systems without O_TMPFILE (NFS, FUSE, FAT), no /proc, an `ln`
 * without -L (BusyBox) — the bytes go to a hidden temp file `.<name>.kms-envelope-<12 hex>.tmp` next
 * to the target, fsynced and renamed over it; a failure removes it. A killed process cannot remove
 * it, so the first such write into a folder in each run removes this program's temp files there
 * (that name pattern, owned by this user, untouched for STALE_TEMP_MS) and tells the listeners of
 * onStaleTempFilesRemoved, which the front doors show.
 */
import { randomBytes } from 'node:crypto';
import { constants, existsSync, promises as fsp, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import * as path from 'node:path';

/** Our temp files: `.<name>.kms-envelope-<12 hex>.tmp` (the name cut to keep within NAME_MAX). */
export const TEMP_FILE_PATTERN = /^\..*\.kms-envelope-[0-9a-f]{12}\.tmp$/s;

/** How long a temp file must be untouched before a later run may remove it as left by a killed one. */
export const STALE_TEMP_MS = 15 * 60 * 1000;

function tempNameFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target).slice(0, 200)}.kms-envelope-${randomBytes(6).toString('hex')}.tmp`);
}

export interface AtomicFileOptions {
  /**
   * Write through an unnamed file where the system allows it (default true). false forces the
   * named temp file that other systems use (tests of that path).
   */
  unnamed?: boolean;
}

export async function writeFileAtomic(target: string, data: string | Uint8Array, mode = 0o600, opts?: AtomicFileOptions): Promise<void> {
  const file = await createAtomicFile(target, mode, opts);
  try {
    await file.write([typeof data === 'string' ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
    await file.commit();
  } catch (err) {
    await file.abort().catch(() => undefined);
    throw err;
  }
}

/** Bytes written between background `fdatasync` calls (see createAtomicFile). */
const EARLY_SYNC_BYTES = 64 * 1024 * 1024;

/**
 * An output file that appears at its target only on commit(). Writes go straight to the file
 * handle with at most one write in flight, so the caller prepares the next buffers while the
 * previous ones are written. Every EARLY_SYNC_BYTES an `fdatasync` runs in the background, so the
 * disk writes back while the caller keeps working and the fsync at commit only flushes the tail
 * (measured on 1 GiB: 1.5 s → 1.2 s for a seal, fsync included).
 */
export interface AtomicFile {
  /**
   * Where the bytes are until commit: the hidden temp file next to the target, or
   * `/proc/self/fd/<n>` for an unnamed one (Linux), which has no name to leave behind.
   */
  tempPath: string;
  /** true when the bytes are in an unnamed file (nothing of them is visible before commit). */
  unnamed: boolean;
  /**
   * Writes the buffers in order. Resolves once the previous write has finished and this one has
   * started; the buffers must not be changed until the next write() or commit() resolves.
   * Rejects with the error of an earlier write, if one failed.
   */
  write(parts: Buffer[]): Promise<void>;
  /** Resolves when every write so far has finished (rejects with a write's error). */
  drain(): Promise<void>;
  /**
   * The descriptor, for positional writes by worker threads (envelope/parallel.ts). They must be
   * finished before commit(); report each with wrote() so the background fdatasync keeps pace.
   */
  fd: number;
  /** Counts bytes written through `fd` by someone else (see `fd`). */
  wrote(bytes: number): void;
  /** Finishes the writes, fsyncs and puts the file in place. */
  commit(): Promise<void>;
  /** Drops the bytes (closes an unnamed file, removes a named one); the target is untouched. Safe to call more than once. */
  abort(): Promise<void>;
}

async function writeAll(fh: fsp.FileHandle, parts: Buffer[]): Promise<void> {
  let list = parts.filter((p) => p.length > 0);
  while (list.length) {
    const { bytesWritten } = await fh.writev(list);
    let n = bytesWritten;
    if (n <= 0) throw Object.assign(new Error('write made no progress'), { code: 'EIO', syscall: 'write' });
    while (n > 0) {
      const first = list[0]!;
      if (first.length <= n) {
        n -= first.length;
        list = list.slice(1);
      } else {
        list[0] = first.subarray(n);
        n = 0;
      }
    }
  }
}

// ---- where the bytes live until commit ----------------------------------------------------------

/** An open file holding the output until commit. */
interface Body {
  fh: fsp.FileHandle;
  tempPath: string;
  unnamed: boolean;
  /** The file is written and synced: close it and put it at the target. */
  publish(): Promise<void>;
  /** Close it and drop the bytes. */
  discard(): Promise<void>;
}

/** Named temp files of writes in progress in this process (see discardPendingSync). */
const pending = new Set<string>();

/**
 * Removes, synchronously, the named temp files of writes still in progress: for a process about to
 * exit without unwinding (a second Ctrl-C). Unnamed files need nothing: they vanish with the process.
 */
export function discardPendingSync(): void {
  for (const p of pending) {
    try {
      rmSync(p, { force: true });
    } catch {
      // Nothing more can be done on the way out; the next run's sweep removes it.
    }
  }
  pending.clear();
}

/** Closes the handle the first time it is called; later calls do nothing. */
function closeOnce(fh: fsp.FileHandle): () => Promise<void> {
  let closed = false;
  return async () => {
    if (closed) return;
    closed = true;
    await fh.close();
  };
}

async function openNamed(target: string, mode: number): Promise<Body> {
  await sweepOnce(path.dirname(target));
  const tempPath = tempNameFor(target);
  const fh = await fsp.open(tempPath, 'wx', mode);
  pending.add(tempPath);
  const close = closeOnce(fh);
  return {
    fh,
    tempPath,
    unnamed: false,
    async publish() {
      try {
        await close();
        await fsp.rename(tempPath, target);
      } catch (err) {
        await fsp.rm(tempPath, { force: true }).catch(() => undefined);
        throw err;
      } finally {
        pending.delete(tempPath);
      }
    },
    async discard() {
      await close().catch(() => undefined);
      await fsp.rm(tempPath, { force: true });
      pending.delete(tempPath);
    },
  };
}

/**
 * O_TMPFILE (`__O_TMPFILE | O_DIRECTORY`): __O_TMPFILE is 020000000 in asm-generic/fcntl.h, the value
 * of every architecture Node is built for (alpha, parisc and sparc differ; no Node there).
 */
const O_TMPFILE_ARCHES = new Set(['x64', 'arm64', 'arm', 'ia32', 'ppc64', 's390x', 'riscv64', 'loong64', 'mips', 'mipsel']);
const O_TMPFILE = 0o20000000 | constants.O_DIRECTORY;

interface LinkTools {
  sh: string;
  ln: string;
  mv: string;
}
let linkTools: LinkTools | null | undefined;
/** The system's sh, ln and mv by absolute path (never a PATH lookup), or null. Looked up once. */
function tools(): LinkTools | null {
  if (linkTools === undefined) {
    const find = (name: string) => ['/usr/bin/', '/bin/'].map((d) => d + name).find((p) => existsSync(p));
    const [sh, ln, mv] = [find('sh'), find('ln'), find('mv')];
    linkTools = sh && ln && mv ? { sh, ln, mv } : null;
  }
  return linkTools;
}

/** Set when linking an unnamed file failed where a named temp file worked: stop trying in this process. */
let unnamedBroken = false;

async function openUnnamed(target: string, mode: number): Promise<Body | undefined> {
  if (process.platform !== 'linux' || !O_TMPFILE_ARCHES.has(process.arch) || unnamedBroken || !tools()) return undefined;
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(path.dirname(target), O_TMPFILE | constants.O_RDWR, mode);
  } catch {
    // EOPNOTSUPP (the file system), EISDIR/EINVAL (a kernel before 3.11), or a real problem such as a
    // missing folder: the named path runs next and reports real problems with the usual error.
    return undefined;
  }
  const close = closeOnce(fh);
  return {
    fh,
    tempPath: `/proc/self/fd/${fh.fd}`,
    unnamed: true,
    async publish() {
      try {
        try {
          // A loaded machine may refuse a fork for a moment (EAGAIN): try again before giving up on linking.
          for (let attempt = 1; ; attempt++) {
            try {
              await linkInto(fh.fd, target);
              break;
            } catch (err) {
              if (attempt >= 3 || !(err as { transient?: boolean }).transient) throw err;
              await new Promise((r) => setTimeout(r, 20 * attempt));
            }
          }
        } catch {
          // No usable linker here after all (a stripped `ln`, no /proc): copy to a named temp file.
          // If that fails too, its error (a Node fs error with a code: ENOSPC, EACCES, …) says why.
          await copyToNamed(fh, target, mode);
          unnamedBroken = true;
        }
      } finally {
        await close();
      }
    },
    async discard() {
      await close();
    },
  };
}

const lexists = (p: string) =>
  fsp.lstat(p).then(
    () => true,
    () => false,
  );

/** Gives the unnamed file open as `fd` the name `target` (see the top of this file). */
async function linkInto(fd: number, target: string): Promise<void> {
  const t = tools()!;
  if (!(await lexists(target))) {
    try {
      await runWithFd(t.ln, ['-L', '--', '/proc/self/fd/3', target], fd);
      return;
    } catch (err) {
      if (!(await lexists(target))) throw err;
      // The target appeared meanwhile: replace it like any existing one.
    }
  }
  const temp = tempNameFor(target);
  try {
    await runWithFd(t.sh, ['-c', '"$1" -L -- /proc/self/fd/3 "$3" && exec "$2" -f -T -- "$3" "$4"', 'sh', t.ln, t.mv, temp, target], fd);
  } catch (err) {
    await fsp.rm(temp, { force: true }).catch(() => undefined);
    throw err;
  }
}

/** Runs a system tool with `fd` as its fd 3, in a session of its own (terminal signals do not reach it). */
function runWithFd(file: string, args: string[], fd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe', fd], detached: true });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    // Transient: the fork failed for want of resources, or something killed the child.
    child.once('error', (err: NodeJS.ErrnoException) =>
      reject(Object.assign(err, { transient: ['EAGAIN', 'ENOMEM', 'EMFILE', 'ENFILE'].includes(err.code ?? '') })),
    );
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else
        reject(Object.assign(new Error(`${path.basename(file)} ${signal ?? `exited ${code}`}: ${stderr.trim()}`), { transient: !!signal }));
    });
  });
}

async function copyToNamed(source: fsp.FileHandle, target: string, mode: number): Promise<void> {
  const out = await openNamed(target, mode);
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let pos = 0; ;) {
      const { bytesRead } = await source.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      await writeAll(out.fh, [buf.subarray(0, bytesRead)]);
      pos += bytesRead;
    }
    await out.fh.sync();
    await out.publish();
  } catch (err) {
    await out.discard().catch(() => undefined);
    throw err;
  }
}

// ---- stale temp files of killed runs --------------------------------------------------------------

export interface StaleTempFilesRemoved {
  dir: string;
  /** Base names of the files removed. */
  files: string[];
}
const sweepListeners = new Set<(e: StaleTempFilesRemoved) => void>();

/** Called when a write removes temp files a killed run left in its folder. Returns an unsubscribe. */
export function onStaleTempFilesRemoved(listener: (e: StaleTempFilesRemoved) => void): () => void {
  sweepListeners.add(listener);
  return () => sweepListeners.delete(listener);
}

/**
 * Removes this program's temp files in `dir` (TEMP_FILE_PATTERN, regular files owned by this user)
 * untouched for `olderThanMs`. Never throws; returns the base names removed.
 */
export async function sweepStaleTempFiles(dir: string, olderThanMs = STALE_TEMP_MS, now = Date.now()): Promise<string[]> {
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  const uid = process.getuid?.();
  const removed: string[] = [];
  for (const name of names) {
    if (!TEMP_FILE_PATTERN.test(name)) continue;
    const p = path.join(dir, name);
    if (pending.has(p)) continue;
    const st = await fsp.lstat(p).catch(() => undefined);
    if (!st?.isFile() || (uid !== undefined && st.uid !== uid)) continue;
    if (now - st.mtimeMs < olderThanMs) continue;
    if (
      await fsp.rm(p).then(
        () => true,
        () => false,
      )
    )
      removed.push(name);
  }
  return removed;
}

const swept = new Set<string>();
/** The first named-temp write into a folder in this process sweeps it. */
async function sweepOnce(dir: string): Promise<void> {
  const key = path.resolve(dir);
  if (swept.has(key)) return;
  swept.add(key);
  const files = await sweepStaleTempFiles(key);
  if (files.length) for (const l of sweepListeners) l({ dir: key, files });
}

// ---- what a write would replace ------------------------------------------------------------------

/** What is at an output path now, looked at without following a symbolic link. */
export interface ExistingTarget {
  kind: 'file' | 'directory' | 'symlink' | 'other';
  /** A symbolic link's target as written in the link. */
  linkTo?: string;
  /** A symbolic link whose target does not exist. */
  dangling?: boolean;
}

/**
 * What a write to `target` would replace, or undefined when nothing is there. A symbolic link counts
 * as existing even when its target does not: a write renames over the link itself (never through it).
 */
export async function existingTarget(target: string): Promise<ExistingTarget | undefined> {
  const st = await fsp.lstat(target).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
    throw err;
  });
  if (!st) return undefined;
  if (st.isSymbolicLink()) {
    const linkTo = await fsp.readlink(target).catch(() => '?');
    const dangling = await fsp.stat(target).then(
      () => false,
      () => true,
    );
    return { kind: 'symlink', linkTo, dangling };
  }
  return { kind: st.isFile() ? 'file' : st.isDirectory() ? 'directory' : 'other' };
}

/** `a symbolic link to x` / `a symbolic link to x, which does not exist`, for messages. */
export function describeLink(t: ExistingTarget): string {
  return `a symbolic link to ${t.linkTo}${t.dangling ? ', which does not exist' : ''}`;
}

// ---- the writer ---------------------------------------------------------------------------------

export async function createAtomicFile(target: string, mode = 0o600, opts: AtomicFileOptions = {}): Promise<AtomicFile> {
  const body = (opts.unnamed !== false ? await openUnnamed(target, mode) : undefined) ?? (await openNamed(target, mode));
  const fh = body.fh;
  let failure: { error: unknown } | undefined;
  // Background work never rejects (the error is kept and thrown by the next write or commit), so
  // no rejection goes unhandled while the caller is busy encrypting.
  const track = (p: Promise<unknown>): Promise<void> =>
    p.then(
      () => undefined,
      (error: unknown) => {
        failure ??= { error };
      },
    );
  let inflight: Promise<void> = Promise.resolve();
  let syncing: Promise<void> | undefined;
  let unsynced = 0;
  let finished = false;
  let done = false;
  const settle = async () => {
    await inflight;
    await syncing;
  };
  const count = (bytes: number) => {
    unsynced += bytes;
    if (unsynced >= EARLY_SYNC_BYTES && !syncing) {
      unsynced = 0;
      syncing = track(inflight.then(() => (failure ? undefined : fh.datasync()))).then(() => {
        syncing = undefined;
      });
    }
  };
  return {
    tempPath: body.tempPath,
    unnamed: body.unnamed,
    write(parts) {
      if (done || finished) return Promise.reject(new Error(`write after the output ${target} was committed or aborted`));
      // Chained, so writes land in call order even if a caller does not wait.
      const previous = inflight;
      inflight = track(previous.then(() => (failure ? undefined : writeAll(fh, parts))));
      count(parts.reduce((n, p) => n + p.length, 0));
      return previous.then(() => {
        if (failure) throw failure.error;
      });
    },
    async drain() {
      await inflight;
      if (failure) throw failure.error;
    },
    fd: fh.fd,
    wrote: count,
    async commit() {
      if (done) return;
      finished = true;
      try {
        await settle();
        if (failure) throw failure.error;
        await fh.sync();
      } catch (err) {
        done = true;
        await body.discard().catch(() => undefined);
        throw err;
      }
      done = true;
      await body.publish();
    },
    async abort() {
      if (done) return;
      done = true;
      finished = true;
      await settle();
      await body.discard();
    },
  };
}

export interface AtomicWriteStream {
  /** Write here; nothing is visible at the target until commit(). */
  stream: Writable;
  /** The file under the stream, for writers that skip the stream (do not mix both). */
  file: AtomicFile;
  /** Ends the stream, fsyncs and puts the file in place. */
  commit(): Promise<void>;
  /** Drops the bytes; the target is untouched. Safe to call more than once. */
  abort(): Promise<void>;
  tempPath: string;
}

/** An AtomicFile behind a Writable, for stream pipelines (stdin, armor). */
export async function createAtomicWriteStream(target: string, mode = 0o600, opts?: AtomicFileOptions): Promise<AtomicWriteStream> {
  const file = await createAtomicFile(target, mode, opts);
  const stream = new Writable({
    highWaterMark: 1 << 20,
    writev(chunks, cb) {
      // Called back only once written: a stream producer may reuse a chunk after its callback.
      // (A byte stream hands over Buffers: strings and Uint8Arrays are converted on write.)
      const parts = chunks.map((c) => c.chunk as Buffer);
      file
        .write(parts)
        .then(() => file.drain())
        .then(() => cb(), cb);
    },
  });
  let done = false;
  return {
    stream,
    file,
    tempPath: file.tempPath,
    async commit() {
      if (done) return;
      await new Promise<void>((resolve, reject) => {
        if (stream.writableFinished) return resolve();
        if (stream.destroyed) return reject(stream.errored ?? new Error('the output stream was destroyed'));
        stream.once('error', reject);
        stream.end(() => resolve());
      });
      await file.commit();
      done = true;
    },
    async abort() {
      if (done) return;
      done = true;
      stream.destroy();
      await file.abort();
    },
  };
}
