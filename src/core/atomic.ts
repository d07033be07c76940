/**
 * Atomic file writes: data goes to a temp file in the target's directory, is fsynced,
 * then renamed over the target. A failure removes the temp file and never touches the
 * target, so a failed seal or unseal leaves the original and no partial output behind.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { Writable } from 'node:stream';
import * as path from 'node:path';

function tempNameFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
}

export async function writeFileAtomic(target: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const tmp = tempNameFor(target);
  const fh = await fsp.open(tmp, 'wx', mode);
  try {
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, target);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
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
  tempPath: string;
  /**
   * Writes the buffers in order. Resolves once the previous write has finished and this one has
   * started; the buffers must not be changed until the next write() or commit() resolves.
   * Rejects with the error of an earlier write, if one failed.
   */
  write(parts: Buffer[]): Promise<void>;
  /** Resolves when every write so far has finished (rejects with a write's error). */
  drain(): Promise<void>;
  /** Finishes the writes, fsyncs and renames into place. */
  commit(): Promise<void>;
  /** Removes the temp file; the target is untouched. Safe to call more than once. */
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

export async function createAtomicFile(target: string, mode = 0o600): Promise<AtomicFile> {
  const tempPath = tempNameFor(target);
  const fh = await fsp.open(tempPath, 'wx', mode);
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
  let closed = false;
  let done = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await fh.close();
  };
  const settle = async () => {
    await inflight;
    await syncing;
  };
  return {
    tempPath,
    write(parts) {
      if (done || closed) return Promise.reject(new Error(`write after the output ${target} was committed or aborted`));
      // Chained, so writes land in call order even if a caller does not wait.
      const previous = inflight;
      inflight = track(previous.then(() => (failure ? undefined : writeAll(fh, parts))));
      for (const p of parts) unsynced += p.length;
      if (unsynced >= EARLY_SYNC_BYTES && !syncing) {
        unsynced = 0;
        syncing = track(inflight.then(() => (failure ? undefined : fh.datasync()))).then(() => {
          syncing = undefined;
        });
      }
      return previous.then(() => {
        if (failure) throw failure.error;
      });
    },
    async drain() {
      await inflight;
      if (failure) throw failure.error;
    },
    async commit() {
      if (done) return;
      try {
        await settle();
        if (failure) throw failure.error;
        await fh.sync();
      } finally {
        await close();
      }
      await fsp.rename(tempPath, target);
      done = true;
    },
    async abort() {
      if (done) return;
      done = true;
      await settle();
      await close().catch(() => undefined);
      await fsp.rm(tempPath, { force: true });
    },
  };
}

export interface AtomicWriteStream {
  /** Write here; nothing is visible at the target until commit(). */
  stream: Writable;
  /** The file under the stream, for writers that skip the stream (do not mix both). */
  file: AtomicFile;
  /** Ends the stream, fsyncs and renames into place. */
  commit(): Promise<void>;
  /** Removes the temp file; the target is untouched. Safe to call more than once. */
  abort(): Promise<void>;
  tempPath: string;
}

/** An AtomicFile behind a Writable, for stream pipelines (stdin, armor). */
export async function createAtomicWriteStream(target: string, mode = 0o600): Promise<AtomicWriteStream> {
  const file = await createAtomicFile(target, mode);
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
