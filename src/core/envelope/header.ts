/**
 * The message header of the AWS Encryption SDK message format v2 (key-committing suite 0x0478; the
 * signing suite 0x0578 the stock ESDK writes by default is read too), and nothing else: its limits, marshalling a header from its fields, parsing one from bytes
 * (with errors that say what is wrong, never a parser's internal text), and the plain-data view of it
 * (HeaderInfo). No I/O, no KMS, no body (frames.ts); how a header is read from a source and
 * authenticated with a data key is message.ts. Serialisation itself is the ESDK's @aws-crypto/serialize,
 * so the bytes are exactly what every Encryption SDK writes and reads (age's internal/format is the model).
 */
import {
  AlgorithmSuiteIdentifier,
  CommitmentPolicy,
  NodeAlgorithmSuite,
  type EncryptedDataKey,
} from '@aws-crypto/material-management-node';
import {
  ContentType,
  deserializeFactory,
  serializeFactory,
  serializeMessageHeaderAuth,
  type HeaderInfo as EsdkHeaderInfo,
  type MessageHeaderV2,
} from '@aws-crypto/serialize';
import { FORMAT_HINTS, formatError, usageError } from '../errors';
import type { EncryptionContext } from '../kms/types';
import { RESERVED_CONTEXT_PREFIX, compareUtf8, userContext } from './keyrings';
import { describeEdk } from './recipients';
import type { HeaderInfo } from './types';

/** The suite we write: AES-256-GCM, HKDF-SHA512, key commitment, no signature. */
export const SUITE_ID = AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY;
if (SUITE_ID !== 0x0478) throw new Error('Encryption SDK suite id changed: expected 0x0478.');
export const SUITE_NAME = 'ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY';
export const COMMITMENT_POLICY = CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT;
export const SIGNING_SUITE_ID = AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY_ECDSA_P384;

/** Largest frame we read or write: a frame's plaintext is held until its tag verifies. */
export const MAX_FRAME_LENGTH = 64 * 1024 * 1024;
export const IV_LENGTH = 12;
export const TAG_LENGTH = 16;
/**
 * The serialised encryption context (pair count, then uint16-length-prefixed keys and values) is
 * stored behind a uint16 length, so it holds at most 65,535 bytes.
 */
export const MAX_CONTEXT_BYTES = 0xffff;
/** Fixed part of a v2 header before the context: version, suite, message id, context length. */
const FIXED_PREFIX = 1 + 2 + 32 + 2;

const fromUtf8 = (s: string) => Buffer.from(s, 'utf8');
const toUtf8 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
const serialize = serializeFactory(fromUtf8, { utf8Sorting: true });
const deserialize = deserializeFactory(toUtf8, NodeAlgorithmSuite);

export const buf = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

/** A parsed header: the ESDK's view (fields, raw bytes, auth tag, lengths). */
export type ParsedHeader = EsdkHeaderInfo;

export function checkFrameLength(frameLength: number): void {
  if (!Number.isInteger(frameLength) || frameLength < 1 || frameLength > MAX_FRAME_LENGTH) {
    throw usageError(`Frame length ${frameLength} is out of range.`, `Use a whole number of bytes from 1 to ${MAX_FRAME_LENGTH}.`);
  }
}

/** Bytes the context takes in a header (0 when empty: the section is then left out). */
export function contextBytes(ctx: EncryptionContext): number {
  const keys = Object.keys(ctx);
  if (keys.length === 0) return 0;
  let n = 2;
  for (const k of keys) n += 4 + Buffer.byteLength(k, 'utf8') + Buffer.byteLength(ctx[k]!, 'utf8');
  return n;
}

const CONTEXT_HINT = 'The context is for short labels (env=prod, app=billing): keep large values in the sealed data instead.';

/**
 * A context fits the header's uint16-length section (what = how to name it in the message). Checked for
 * the caller's context before any KMS call and again for the whole context a header is made with, so an
 * oversized one is always a usage error, never the serialiser's "number out of bounds".
 */
export function checkContextSize(ctx: EncryptionContext, what = 'The encryption context', hint = CONTEXT_HINT): void {
  const size = contextBytes(ctx);
  if (size > MAX_CONTEXT_BYTES)
    throw usageError(`${what} takes ${size} bytes in the header, more than the format's limit of ${MAX_CONTEXT_BYTES} bytes.`, hint);
}

