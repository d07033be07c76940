/**
 * File to file on every core: the framed body of a large file is sealed or unsealed by worker
 * threads, each taking the next block of whole frames, reading it with pread, running AES-256-GCM
 * over it and writing the result with pwrite. Where a frame sits in the input and the output is a
 * function of its sequence number (every frame but the final one has the same length), so the
 * blocks are independent; the main thread only hands out the key and counts progress (which also
 * drives the output's background fdatasync). Measured on a 2-core VM against the one-thread path,
 * 1 GiB: see README "Benchmarks".
 *
 * The format work stays with the Encryption SDK: the frame key is the ESDK's own derivation
 * (nodeKdf, the function behind getEncryptHelper/getDecryptionHelper), and the frame headers and
 * per-frame AAD are templates the ESDK serialised, in which a worker only writes the sequence number
 * where the ESDK puts it (checked against the ESDK for other numbers before any worker starts).
 *
 * Unseal takes this path only for an unsigned message (suite 0x0478, what seal writes) whose file
 * size fits the exact layout of its frames. A worker writes a frame's plaintext only after the
 * frame's tag verified. Anything unexpected — a frame header not where or what the layout says, a
 * tag that fails, a size that changed — stops the workers, and the caller runs the one-thread frame
 * reader over the same file, which either opens it or names the problem as it always has.
 */
import { createSecretKey, type KeyObject } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { fstat, ftruncate, read } from 'node:fs';
import { promisify } from 'node:util';
import * as v8 from 'node:v8';
import { Worker } from 'node:worker_threads';
import { nodeKdf } from '@aws-crypto/material-management-node/build/main/src/material_helpers';
import type { NodeDecryptionMaterial, NodeEncryptionMaterial } from '@aws-crypto/material-management-node';
import { CancelledError } from '../errors';
import { frameAad, frameHeader } from './frames';
import { TAG_LENGTH } from './header';

/** Knobs of the parallel path (tests lower minBytes to run it on small files). */
export const parallelTuning = {
  /** Bodies smaller than this stay on the one-thread path (starting the workers costs ~20 ms). */
  minBytes: 8 * 1024 * 1024,
  /** Worker threads: one per core, at most this many; with one core the one-thread path runs. */
  maxWorkers: 4,
  /** Frames longer than this stay on the one-thread path (each worker holds a block in memory). */
  maxFrameLength: 4 * 1024 * 1024,
};

/** What the parallel path did in this process (tests check which path ran). */
export const parallelStats = { runs: 0, fallbacks: 0 };

/** Bytes of a regular frame around its content: sequence number, IV, tag. */
const REGULAR_OVERHEAD = 4 + 12 + TAG_LENGTH;
/** Bytes of a final frame around its content: end marker, sequence number, IV, length, tag. */
const FINAL_OVERHEAD = 4 + 4 + 12 + 4 + TAG_LENGTH;
/** Where a frame's sequence number sits in a regular frame header (the number, the IV's last 4 bytes). */
const HEADER_SEQ_OFFSETS = [0, 12];
/** Where it sits in the AAD (messageId, content string, uint32 seq, uint64 length). */
const aadSeqOffset = (aad: Buffer) => aad.length - 12;

/** The work of one operation, as the workers get it (structured-cloned; the key is a KeyObject). */
export interface FrameJob {
  mode: 'seal' | 'unseal';
  inFd: number;
  outFd: number;
  /** The frame key (ESDK derivation) and its cipher name, e.g. aes-256-gcm. */
  key: KeyObject;
  cipher: string;
  frameLength: number;
  framesPerBlock: number;
  /** Frames in the message, the final one included; its content length. */
  frames: number;
  finalLength: number;
  /** Where the body starts in the input (unseal: after the header) and in the output (seal: after it). */
  inStart: number;
  outStart: number;
  /** Frame 1's header and AAD (a worker writes each frame's number into copies), and the final frame's. */
  regularHeader: Buffer;
  regularAad: Buffer;
  finalHeader: Buffer;
  finalAad: Buffer;
  headerSeqOffsets: number[];
  aadSeqOffset: number;
  /** Int32 [next block, stop] shared by the workers and the main thread. */
  control: SharedArrayBuffer;
  /** AES-GCM update size. */
  slice: number;
}

/** Messages from a worker. */
type WorkerMessage =
  | { t: 'ready' }
  | { t: 'block'; read: number; wrote: number }
  | { t: 'anomaly'; seq: number; why: string }
  | { t: 'error'; message: string; code?: string; syscall?: string };

