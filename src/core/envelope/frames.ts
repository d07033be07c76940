/**
 * The framed body of a message: AES-256-GCM per frame over the IVs, frame headers and per-frame AAD
 * of @aws-crypto/serialize, with the cipher factory the ESDK derived for the message (HKDF-SHA512 over
 * the data key and message id). Sealing turns plaintext pieces into frame bytes; opening reads frames
 * from a ChunkReader and yields plaintext only after each frame's tag verified. No header, no KMS, no
 * files here (header.ts, message.ts, files.ts).
 *
 * Why not the stock encryptStream/decryptStream: measured on this machine they reach ~430 MiB/s at
 * 1 MiB frames against `age` at ~650 MiB/s (readable-stream plumbing, a setImmediate per chunk, many
 * small pushes). The bytes are the same; tests prove both directions against the stock ESDK.
 */
import type { GetCipher, GetDecipher } from '@aws-crypto/material-management-node';
import { ContentType, aadFactory, decodeBodyHeader, serializeFactory } from '@aws-crypto/serialize';
import { FORMAT_HINTS, formatError, throwIfAborted, usageError } from '../errors';
import { IV_LENGTH, TAG_LENGTH, buf, type ParsedHeader } from './header';
import type { ChunkReader } from './reader';

/** Sequence number field of a final frame's header ("end"). */
export const FINAL_SEQ = 0xffffffff;
/** Bytes before a regular frame's content: sequence number, IV. */
export const FRAME_HEADER_LENGTH = 4 + IV_LENGTH;
/** Bytes before a final frame's content: end marker, sequence number, IV, content length. */
export const FINAL_FRAME_HEADER_LENGTH = 4 + 4 + IV_LENGTH + 4;
/** AES-GCM update size: 256 KiB slices ran ~1.5 GB/s here, whole 1 MiB updates ~0.9 GB/s (cache). */
const CIPHER_SLICE = 256 * 1024;

const fromUtf8 = (s: string) => Buffer.from(s, 'utf8');
const serialize = serializeFactory(fromUtf8, { utf8Sorting: true });
const aad = aadFactory(fromUtf8);

/** The additional data GCM authenticates for one frame. */
export function frameAad(messageId: Uint8Array, seq: number, length: number, isFinalFrame: boolean): Buffer {
  const contentString = aad.messageAADContentString({ contentType: ContentType.FRAMED_DATA, isFinalFrame });
  return buf(aad.messageAAD(messageId, contentString, seq, length));
}

/** The IV of frame `seq` (its sequence number, big endian, right-aligned in 12 bytes). */
export const frameIv = (seq: number): Uint8Array => serialize.frameIv(IV_LENGTH, seq);

/** The bytes before a frame's content. */
export function frameHeader(seq: number, length: number, isFinal: boolean): Buffer {
  const iv = frameIv(seq);
  return buf(isFinal ? serialize.finalFrameHeader(seq, iv, length) : serialize.frameHeader(seq, iv));
}

/** Throws the usage error for a message that would need more frames than the format has numbers for. */
export function checkFrameCount(seq: number): void {
  if (seq >= FINAL_SEQ) throw usageError('Input too large for one message (more than 2^32 - 2 frames).', 'Use a larger frame length.');
}

/** Encrypts the frames of one message. */
export class FrameSealer {
  constructor(
    private readonly messageId: Uint8Array,
    private readonly getCipher: GetCipher,
  ) {}

  /** One frame given as plaintext pieces whose lengths sum to `length`: header, ciphertext, tag. */
  seal(seq: number, parts: Buffer[], length: number, isFinal: boolean): Buffer[] {
    checkFrameCount(seq);
    const cipher = this.getCipher(frameIv(seq));
    cipher.setAAD(frameAad(this.messageId, seq, length, isFinal));
    const out = [frameHeader(seq, length, isFinal)];
    for (const p of parts) for (let i = 0; i < p.length; i += CIPHER_SLICE) out.push(cipher.update(p.subarray(i, i + CIPHER_SLICE)));
    out.push(cipher.final(), cipher.getAuthTag());
    return out;
  }
}