/** A context the caller asked to seal with: no reserved keys, string values, and it fits the header. */
export function checkSealContext(ctx: EncryptionContext): void {
  for (const [k, v] of Object.entries(ctx)) {
    if (k.startsWith(RESERVED_CONTEXT_PREFIX))
      throw usageError(
        `Context key "${k}" is reserved by the Encryption SDK.`,
        `Rename it; keys starting with "${RESERVED_CONTEXT_PREFIX}" are not allowed.`,
      );
    if (typeof v !== 'string') throw usageError(`Context value of "${k}" is not a string.`);
  }
  checkContextSize(ctx);
}

/** Every k=v the caller requires must be in the header's context (checked before any KMS call). */
export function checkRequiredContext(header: EncryptionContext, required: EncryptionContext | undefined): void {
  for (const k of Object.keys(required ?? {}).sort(compareUtf8)) {
    const want = required![k];
    if (!(k in header))
      throw formatError(
        `encryption context mismatch: the blob has no "${k}" entry (expected ${k}=${want})`,
        'Check the encryption context, or that this is the blob you meant.',
      );
    if (header[k] !== want)
      throw formatError(
        `encryption context mismatch: the blob has ${k}=${header[k]}, expected ${k}=${want}`,
        'Check the encryption context, or that this is the blob you meant.',
      );
  }
}

/** The fields a header is made of; `commitment` is the suite data (key commitment) for `messageId`. */
export interface HeaderFields {
  encryptedDataKeys: readonly EncryptedDataKey[];
  encryptionContext: EncryptionContext;
  messageId: Uint8Array;
  frameLength: number;
  commitment: Uint8Array;
}

/** Serialises a header (without its auth section). */
export function marshalHeader(f: HeaderFields): { messageHeader: MessageHeaderV2; bytes: Buffer } {
  checkContextSize(f.encryptionContext);
  const messageHeader = serialize.buildMessageHeader({
    suite: new NodeAlgorithmSuite(SUITE_ID),
    encryptedDataKeys: f.encryptedDataKeys,
    encryptionContext: f.encryptionContext,
    messageId: f.messageId,
    frameLength: f.frameLength,
    suiteData: f.commitment,
  }) as MessageHeaderV2;
  return { messageHeader, bytes: buf(serialize.serializeMessageHeader(messageHeader)) };
}

/** The header auth IV (all zero in v2: the derived key is unique per message). */
export const headerAuthIv = (): Uint8Array => serialize.headerAuthIv(IV_LENGTH);

/** Serialises the header auth section that follows the header. */
export function marshalHeaderAuth(messageHeader: MessageHeaderV2, headerIv: Uint8Array, headerAuthTag: Uint8Array): Buffer {
  return buf(serializeMessageHeaderAuth({ headerIv, headerAuthTag, messageHeader }));
}

/** Largest header we buffer: context (64 KiB) plus EDKs (3 x 64 KiB each) for the EDK cap. */
export const headerLimit = (maxRecipients: number) => 65_600 + maxRecipients * 3 * 65_600;

const hex = (n: number, width: number) => `0x${n.toString(16).padStart(width, '0')}`;

/** ESDK parser messages → what is wrong, in words; anything else gets a generic text (never the parser's own). */
const HEADER_MESSAGES: Array<[RegExp, (b: Buffer) => string]> = [
  [
    /base64 encoded/,
    () => 'not a KMS Envelope blob: it looks like base64 text (armored blobs start with the armor prefix; dearmor them first)',
  ],
  [
    /Not a supported message format version|Malformed Header\.$/,
    (b) => `not a KMS Envelope blob: the first byte is ${hex(b[0]!, 2)}, expected 0x02 (AWS Encryption SDK message format version 2)`,
  ],
  [
    /Unsupported algorithm suite/,
    (b) => `unsupported algorithm suite ${hex(b.readUInt16BE(1), 4)} (only 0x0478, ${SUITE_NAME}, is accepted)`,
  ],
  [/No EncryptedDataKey found/, () => 'malformed header: the blob lists no encrypted data keys'],
  [/Malformed encrypted data key/, () => 'malformed header: an encrypted data key entry is corrupt'],
  [/Duplicate encryption context/, () => 'malformed header: the encryption context repeats a key'],
  [/Overflow, too much data|context parse error/, () => 'malformed header: the encryption context section is corrupt'],
];