/**
 * The worker's whole program. It runs from its source text (Function.prototype.toString) in a
 * worker started with `eval`, so it must use nothing from outside but its parameters and globals:
 * modules come through `req`. Synchronous reads and writes: a worker has nothing else to do.
 */
function frameWorker(req: NodeRequire, job: FrameJob): void {
  const fs = req('node:fs') as typeof import('node:fs');
  const crypto = req('node:crypto') as typeof import('node:crypto');
  const vm = req('node:vm') as typeof import('node:vm');
  const port = (req('node:worker_threads') as typeof import('node:worker_threads')).parentPort!;
  // The outputs of cipher.update are fresh buffers; V8 frees them only when its external-memory
  // accounting reaches ~64 MiB per thread. A scavenge every 2 MiB keeps that to a few MiB (measured
  // on 1 GiB: peak RSS of the whole process ~114 MB with one every 8 MiB, ~100 MB every 2 MiB).
  let collect: ((opts: { type: 'minor' | 'major' }) => void) | undefined;
  try {
    collect = vm.runInNewContext('typeof gc === "function" ? gc : undefined') as typeof collect;
  } catch {
    collect = undefined;
  }
  port.postMessage({ t: 'ready' });

  const ctl = new Int32Array(job.control);
  const fl = job.frameLength;
  const regular = fl + 32;
  const seal = job.mode === 'seal';
  const inBuf = Buffer.allocUnsafe(seal ? job.framesPerBlock * fl : job.framesPerBlock * regular + 8);

  const readAt = (length: number, position: number): number => {
    let n = 0;
    while (n < length) {
      const r = fs.readSync(job.inFd, inBuf, n, length - n, position + n);
      if (r === 0) break;
      n += r;
    }
    return n;
  };
  const writeAt = (parts: Buffer[], position: number): number => {
    let total = 0;
    let list = parts.filter((p) => p.length > 0);
    while (list.length) {
      const batch = list.slice(0, 512);
      let n = fs.writevSync(job.outFd, batch, position + total);
      if (n <= 0) throw Object.assign(new Error('write made no progress'), { code: 'EIO', syscall: 'write' });
      total += n;
      let i = 0;
      while (i < batch.length && n >= batch[i]!.length) n -= batch[i++]!.length;
      list = list.slice(i);
      if (n > 0) list[0] = list[0]!.subarray(n);
    }
    return total;
  };
  const withSeq = (template: Buffer, offsets: number[], seq: number): Buffer => {
    const b = Buffer.from(template);
    for (const o of offsets) b.writeUInt32BE(seq, o);
    return b;
  };
  const crypt = (c: import('node:crypto').Cipher | import('node:crypto').Decipher, content: Buffer, out: Buffer[]) => {
    for (let i = 0; i < content.length; i += job.slice) out.push(c.update(content.subarray(i, i + job.slice)));
  };

  const sealBlock = (first: number, last: number) => {
    const length = (last - first) * fl + (last === job.frames ? job.finalLength : fl);
    if (readAt(length, job.inStart + (first - 1) * fl) !== length)
      throw Object.assign(new Error('the input file changed size while it was being sealed'), { changed: true });
    const parts: Buffer[] = [];
    for (let seq = first, p = 0; seq <= last; seq++) {
      const isFinal = seq === job.frames;
      const head = isFinal ? job.finalHeader : withSeq(job.regularHeader, job.headerSeqOffsets, seq);
      const aad = isFinal ? job.finalAad : withSeq(job.regularAad, [job.aadSeqOffset], seq);
      const content = inBuf.subarray(p, p + (isFinal ? job.finalLength : fl));
      const c = crypto.createCipheriv(job.cipher as 'aes-256-gcm', job.key, head.subarray(isFinal ? 8 : 4, isFinal ? 20 : 16));
      c.setAAD(aad);
      parts.push(head);
      crypt(c, content, parts);
      parts.push(c.final(), c.getAuthTag());
      p += content.length;
    }
    const wrote = writeAt(parts, job.outStart + (first - 1) * regular);
    return { read: length, wrote };
  };

  const unsealBlock = (first: number, last: number) => {
    const hasFinal = last === job.frames;
    const length = (last - first) * regular + (hasFinal ? 40 + job.finalLength : regular);
    if (readAt(length, job.inStart + (first - 1) * regular) !== length) return { anomaly: first, why: 'short read' };
    const clear: Buffer[] = [];
    for (let seq = first, p = 0; seq <= last; seq++) {
      let iv: Buffer, aad: Buffer, content: Buffer, tag: Buffer;
      if (seq !== job.frames) {
        if (inBuf.readUInt32BE(p) !== seq) return { anomaly: seq, why: 'sequence number' };
        iv = inBuf.subarray(p + 4, p + 16);
        aad = withSeq(job.regularAad, [job.aadSeqOffset], seq);
        content = inBuf.subarray(p + 16, p + 16 + fl);
        tag = inBuf.subarray(p + 16 + fl, p + regular);
        p += regular;
      } else {
        if (inBuf.readUInt32BE(p) !== 0xffffffff || inBuf.readUInt32BE(p + 4) !== seq || inBuf.readUInt32BE(p + 20) !== job.finalLength)
          return { anomaly: seq, why: 'final frame header' };
        iv = inBuf.subarray(p + 8, p + 20);
        aad = job.finalAad;
        content = inBuf.subarray(p + 24, p + 24 + job.finalLength);
        tag = inBuf.subarray(p + 24 + job.finalLength, p + 40 + job.finalLength);
      }
      const d = crypto.createDecipheriv(job.cipher as 'aes-256-gcm', job.key, iv);
      d.setAAD(aad);
      d.setAuthTag(tag);
      crypt(d, content, clear);
      try {
        clear.push(d.final());
      } catch {
        return { anomaly: seq, why: 'authentication' };
      }
    }
    // Every frame of the block verified: only now does its plaintext go out.
    const wrote = writeAt(clear, job.outStart + (first - 1) * fl);
    return { read: length, wrote };
  };

  let sinceCollect = 0;
  try {
    for (;;) {
      if (Atomics.load(ctl, 1) !== 0) break;
      const first = Atomics.add(ctl, 0, 1) * job.framesPerBlock + 1;
      if (first > job.frames) break;
      const last = Math.min(first + job.framesPerBlock - 1, job.frames);
      const r = seal ? sealBlock(first, last) : unsealBlock(first, last);
      if ('anomaly' in r) {
        Atomics.store(ctl, 1, 1);
        port.postMessage({ t: 'anomaly', seq: r.anomaly, why: r.why });
        break;
      }
      port.postMessage({ t: 'block', read: r.read, wrote: r.wrote });
      sinceCollect += r.read;
      if (collect && sinceCollect >= 2 * 1024 * 1024) {
        sinceCollect = 0;
        collect({ type: 'minor' });
      }
    }
  } catch (err) {
    Atomics.store(ctl, 1, 1);
    const e = err as NodeJS.ErrnoException & { changed?: boolean };
    port.postMessage({ t: 'error', message: e.message, code: e.changed ? 'ECHANGED' : e.code, syscall: e.syscall });
  } finally {
    if (seal) inBuf.fill(0);
  }
}

