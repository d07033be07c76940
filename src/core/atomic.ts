/**
 * Atomic file writes: data goes to a temp file in the target's directory, is fsynced,
 * then renamed over the target. A failure removes the temp file and never touches the
 * target, so a failed seal or unseal leaves the original and no partial output behind.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, fsync, open, promises as fsp, type WriteStream } from 'node:fs';
import { promisify } from 'node:util';
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

export interface AtomicWriteStream {
  /** Write here; nothing is visible at the target until commit(). */
  stream: WriteStream;
  /** Flushes, fsyncs and renames into place. */
  commit(): Promise<void>;
  /** Removes the temp file; the target is untouched. Safe to call more than once. */
  abort(): Promise<void>;
  tempPath: string;
}

export async function createAtomicWriteStream(target: string, mode = 0o600): Promise<AtomicWriteStream> {
  const tempPath = tempNameFor(target);
  // A plain fd owned by the stream alone: the stream's destroy() closes it exactly once. (With a
  // FileHandle as well, destroy() and FileHandle.close() both closed the same fd number, which raced
  // with, and could close, an fd reused by another open.)
  const fd = await promisify(open)(tempPath, 'wx', mode);
  const stream = createWriteStream('', { fd, autoClose: false, highWaterMark: 1 << 20 });
  let done = false;
  const close = () =>
    new Promise<void>((resolve) => {
      if (stream.closed) return resolve();
      stream.once('close', () => resolve());
      stream.destroy();
    });
  return {
    stream,
    tempPath,
    async commit() {
      if (done) return;
      try {
        await new Promise<void>((resolve, reject) => {
          if (stream.writableFinished) return resolve();
          stream.once('error', reject);
          stream.end(() => resolve());
        });
        await promisify(fsync)(fd);
      } finally {
        await close();
      }
      await fsp.rename(tempPath, target);
      done = true;
    },
    async abort() {
      if (done) return;
      done = true;
      await close();
      await fsp.rm(tempPath, { force: true });
    },
  };
}
