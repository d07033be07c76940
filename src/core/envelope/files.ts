/**
 * Seal and unseal file to file: the fast paths of the CLI and the extension. Large regular files go
 * to worker threads, one per core (parallel.ts); the rest, and messages that path does not read,
 * take one thread: reads go into reused buffers with one read ahead, writes go to an AtomicFile
 * (unnamed or temp file, fsync, then its name) while the next frames are encrypted or decrypted.
 * Either way a failed or cancelled run leaves no output behind.
 */
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { createAtomicFile, type AtomicFile } from '../atomic';
import { KmsEnvelopeError, throwIfAborted } from '../errors';
import { displayPath, escapeControls } from '../paths';
import { checkFrameCount } from './frames';
import { mapError, openMessage, openSealSession, type BodyLayout, type SealSession } from './message';
import {
  bodyLayout,
  fileSize,
  frameTemplates,
  framesPerBlock,
  parallelTuning,
  parallelWorkers,
  readHead,
  runFrameJob,
  truncateFile,
} from './parallel';
import type { HeaderInfo, SealOptions, UnsealOptions } from './types';
import { cannotRead } from '../read-file';

/** Read size for files. */
export const READ_CHUNK = 1024 * 1024;

/** Reads until `b` is full or the file ends; returns the bytes read. */
async function readFull(fh: FileHandle, b: Buffer): Promise<number> {
  let n = 0;
  while (n < b.length) {
    const { bytesRead } = await fh.read(b, n, b.length - n, null);
    if (bytesRead === 0) break;
    n += bytesRead;
  }
  return n;
}

/** readFull started now and awaited later: its rejection is handled when awaited, never unhandled meanwhile. */
function readAhead(fh: FileHandle, b: Buffer): Promise<number> {
  const p = readFull(fh, b);
  p.catch(() => undefined);
  return p;
}

/** Plaintext read per block when sealing a file: whole frames, about 1 MiB (at most 256 frames). */
function sealBlockLength(frameLength: number): number {
  return frameLength * framesPerBlock(frameLength);
}

const inputChanged = () =>
  new KmsEnvelopeError('io', 'The input file changed size while it was being sealed.', {
    hint: 'Seal it again once nothing writes to it.',
  });

/** Worker threads for this seal, or 0 for the one-thread path (small input, one core, not a regular file). */
async function sealWorkers(input: FileHandle, frameLength: number): Promise<{ workers: number; size: number }> {
  const workers = parallelWorkers();
  if (!workers || frameLength > parallelTuning.maxFrameLength) return { workers: 0, size: 0 };
  const st = await input.stat();
  return st.isFile() && st.size >= parallelTuning.minBytes && st.size > 0 ? { workers, size: st.size } : { workers: 0, size: 0 };
}

/** runFrameJob's options for a file: each block's output told to `out`, progress counted from `start` bytes. */
function jobOptions(workers: number, out: AtomicFile, start: number, opts: { signal?: AbortSignal; onProgress?: (bytes: number) => void }) {
  let done = start;
  return {
    workers,
    signal: opts.signal,
    onBlock: (read: number, wrote: number) => {
      out.wrote(wrote);
      done += read;
      opts.onProgress?.(done);
    },
  };
}

/** The body of a seal on worker threads: `size` bytes of the input from its start. */
async function sealParallel(input: FileHandle, out: AtomicFile, session: SealSession, size: number, workers: number, opts: SealOptions) {
  const { frameLength } = session;
  const frames = Math.ceil(size / frameLength);
  checkFrameCount(frames);
  const finalLength = size - (frames - 1) * frameLength;
  await out.write([session.header]);
  await out.drain();
  opts.onProgress?.(0);
  try {
    await runFrameJob(
      {
        mode: 'seal',
        inFd: input.fd,
        outFd: out.fd,
        key: session.workerKey(),
        cipher: session.cipher,
        frameLength,
        framesPerBlock: framesPerBlock(frameLength),
        frames,
        finalLength,
        inStart: 0,
        outStart: session.header.length,
        ...frameTemplates(session.messageId, frameLength, frames, finalLength),
      },
      jobOptions(workers, out, 0, opts),
    );
  } catch (err) {
    throw (err as NodeJS.ErrnoException).code === 'ECHANGED' ? inputChanged() : err;
  }
  if ((await fileSize(input.fd)) !== size) throw inputChanged();
}

/**
 * The body of an unseal on worker threads, when the file is large, regular and laid out exactly as
 * its header says. false: nothing of it is left in `out`, and the one-thread path runs next (it
 * opens the file, or says what is wrong with it).
 */
