/**
 * Seal and unseal file to file: the fast paths of the CLI and the extension. Reads go into reused
 * buffers with one read ahead, writes go to an AtomicFile (temp file, fsync, rename) while the next
 * frames are encrypted or decrypted, so a failed or cancelled run leaves no output behind.
 */
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { createAtomicFile, type AtomicFile } from '../atomic';
import { KmsEnvelopeError, throwIfAborted } from '../errors';
import { displayPath, escapeControls } from '../paths';
import { mapError, openMessage, openSealSession } from './message';
import type { HeaderInfo, SealOptions, UnsealOptions } from './types';

/** Read size for files. */
const READ_CHUNK = 1024 * 1024;

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
  return frameLength * Math.min(256, Math.max(1, Math.floor(READ_CHUNK / frameLength)));
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
async function* fileChunks(fh: FileHandle, size: number): AsyncGenerator<Buffer> {
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
async function* bodyChunks(fh: FileHandle, size: number, first: Buffer): AsyncGenerator<Buffer> {
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

async function openInputFile(path: string): Promise<FileHandle> {
  try {
    const fh = await fsp.open(path, 'r');
    if ((await fh.stat()).isDirectory()) {
      await fh.close();
      throw Object.assign(new Error('EISDIR'), { code: 'EISDIR' });
    }
    return fh;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === 'ENOENT'
        ? 'no such file'
        : e.code === 'EACCES'
          ? 'permission denied'
          : e.code === 'EISDIR'
            ? 'it is a directory'
            : e.message;
    throw new KmsEnvelopeError('io', `Cannot read ${displayPath(path)}: ${escapeControls(why)}.`, {
      hint: 'Check the path and permissions.',
      details: { file: path },
      cause: err,
    });
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