/** The ESDK's signature verifier of a signing-suite message (fed the header already). */
export interface SignatureCheck {
  update(data: Buffer): unknown;
  awsCryptoVerify(signature: Buffer): boolean;
}

/**
 * Decrypts the framed body; yields plaintext only after each frame's tag verified. With `verify`
 * (signing suite), every body byte goes into the signature check, and the footer after the final
 * frame (uint16 length, DER ECDSA signature) must verify before the final frame's plaintext is yielded.
 */
export async function* readFrames(
  reader: ChunkReader,
  parsed: ParsedHeader,
  getDecipher: GetDecipher,
  signal?: AbortSignal,
  verify?: SignatureCheck,
): AsyncGenerator<Buffer> {
  const take = (n: number): Buffer[] => {
    const parts = reader.take(n);
    if (verify) for (const p of parts) verify.update(p);
    return parts;
  };
  const { messageId } = parsed.messageHeader;
  for (let seq = 1; ; seq++) {
    throwIfAborted(signal);
    await reader.fill(FINAL_FRAME_HEADER_LENGTH);
    let head: ReturnType<typeof decodeBodyHeader>;
    try {
      head = decodeBodyHeader(reader.peek(FINAL_FRAME_HEADER_LENGTH), parsed, 0);
    } catch (err) {
      throw formatError(frameHeaderProblem(err, seq), FORMAT_HINTS.modified, undefined, err);
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
    take(head.readPos);
    const d = getDecipher(head.iv);
    d.setAAD(frameAad(messageId, seq, head.contentLength, head.isFinalFrame));
    const clear: Buffer[] = [];
    for (let left = head.contentLength; left > 0;) {
      if (!(await reader.fill(1)))
        throw formatError(
          `truncated: the message ends inside frame ${seq} (${head.contentLength - left} of ${head.contentLength} bytes)`,
          FORMAT_HINTS.truncated,
        );
      for (const p of take(left)) {
        for (let i = 0; i < p.length; i += CIPHER_SLICE) clear.push(d.update(p.subarray(i, i + CIPHER_SLICE)));
        left -= p.length;
      }
    }
    if (!(await reader.fill(TAG_LENGTH)))
      throw formatError(`truncated: the message ends inside the tag of frame ${seq}`, FORMAT_HINTS.truncated);
    d.setAuthTag(Buffer.concat(take(TAG_LENGTH)));
    try {
      clear.push(d.final());
    } catch (err) {
      throw formatError(`frame ${seq} failed authentication: the body was modified`, FORMAT_HINTS.modified, undefined, err);
    }
    if (head.isFinalFrame && verify) await checkSignature(reader, verify);
    for (const c of clear) if (c.length) yield c;
    if (head.isFinalFrame) {
      if (await reader.fill(1))
        throw formatError(`unexpected data after the ${verify ? 'signature' : `final frame (frame ${seq})`}`, FORMAT_HINTS.trailing);
      return;
    }
  }
}

/** Reads the footer of a signing-suite message and checks its signature over header and body. */
async function checkSignature(reader: ChunkReader, verify: SignatureCheck): Promise<void> {
  if (!(await reader.fill(2))) throw formatError('truncated: the message ends before its signature', FORMAT_HINTS.truncated);
  const length = Buffer.concat(reader.take(2)).readUInt16BE(0);
  if (length === 0 || !(await reader.fill(length)))
    throw formatError(`truncated: the message ends inside its signature (${length} bytes announced)`, FORMAT_HINTS.truncated);
  let ok = false;
  try {
    ok = verify.awsCryptoVerify(Buffer.concat(reader.take(length)));
  } catch {
    ok = false;
  }
  if (!ok) throw formatError('the message signature (ECDSA P-384) does not verify: the message was modified', FORMAT_HINTS.modified);
}

/** A frame header the ESDK's decoder refused, in words (never the decoder's own text). */
function frameHeaderProblem(err: unknown, seq: number): string {
  const msg = err instanceof Error ? err.message : '';
  if (/sequenceNumber|sequence number/.test(msg)) return `malformed frame ${seq}: its sequence number is invalid`;
  if (/Final frame length exceeds/.test(msg)) return `malformed frame ${seq}: the final frame claims more bytes than the frame length`;
  return `malformed frame ${seq}: its header is corrupt`;
}
