/**
 * The AWS Encryption SDK message format v2 (key-committing, non-signing suite 0x0478), framed body.
 *
 * Why not the stock encryptStream/decryptStream for the body: measured on this machine they reach
 * ~430 MiB/s at 1 MiB frames against `age` at ~650 MiB/s (readable-stream plumbing, a setImmediate
 * per chunk, many small pushes). So this module writes and reads the BODY itself, while everything
 * that decides security comes from the ESDK:
 *  - data-key material from the stock CMM + keyrings (NodeDefaultCryptographicMaterialsManager);
 *  - key derivation (HKDF-SHA512 with the message id) and the key-commitment value/check from the
 *    ESDK's getEncryptHelper / getDecryptionHelper;
 *  - header build/serialise/parse, header-auth IV, frame IVs, frame headers and per-frame AAD from
 *    @aws-crypto/serialize.
 * What remains here is the loop: AES-256-GCM per frame over those IVs/AADs. Tests prove both
 * directions (stock decrypt opens ours, ours opens stock output, incl. empty and exact-multiple).
 */
import { randomBytes } from 'node:crypto';
import {
  AlgorithmSuiteIdentifier,
  CommitmentPolicy,
  NodeAlgorithmSuite,
  NodeDefaultCryptographicMaterialsManager,
  getDecryptionHelper,
  getEncryptHelper,
  type GetDecipher,
  type KeyringNode,
  type NodeDecryptionMaterial,
} from '@aws-crypto/material-management-node';
import {
  ContentType,
  MessageIdLength,
  aadFactory,
  decodeBodyHeader,
  deserializeFactory,
  serializeFactory,
  serializeMessageHeaderAuth,
  type HeaderInfo as EsdkHeaderInfo,
  type MessageHeaderV2,
} from '@aws-crypto/serialize';
import { FORMAT_HINTS, formatError, throwIfAborted, usageError } from '../errors';
import type { EncryptionContext } from '../kms/types';
import { describeEdk } from './recipients';
import { RESERVED_CONTEXT_PREFIX, compareUtf8, userContext } from './keyrings';
import type { HeaderInfo } from './types';

/** The only suite we write and read: AES-256-GCM, HKDF-SHA512, key commitment, no signature. */
export const SUITE_ID = AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY;
if (SUITE_ID !== 0x0478) throw new Error('Encryption SDK suite id changed: expected 0x0478.');
export const SUITE_NAME = 'ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY';
export const COMMITMENT_POLICY = CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT;
const SIGNING_SUITE_ID = AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY_ECDSA_P384;

/** Largest frame we read or write: a frame's plaintext is held until its tag verifies. */
export const MAX_FRAME_LENGTH = 64 * 1024 * 1024;
const IV_LENGTH = 12;
const TAG_LENGTH = 16;
const FINAL_SEQ = 0xffffffff;
/** AES-GCM update size: 256 KiB slices ran ~1.5 GB/s here, whole 1 MiB updates ~0.9 GB/s (cache). */
const CIPHER_SLICE = 256 * 1024;

const fromUtf8 = (s: string) => Buffer.from(s, 'utf8');
const toUtf8 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
const serialize = serializeFactory(fromUtf8, { utf8Sorting: true });
const deserialize = deserializeFactory(toUtf8, NodeAlgorithmSuite);
const aad = aadFactory(fromUtf8);

const buf = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

function frameAad(messageId: Uint8Array, seq: number, length: number, isFinalFrame: boolean): Buffer {
  const contentString = aad.messageAADContentString({ contentType: ContentType.FRAMED_DATA, isFinalFrame });
  return buf(aad.messageAAD(messageId, contentString, seq, length));
}

export function checkFrameLength(frameLength: number): void {
  if (!Number.isInteger(frameLength) || frameLength < 1 || frameLength > MAX_FRAME_LENGTH) {
    throw usageError(`Frame length ${frameLength} is out of range.`, `Use a whole number of bytes from 1 to ${MAX_FRAME_LENGTH}.`);
  }
}

export function checkSealContext(ctx: EncryptionContext): void {
  for (const [k, v] of Object.entries(ctx)) {
    if (k.startsWith(RESERVED_CONTEXT_PREFIX))
      throw usageError(
        `Context key "${k}" is reserved by the Encryption SDK.`,
        `Rename it; keys starting with "${RESERVED_CONTEXT_PREFIX}" are not allowed.`,
      );
    if (typeof v !== 'string') throw usageError(`Context value of "${k}" is not a string.`);
  }
}

/** Everything needed to write one message: the serialised header (+ auth) and a frame writer. */
export interface SealSession {
  header: Buffer;
  info: HeaderInfo;
  /** Encrypts one frame given as plaintext pieces whose lengths sum to `length`. */
  frame(seq: number, parts: Buffer[], length: number, isFinal: boolean): Buffer[];
  dispose(): void;
}