async function unsealParallel(input: FileHandle, out: AtomicFile, layout: BodyLayout, opts: UnsealOptions): Promise<boolean> {
  const workers = parallelWorkers();
  const { frameLength, headerLength } = layout;
  if (!workers || !layout.plainFramed || frameLength < 1 || frameLength > parallelTuning.maxFrameLength) return false;
  const st = await input.stat();
  if (!st.isFile() || st.size - headerLength < parallelTuning.minBytes) return false;
  const shape = bodyLayout(st.size - headerLength, frameLength);
  if (!shape) return false;
  // The header was read from the start of the file: the body is where the workers will look.
  const head = await readHead(input.fd, Math.min(64, layout.rawHeader.length));
  if (!head.length || !head.equals(layout.rawHeader.subarray(0, head.length))) return false;
  const result = await runFrameJob(
    {
      mode: 'unseal',
      inFd: input.fd,
      outFd: out.fd,
      key: layout.workerKey(),
      cipher: layout.cipher,
      frameLength,
      framesPerBlock: framesPerBlock(frameLength),
      frames: shape.frames,
      finalLength: shape.finalLength,
      inStart: headerLength,
      outStart: 0,
      ...frameTemplates(layout.messageId, frameLength, shape.frames, shape.finalLength),
    },
    jobOptions(workers, out, headerLength, opts),
  );
  if (result === 'done' && (await fileSize(input.fd)) === st.size) return true;
  await truncateFile(out.fd, 0);
  return false;
}

/**
 * Seals an open file into an AtomicFile (the fast path of sealFile and the CLI): blocks of whole
 * frames are read into three reused buffers (the next block is read while this one is encrypted),
 * and each block's frames go out in one write while the next block is encrypted. Same bytes as
 * sealStream over the same input. The caller commits or aborts `out`.
 */
export async function sealToFile(input: FileHandle, out: AtomicFile, opts: SealOptions): Promise<HeaderInfo> {
  const { signal, onProgress } = opts;
  try {
    const session = await openSealSession(opts);
    const { frameLength } = session;
    const parallel = await sealWorkers(input, frameLength).catch((err: unknown) => {
      session.dispose();
      throw err;
    });
    if (parallel.workers) {
      try {
        await sealParallel(input, out, session, parallel.size, parallel.workers, opts);
        await out.drain();
        throwIfAborted(signal);
        return session.info;
      } finally {
        session.dispose();
      }
    }
    const blockLength = sealBlockLength(frameLength);
    const bufs = [Buffer.allocUnsafe(blockLength), Buffer.allocUnsafe(blockLength), Buffer.allocUnsafe(blockLength)];
    let next: Promise<number> = Promise.resolve(0);
    try {
      await out.write([session.header]);
      let i = 0;
      let curLength = await readFull(input, bufs[0]!);
      next = readAhead(input, bufs[1]!);
      let seq = 1;
      let done = curLength;
      for (;;) {
        throwIfAborted(signal);
        const nextLength = await next;
        const last = nextLength === 0;
        if (!last && curLength < blockLength) {
          throw new KmsEnvelopeError('io', 'The input file grew while it was being sealed.', {
            hint: 'Seal it again once nothing writes to it.',
          });
        }
        if (!last) next = readAhead(input, bufs[(i + 2) % 3]!);
        onProgress?.(done);
        const cur = bufs[i]!;
        const parts: Buffer[] = [];
        for (let off = 0; ; off += frameLength) {
          const length = Math.min(frameLength, curLength - off);
          const isFinal = last && off + length >= curLength;
          // Frame content is copied into the cipher output here, so `cur` may be read into again.
          parts.push(...session.frames.seal(seq, [cur.subarray(off, off + length)], length, isFinal));
          if (isFinal || off + length >= curLength) break;
          seq++;
        }
        await out.write(parts);
        if (last) break;
        seq++;
        i = (i + 1) % 3;
        curLength = nextLength;
        done += nextLength;
      }
      await out.drain();
      throwIfAborted(signal);
      return session.info;
    } finally {
      await next.catch(() => undefined);
      for (const b of bufs) b.fill(0);
      session.dispose();
    }
  } catch (err) {
    throw mapError(err, signal, 'seal');
  }
}

/** Reads a file as fresh chunks of `size` bytes, one read at a time (the header of a blob). */
export async function* fileChunks(fh: FileHandle, size: number): AsyncGenerator<Buffer> {
  for (;;) {
    const b = Buffer.allocUnsafe(size);
    const n = await readFull(fh, b);
    if (n === 0) return;
    yield n === size ? b : b.subarray(0, n);
  }
}