/** The worker's source: frameWorker called with the worker's require and its job. */
const WORKER_SOURCE = `"use strict";
var __name = function (f) { return f; };
(${frameWorker.toString()})(require, require("node:worker_threads").workerData);
`;

/** Worker threads for a run, or 0 when this machine has one core. */
export function parallelWorkers(): number {
  const n = Math.min(parallelTuning.maxWorkers, availableParallelism());
  return n >= 2 ? n : 0;
}

// While workers start, new V8 contexts get a `gc` function (--expose-gc), so each worker can take
// one for itself; the flag goes back off once every worker of every run has taken it. Not touched
// when the process was started with --expose-gc.
let exposing = 0;
function exposeGc(on: boolean): void {
  if (typeof (globalThis as { gc?: unknown }).gc === 'function') return;
  try {
    if (on) {
      if (exposing++ === 0) v8.setFlagsFromString('--expose-gc');
    } else if (--exposing === 0) v8.setFlagsFromString('--no-expose-gc');
  } catch {
    // Without it the workers run all the same, with a larger peak RSS.
  }
}

/** Frames per block: about 1 MiB of plaintext (at most 256 frames, at least one). */
export function framesPerBlock(frameLength: number): number {
  return Math.min(256, Math.max(1, Math.floor((1024 * 1024) / frameLength)));
}

/** The ESDK's frame key for a message, for the workers (never leaves this process). */
export function frameKey(
  material: NodeEncryptionMaterial | NodeDecryptionMaterial,
  messageId: Uint8Array,
  commitment?: Uint8Array,
): KeyObject {
  const { derivedKey } = nodeKdf(material, messageId, commitment);
  return derivedKey instanceof Uint8Array ? createSecretKey(derivedKey) : (derivedKey as unknown as KeyObject);
}

/**
 * Frame 1's header and AAD as templates, and the final frame's, from the ESDK's serialisers; throws
 * if writing a number into a template does not give what the ESDK gives for that number.
 */