export async function openSealSession(keyring: KeyringNode, context: EncryptionContext, frameLength: number): Promise<SealSession> {
  const cmm = new NodeDefaultCryptographicMaterialsManager(keyring);
  const material = await cmm.getEncryptionMaterials({
    suite: new NodeAlgorithmSuite(SUITE_ID),
    encryptionContext: context,
    commitmentPolicy: COMMITMENT_POLICY,
  });
  const { getCipherInfo, dispose } = getEncryptHelper(material);
  try {
    if (material.suite.id !== SUITE_ID) throw new Error(`Encryption SDK chose suite 0x${material.suite.id.toString(16)}, expected 0x0478.`);
    const messageId = randomBytes(MessageIdLength.V2);
    const { getCipher, keyCommitment } = getCipherInfo(messageId);
    if (!keyCommitment) throw new Error('Encryption SDK returned no key commitment for a committing suite.');
    const messageHeader = serialize.buildMessageHeader({
      suite: material.suite,
      encryptedDataKeys: material.encryptedDataKeys,
      encryptionContext: material.encryptionContext,
      messageId,
      frameLength,
      suiteData: keyCommitment,
    });
    const rawHeader = buf(serialize.serializeMessageHeader(messageHeader));
    const headerIv = serialize.headerAuthIv(IV_LENGTH);
    const auth = getCipher(headerIv);
    auth.setAAD(rawHeader);
    auth.update(Buffer.alloc(0));
    auth.final();
    const headerAuth = buf(serializeMessageHeaderAuth({ headerIv, headerAuthTag: auth.getAuthTag(), messageHeader }));
    return {
      header: Buffer.concat([rawHeader, headerAuth]),
      info: headerInfoOf(messageHeader),
      dispose,
      frame(seq, parts, length, isFinal) {
        if (seq >= FINAL_SEQ)
          throw usageError('Input too large for one message (more than 2^32 - 2 frames).', 'Use a larger frame length.');
        const iv = serialize.frameIv(IV_LENGTH, seq);
        const head = buf(isFinal ? serialize.finalFrameHeader(seq, iv, length) : serialize.frameHeader(seq, iv));
        const cipher = getCipher(iv);
        cipher.setAAD(frameAad(messageId, seq, length, isFinal));
        const out = [head];
        for (const p of parts) for (let i = 0; i < p.length; i += CIPHER_SLICE) out.push(cipher.update(p.subarray(i, i + CIPHER_SLICE)));
        out.push(cipher.final(), cipher.getAuthTag());
        return out;
      },
    };
  } catch (err) {
    dispose();
    throw err;
  }
}

export function headerInfoOf(h: EsdkHeaderInfo['messageHeader']): HeaderInfo {
  return {
    version: h.version,
    suiteId: h.suiteId,
    suiteName: AlgorithmSuiteIdentifier[h.suiteId] ?? `0x${h.suiteId.toString(16)}`,
    frameLength: h.frameLength,
    messageId: buf(h.messageId).toString('hex'),
    context: userContext(h.encryptionContext),
    recipients: h.encryptedDataKeys.map((e) => describeEdk(e)),
  };
}

/**
 * Reads bytes from an async source on demand: small contiguous pieces (headers, tags) or a run of
 * pieces without copying (frame content).
 */
export class ChunkReader {
  private chunks: Buffer[] = [];
  private avail = 0;
  private ended = false;
  /** Bytes handed out so far. */
  consumed = 0;
  constructor(
    private readonly it: AsyncIterator<Buffer | Uint8Array | string>,
    private readonly onRead?: (total: number) => void,
  ) {}
  private read = 0;

  /** Pulls until at least n bytes are buffered; false if the source ends first. */
  async fill(n: number): Promise<boolean> {
    while (this.avail < n && !this.ended) {
      const r = await this.it.next();
      if (r.done) {
        this.ended = true;
        break;
      }
      const c = typeof r.value === 'string' ? Buffer.from(r.value) : Buffer.isBuffer(r.value) ? r.value : buf(r.value);
      if (c.length) {
        this.chunks.push(c);
        this.avail += c.length;
        this.read += c.length;
        this.onRead?.(this.read);
      }
    }
    return this.avail >= n;
  }
  get available(): number {
    return this.avail;
  }
  /** The first min(n, available) buffered bytes contiguous (maybe more), without consuming; copies only that prefix. */
  peek(n = Infinity): Buffer {
    const first = this.chunks[0];
    if (!first) return Buffer.alloc(0);
    if (first.length >= n || this.chunks.length === 1) return first;
    const want = Math.min(n, this.avail);
    const head = Buffer.concat(this.take(want), want);
    this.chunks.unshift(head);
    this.avail += want;
    this.consumed -= want;
    return head;
  }
  /** Consumes up to n buffered bytes as pieces. */
  take(n: number): Buffer[] {
    const out: Buffer[] = [];
    while (n > 0 && this.chunks.length) {
      const c = this.chunks[0]!;
      if (c.length <= n) {
        out.push(c);
        this.chunks.shift();
        n -= c.length;
        this.avail -= c.length;
        this.consumed += c.length;
      } else {
        out.push(c.subarray(0, n));
        this.chunks[0] = c.subarray(n);
        this.avail -= n;
        this.consumed += n;
        n = 0;
      }
    }
    return out;
  }
}