/**
 * A blob's body from a file, after `first` (the bytes read past the header): full chunks of
 * `size` bytes (only the last is shorter) read into a ring of three reused buffers, one read ahead.
 * Safe with readFrames' ChunkReader: it pulls a chunk only when fewer than 24 bytes (a final frame's header)
 * are left unconsumed, so when chunk k is pulled, live bytes are only in chunks k-1 and k, while the
 * read ahead fills the third buffer; what readFrames takes is used before its next await.
 */
export async function* bodyChunks(fh: FileHandle, size: number, first: Buffer): AsyncGenerator<Buffer> {
  if (first.length) yield first;
  const ring = [Buffer.allocUnsafe(size), Buffer.allocUnsafe(size), Buffer.allocUnsafe(size)];
  let slot = 0;
  let next = readAhead(fh, ring[0]!);
  try {
    for (;;) {
      const n = await next;
      if (n === 0) return;
      const b = ring[slot]!;
      slot = (slot + 1) % ring.length;
      next = readAhead(fh, ring[slot]!);
      yield n === size ? b : b.subarray(0, n);
    }
  } finally {
    await next.catch(() => undefined);
  }
}

/**
 * Unseals an open file holding a binary blob into an AtomicFile (the fast path of unsealFile and
 * the CLI): authenticated plaintext goes out in ~1 MiB writes while the next frames are decrypted.
 * The caller commits or aborts `out`.
 */
export async function unsealToFile(input: FileHandle, out: AtomicFile, opts: UnsealOptions): Promise<HeaderInfo> {
  try {
    // Header in fresh 64 KiB reads; body reads cover one 1 MiB frame with its frame header and tag.
    const started = await openMessage(fileChunks(input, 64 * 1024), opts, (rest) => bodyChunks(input, READ_CHUNK + 64, rest));
    try {
      if (started.layout && (await unsealParallel(input, out, started.layout, opts))) {
        await out.drain();
        throwIfAborted(opts.signal);
        return started.info;
      }
      let batch: Buffer[] = [];
      let batchLength = 0;
      for await (const c of started.body) {
        batch.push(c);
        batchLength += c.length;
        if (batchLength >= READ_CHUNK) {
          await out.write(batch);
          batch = [];
          batchLength = 0;
        }
      }
      if (batch.length) await out.write(batch);
      await out.drain();
      throwIfAborted(opts.signal);
      return started.info;
    } finally {
      started.dispose();
    }
  } catch (err) {
    throw mapError(err, opts.signal, 'unseal');
  }
}

export async function openInputFile(path: string): Promise<FileHandle> {
  try {
    const fh = await fsp.open(path, 'r');
    if ((await fh.stat()).isDirectory()) {
      await fh.close();
      throw Object.assign(new Error('EISDIR'), { code: 'EISDIR' });
    }
    return fh;
  } catch (err) {
    throw cannotRead(path, err);
  }
}

async function toFile(
  inputPath: string,
  outputPath: string,
  signal: AbortSignal | undefined,
  go: (input: FileHandle, output: AtomicFile) => Promise<HeaderInfo>,
): Promise<HeaderInfo> {
  throwIfAborted(signal);
  const input = await openInputFile(inputPath);
  try {
    let out: AtomicFile;
    try {
      out = await createAtomicFile(outputPath);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new KmsEnvelopeError(
        'io',
        `Cannot write ${displayPath(outputPath)}: ${e.code === 'ENOENT' ? 'its folder does not exist' : escapeControls(e.message)}.`,
        {
          hint: 'Check the output folder and permissions.',
          details: { file: outputPath },
          cause: err,
        },
      );
    }
    try {
      const info = await go(input, out);
      throwIfAborted(signal);
      await out.commit();
      return info;
    } catch (err) {
      await out.abort().catch(() => undefined);
      if (err instanceof KmsEnvelopeError && !err.details.file) (err.details as { file?: string }).file = inputPath;
      throw err instanceof KmsEnvelopeError ? err : mapError(err, signal, 'unseal');
    }
  } finally {
    await input.close().catch(() => undefined);
  }
}

/** Atomic: the output appears complete or not at all; the input is only read. */
export function sealFile(inputPath: string, outputPath: string, opts: SealOptions): Promise<HeaderInfo> {
  return toFile(inputPath, outputPath, opts.signal, (i, o) => sealToFile(i, o, opts));
}

/** Atomic: a failed unseal (tampered, truncated, wrong key or context, cancelled) leaves no output. */
export function unsealFile(inputPath: string, outputPath: string, opts: UnsealOptions): Promise<HeaderInfo> {
  return toFile(inputPath, outputPath, opts.signal, (i, o) => unsealToFile(i, o, opts));
}
