/**
 * Seal / unseal for buffers and streams, and header-only inspect: the envelope library's entry
 * points (files: files.ts, re-exported here so callers have one lazy import). Memory stays bounded
 * by a few frames whatever the input size (a frame's plaintext is held until its tag verifies).
 */
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { throwIfAborted } from '../errors';
import { openMessage, openSealSession, readHeader, checkMaxRecipients, mapError, type OpenedMessage, type Source } from './message';
import { ChunkReader } from './reader';
import { headerInfoOf } from './header';
import type { HeaderInfo, SealOptions, UnsealOptions } from './types';

export { DEFAULT_FRAME_LENGTH, DEFAULT_MAX_RECIPIENTS } from './message';
export { sealFile, sealToFile, unsealFile, unsealToFile } from './files';

async function* once(b: Buffer): AsyncGenerator<Buffer> {
  yield b;
}

function toBuffer(c: Buffer | Uint8Array | string): Buffer {
  return typeof c === 'string' ? Buffer.from(c) : Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
}

/** Seals a source: the header, then frames of `frameLength` bytes, the last one final. */
async function startSeal(source: Source, opts: SealOptions): Promise<OpenedMessage> {
  const session = await openSealSession(opts);
  const { frames, frameLength } = session;
  const { signal, onProgress } = opts;
  async function* body(): AsyncGenerator<Buffer> {
    yield session.header;
    let pending: Buffer[] = [];
    let pendingLength = 0;
    let seq = 1;
    let done = 0;
    for await (const c of source) {
      throwIfAborted(signal);
      let chunk = toBuffer(c);
      done += chunk.length;
      // Emit a regular frame only once more bytes are known to follow, so the final frame is never
      // empty unless the whole input is.
      while (pendingLength + chunk.length > frameLength) {
        const take = frameLength - pendingLength;
        pending.push(chunk.subarray(0, take));
        chunk = chunk.subarray(take);
        yield* frames.seal(seq++, pending, frameLength, false);
        pending = [];
        pendingLength = 0;
      }
      if (chunk.length) {
        pending.push(chunk);
        pendingLength += chunk.length;
      }
      onProgress?.(done);
    }
    throwIfAborted(signal);
    yield* frames.seal(seq, pending, pendingLength, true);
  }
  return { info: session.info, body: body(), dispose: session.dispose };
}

async function collect(started: OpenedMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  try {
    for await (const p of started.body) parts.push(p);
  } finally {
    started.dispose();
  }
  return Buffer.concat(parts);
}

export async function sealBuffer(plaintext: Uint8Array, opts: SealOptions): Promise<Buffer> {
  try {
    return await collect(await startSeal(once(toBuffer(plaintext)), { plaintextLength: plaintext.byteLength, ...opts }));
  } catch (err) {
    throw mapError(err, opts.signal, 'seal');
  }
}

export async function unsealBuffer(blob: Uint8Array, opts: UnsealOptions): Promise<{ plaintext: Buffer; header: HeaderInfo }> {
  try {
    const started = await openMessage(once(toBuffer(blob)), opts);
    return { plaintext: await collect(started), header: started.info };
  } catch (err) {
    throw mapError(err, opts.signal, 'unseal');
  }
}

async function run(started: OpenedMessage, output: Writable, signal?: AbortSignal): Promise<HeaderInfo> {
  try {
    await pipeline(started.body, output, { signal });
  } finally {
    started.dispose();
  }
  return started.info;
}

/** Seals `input` into `output` (ends it). */
export async function sealStream(input: Readable, output: Writable, opts: SealOptions): Promise<HeaderInfo> {
  try {
    return await run(await startSeal(input, opts), output, opts.signal);
  } catch (err) {
    input.destroy();
    throw mapError(err, opts.signal, 'seal');
  }
}

/** Unseals `input` into `output` (ends it). Output receives only authenticated plaintext. */
export async function unsealStream(input: Readable, output: Writable, opts: UnsealOptions): Promise<HeaderInfo> {
  try {
    return await run(await openMessage(input, opts), output, opts.signal);
  } catch (err) {
    input.destroy();
    throw mapError(err, opts.signal, 'unseal');
  }
}

/** Header only: suite, frame length, context, recipients. No KMS call. Reads a stream only as far as the header. */
export async function inspect(blob: Uint8Array | Readable, opts: { maxRecipients?: number } = {}): Promise<HeaderInfo> {
  const source: Source = blob instanceof Uint8Array ? once(toBuffer(blob)) : blob;
  const it = source[Symbol.asyncIterator]();
  try {
    const parsed = await readHeader(new ChunkReader(it), checkMaxRecipients(opts));
    return headerInfoOf(parsed.messageHeader);
  } catch (err) {
    throw mapError(err, undefined, 'unseal');
  } finally {
    await it.return?.();
  }
}