/** Largest header we buffer: context (64 KiB) plus EDKs (3 x 64 KiB each) for the EDK cap. */
const headerLimit = (maxRecipients: number) => 65_600 + maxRecipients * 3 * 65_600;

const HEADER_MESSAGES: Array<[RegExp, (b: Buffer) => string]> = [
  [
    /base64 encoded/,
    () => 'not a KMS Envelope blob: it looks like base64 text (armored blobs start with the armor prefix; dearmor them first)',
  ],
  [
    /Not a supported message format version|Malformed Header\.$/,
    (b) =>
      `not a KMS Envelope blob: the first byte is 0x${b[0]!.toString(16).padStart(2, '0')}, expected 0x02 (AWS Encryption SDK message format version 2)`,
  ],
  [
    /Unsupported algorithm suite/,
    (b) => `unsupported algorithm suite 0x${b.readUInt16BE(1).toString(16).padStart(4, '0')} (only 0x0478, ${SUITE_NAME}, is accepted)`,
  ],
  [/No EncryptedDataKey found/, () => 'malformed header: the blob lists no encrypted data keys'],
  [/Duplicate encryption context/, () => 'malformed header: the encryption context repeats a key'],
  [/Overflow, too much data|context parse error/, () => 'malformed header: the encryption context section is corrupt'],
];

/** Reads and parses the header (no KMS call). Format errors say what is wrong. */
export async function readHeader(reader: ChunkReader, maxRecipients: number): Promise<EsdkHeaderInfo> {
  const limit = headerLimit(maxRecipients);
  for (let want = 64; ;) {
    const complete = await reader.fill(want);
    const b = reader.peek();
    if (b.length === 0) throw formatError('empty input: not a KMS Envelope blob', FORMAT_HINTS.notBlob);
    if (b[0] === 1) throw formatError('message format version 1 (non-committing) is not supported', FORMAT_HINTS.unsupported);
    let parsed: EsdkHeaderInfo | false;
    try {
      parsed = deserialize.deserializeMessageHeader(b, { maxEncryptedDataKeys: maxRecipients });
    } catch (err) {
      const msg = (err as Error).message;
      if (/maxEncryptedDataKeys exceeded/.test(msg)) {
        const count = b.readUInt16BE(37 + b.readUInt16BE(35));
        throw formatError(
          `the blob lists ${count} encrypted data keys, more than the limit of ${maxRecipients}`,
          `kms-envelope tries at most ${maxRecipients} keys per blob, so a crafted blob cannot make it call a KMS many times: seal the plaintext again to fewer keys.`,
        );
      }
      const known = HEADER_MESSAGES.find(([re]) => re.test(msg));
      throw formatError(known ? known[1](b) : `malformed header: ${msg}`, FORMAT_HINTS.notBlob, undefined, err);
    }
    if (parsed) {
      const h = parsed.messageHeader;
      if (h.suiteId === SIGNING_SUITE_ID)
        throw formatError(
          'the blob uses the signing suite 0x0578, which kms-envelope does not open',
          'Open it with the AWS Encryption SDK CLI.',
        );
      if (h.suiteId !== SUITE_ID) throw formatError(`unsupported algorithm suite 0x${h.suiteId.toString(16)}`, FORMAT_HINTS.unsupported);
      if (h.contentType !== ContentType.FRAMED_DATA)
        throw formatError(`unsupported content type ${h.contentType}: only framed messages (type 2) are read`, FORMAT_HINTS.unsupported);
      if (h.frameLength < 1 || h.frameLength > MAX_FRAME_LENGTH)
        throw formatError(`frame length ${h.frameLength} in the header is out of range (1..${MAX_FRAME_LENGTH})`, FORMAT_HINTS.modified);
      reader.take(parsed.headerLength + parsed.headerAuth.headerAuthLength);
      return parsed;
    }
    if (!complete) throw formatError(`truncated: the message ends inside the header (after ${b.length} bytes)`, FORMAT_HINTS.truncated);
    if (b.length >= limit) throw formatError(`malformed header: no complete header within ${limit} bytes`, FORMAT_HINTS.notBlob);
    want = Math.min(limit, Math.max(want * 2, b.length + 1));
  }
}