export function frameTemplates(messageId: Uint8Array, frameLength: number, frames: number, finalLength: number) {
  const regularHeader = frameHeader(1, frameLength, false);
  const regularAad = frameAad(messageId, 1, frameLength, false);
  for (const seq of [2, 0x01020304, Math.max(1, frames - 1)]) {
    const h = Buffer.from(regularHeader);
    for (const o of HEADER_SEQ_OFFSETS) h.writeUInt32BE(seq, o);
    const a = Buffer.from(regularAad);
    a.writeUInt32BE(seq, aadSeqOffset(a));
    if (!h.equals(frameHeader(seq, frameLength, false)) || !a.equals(frameAad(messageId, seq, frameLength, false)))
      throw new Error('internal: the frame header or AAD layout is not the one the parallel path writes');
  }
  return {
    regularHeader,
    regularAad,
    finalHeader: frameHeader(frames, finalLength, true),
    finalAad: frameAad(messageId, frames, finalLength, true),
    headerSeqOffsets: HEADER_SEQ_OFFSETS,
    aadSeqOffset: aadSeqOffset(regularAad),
  };
}

/** The layout of an unsigned message's body of `bodyLength` bytes, or undefined if none fits. */
export function bodyLayout(bodyLength: number, frameLength: number): { frames: number; finalLength: number } | undefined {
  const regular = frameLength + REGULAR_OVERHEAD;
  if (bodyLength < FINAL_OVERHEAD) return undefined;
  const n = Math.floor((bodyLength - FINAL_OVERHEAD) / regular);
  const finalLength = bodyLength - FINAL_OVERHEAD - n * regular;
  if (finalLength > frameLength || n + 1 >= 0xffffffff) return undefined;
  return { frames: n + 1, finalLength };
}

export const fileSize = async (fd: number): Promise<number> => (await promisify(fstat)(fd)).size;
export const truncateFile = (fd: number, length: number): Promise<void> => promisify(ftruncate)(fd, length);
/** The first `length` bytes of a file (positional: the descriptor's offset does not move). */
export async function readHead(fd: number, length: number): Promise<Buffer> {
  const b = Buffer.alloc(length);
  const { bytesRead } = await promisify(read)(fd, b, 0, length, 0);
  return b.subarray(0, bytesRead);
}

export interface RunOptions {
  workers: number;
  signal?: AbortSignal;
  /** After each block: bytes read from the input and written to the output. */
  onBlock(read: number, wrote: number): void;
}

/**
 * Runs a job on `workers` threads. Resolves 'done' when every block went through, 'anomaly' when
 * an unseal worker found something the layout did not predict (the caller then reads the file the
 * one-thread way). Rejects with an I/O error (code and syscall kept, for mapError), a
 * CancelledError on abort, or an error with code ECHANGED when the input changed size under a seal.
 */
export async function runFrameJob(job: Omit<FrameJob, 'control' | 'slice'>, opts: RunOptions): Promise<'done' | 'anomaly'> {
  const control = new SharedArrayBuffer(8);
  const ctl = new Int32Array(control);
  const stop = () => Atomics.store(ctl, 1, 1);
  let anomaly = false;
  let failure: Error | undefined;
  const onAbort = () => stop();
  opts.signal?.addEventListener('abort', onAbort);
  exposeGc(true);
  let waiting = opts.workers;
  const taken = () => {
    if (--waiting === 0) exposeGc(false);
  };
  try {
    const full: FrameJob = { ...job, control, slice: 256 * 1024 };
    await Promise.all(
      Array.from(
        { length: opts.workers },
        () =>
          new Promise<void>((resolve) => {
            let ready = false;
            const w = new Worker(WORKER_SOURCE, { eval: true, workerData: full });
            w.on('message', (m: WorkerMessage) => {
              if (m.t === 'ready') {
                ready = true;
                taken();
              } else if (m.t === 'block') opts.onBlock(m.read, m.wrote);
              else if (m.t === 'anomaly') anomaly = true;
              else failure ??= Object.assign(new Error(m.message), { code: m.code, syscall: m.syscall });
            });
            w.on('error', (err) => {
              stop();
              failure ??= err;
            });
            w.on('exit', (code) => {
              if (!ready) taken();
              if (code !== 0) {
                stop();
                failure ??= new Error(`a worker thread exited with code ${code}`);
              }
              resolve();
            });
          }),
      ),
    );
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
  if (opts.signal?.aborted) throw new CancelledError();
  if (failure) throw failure;
  if (anomaly) {
    parallelStats.fallbacks++;
    return 'anomaly';
  }
  parallelStats.runs++;
  return 'done';
}