/** Where a header that the parser rejected for an unlisted reason went wrong, as far as we can tell. */
function unknownHeaderProblem(b: Buffer): string {
  if (b.length >= FIXED_PREFIX) {
    const contextLength = b.readUInt16BE(FIXED_PREFIX - 2);
    if (contextLength > 0 && contextLength < 2) return 'malformed header: the encryption context section is corrupt';
    if (b.length < FIXED_PREFIX + contextLength + 2) return 'malformed header: the encrypted data key section is corrupt';
  }
  return 'malformed header: its fields do not fit together';
}

/**
 * Parses a header from the start of `b`. Returns undefined when `b` ends before the header does
 * (read more and call again); throws a format error when the bytes cannot be a header we open.
 */
export function parseHeader(b: Buffer, maxRecipients: number): ParsedHeader | undefined {
  // A message's signature follows its body (frames.ts verifies it), so the signing suite is read here.
  const parsed = parseHeaderFields(b, maxRecipients, { signed: true });
  if (!parsed) return undefined;
  const h = parsed.messageHeader;
  if (h.contentType !== ContentType.FRAMED_DATA)
    throw formatError(`unsupported content type ${h.contentType}: only framed messages (type 2) are read`, FORMAT_HINTS.unsupported);
  if (h.frameLength < 1 || h.frameLength > MAX_FRAME_LENGTH)
    throw formatError(`frame length ${h.frameLength} in the header is out of range (1..${MAX_FRAME_LENGTH})`, FORMAT_HINTS.modified);
  return parsed;
}

/**
 * parseHeader without the checks that concern a body (content type, frame length): for a header that
 * stands alone, as the header entry of a file of sealed values does (src/core/values).
 */
export function parseHeaderFields(b: Buffer, maxRecipients: number, opts: { signed?: boolean } = {}): ParsedHeader | undefined {
  if (b.length === 0) return undefined;
  if (b[0] === 1) throw formatError('message format version 1 (non-committing) is not supported', FORMAT_HINTS.unsupported);
  let parsed: ParsedHeader | false;
  try {
    parsed = deserialize.deserializeMessageHeader(b, { maxEncryptedDataKeys: maxRecipients });
  } catch (err) {
    const msg = err instanceof Error ? err.message : '';
    if (/maxEncryptedDataKeys exceeded/.test(msg)) {
      const count = b.readUInt16BE(FIXED_PREFIX + b.readUInt16BE(FIXED_PREFIX - 2));
      throw formatError(
        `the blob lists ${count} encrypted data keys, more than the limit of ${maxRecipients}`,
        `kms-envelope tries at most ${maxRecipients} keys per blob, so a crafted blob cannot make it call a KMS many times: seal the plaintext again to fewer keys.`,
      );
    }
    const known = HEADER_MESSAGES.find(([re]) => re.test(msg));
    throw formatError(known ? known[1](b) : unknownHeaderProblem(b), FORMAT_HINTS.notBlob, undefined, err);
  }
  if (!parsed) return undefined;
  const h = parsed.messageHeader;
  if (h.suiteId === SIGNING_SUITE_ID && opts.signed) return parsed;
  if (h.suiteId === SIGNING_SUITE_ID)
    throw formatError(
      'a header of the signing suite 0x0578 stands alone here, without the body its signature covers',
      'Open it with the AWS Encryption SDK CLI.',
    );
  if (h.suiteId !== SUITE_ID) throw formatError(`unsupported algorithm suite ${hex(h.suiteId, 4)}`, FORMAT_HINTS.unsupported);
  return parsed;
}

/** Bytes the header and its auth section take at the start of the message. */
export const headerBytes = (p: ParsedHeader) => p.headerLength + p.headerAuth.headerAuthLength;

/** The plain-data view of a header (what inspect shows). */
export function headerInfoOf(h: ParsedHeader['messageHeader']): HeaderInfo {
  return {
    version: h.version,
    suiteId: h.suiteId,
    suiteName: AlgorithmSuiteIdentifier[h.suiteId] ?? hex(h.suiteId, 4),
    frameLength: h.frameLength,
    messageId: buf(h.messageId).toString('hex'),
    context: userContext(h.encryptionContext),
    recipients: h.encryptedDataKeys.map((e) => describeEdk(e)),
  };
}