/** Every k=v the caller requires must be in the header's context (checked before any KMS call). */
export function checkRequiredContext(header: EncryptionContext, required: EncryptionContext | undefined): void {
  for (const k of Object.keys(required ?? {}).sort(compareUtf8)) {
    const want = required![k];
    if (!(k in header))
      throw formatError(
        `encryption context mismatch: the blob has no "${k}" entry (expected ${k}=${want})`,
        'Check the --context values, or that this is the blob you meant.',
      );
    if (header[k] !== want)
      throw formatError(
        `encryption context mismatch: the blob has ${k}=${header[k]}, expected ${k}=${want}`,
        'Check the --context values, or that this is the blob you meant.',
      );
  }
}

/** Verifies key commitment and the header auth tag; returns the frame decipher factory. */
export function authenticateHeader(
  material: NodeDecryptionMaterial,
  parsed: EsdkHeaderInfo,
): { getDecipher: GetDecipher; dispose: () => void } {
  const { getDecipherInfo, dispose } = getDecryptionHelper(material);
  try {
    let getDecipher: GetDecipher;
    try {
      getDecipher = getDecipherInfo(parsed.messageHeader.messageId, (parsed.messageHeader as MessageHeaderV2).suiteData);
    } catch (err) {
      throw formatError(
        'key commitment check failed: the data key does not belong to this message (the header was modified)',
        FORMAT_HINTS.modified,
        undefined,
        err,
      );
    }
    try {
      const d = getDecipher(parsed.headerAuth.headerIv);
      d.setAAD(buf(parsed.rawHeader));
      d.setAuthTag(buf(parsed.headerAuth.headerAuthTag));
      d.update(Buffer.alloc(0));
      d.final();
    } catch (err) {
      throw formatError(
        'header authentication failed: the blob was modified or is not for this context',
        FORMAT_HINTS.modified,
        undefined,
        err,
      );
    }
    return { getDecipher, dispose };
  } catch (err) {
    dispose();
    throw err;
  }
}

/** Decrypts the framed body; yields plaintext only after each frame's tag verified. */
export async function* readFrames(
  reader: ChunkReader,
  parsed: EsdkHeaderInfo,
  getDecipher: GetDecipher,
  signal?: AbortSignal,
): AsyncGenerator<Buffer> {
  const { messageId } = parsed.messageHeader;
  for (let seq = 1; ; seq++) {
    throwIfAborted(signal);
    const headLength = 4 + 4 + IV_LENGTH + 4;
    await reader.fill(headLength);
    let head: ReturnType<typeof decodeBodyHeader>;
    try {
      head = decodeBodyHeader(reader.peek(headLength), parsed, 0);
    } catch (err) {
      throw formatError(`malformed frame ${seq}: ${(err as Error).message}`, FORMAT_HINTS.modified, undefined, err);
    }
    if (!head) {
      throw formatError(
        reader.available === 0
          ? `truncated: the message ends after frame ${seq - 1}, before its final frame`
          : `truncated: the message ends inside the header of frame ${seq}`,
        FORMAT_HINTS.truncated,
      );
    }
    if (head.sequenceNumber !== seq)
      throw formatError(
        `frame out of order: expected frame ${seq}, found ${head.sequenceNumber === FINAL_SEQ ? 'a bad final-frame marker' : head.sequenceNumber}`,
        FORMAT_HINTS.modified,
      );
    reader.take(head.readPos);
    const d = getDecipher(head.iv);
    d.setAAD(frameAad(messageId, seq, head.contentLength, head.isFinalFrame));
    const clear: Buffer[] = [];
    for (let left = head.contentLength; left > 0;) {
      if (!(await reader.fill(1)))
        throw formatError(
          `truncated: the message ends inside frame ${seq} (${head.contentLength - left} of ${head.contentLength} bytes)`,
          FORMAT_HINTS.truncated,
        );
      for (const p of reader.take(left)) {
        clear.push(d.update(p));
        left -= p.length;
      }
    }
    if (!(await reader.fill(TAG_LENGTH)))
      throw formatError(`truncated: the message ends inside the tag of frame ${seq}`, FORMAT_HINTS.truncated);
    d.setAuthTag(Buffer.concat(reader.take(TAG_LENGTH)));
    try {
      clear.push(d.final());
    } catch (err) {
      throw formatError(`frame ${seq} failed authentication: the body was modified`, FORMAT_HINTS.modified, undefined, err);
    }
    for (const c of clear) if (c.length) yield c;
    if (head.isFinalFrame) {
      if (await reader.fill(1)) throw formatError(`unexpected data after the final frame (frame ${seq})`, FORMAT_HINTS.trailing);
      return;
    }
  }
}
