/**
 * One message from keys to frames and back (age's age.go is the model): seal asks the keyrings for
 * data-key material through the stock CMM, writes the header (header.ts) and authenticates it, and
 * hands out a FrameSealer; unseal reads and parses the header from a source, checks the required
 * context, asks the keyrings for the data key (one KMS call), verifies key commitment and the header
 * tag, and hands out the frame reader (frames.ts). Messages of the signing suite 0x0578 (what the stock
 * ESDK writes by default) are read too: the frame reader then checks the ECDSA P-384 signature at
 * the end, before the last frame's plaintext is handed out. Buffers, streams and files build on these
 * (engine.ts, files.ts).
 *
 * What decides security comes from the ESDK: data-key material from NodeDefaultCryptographicMaterialsManager
 * + keyrings, key derivation and the key-commitment value/check from getEncryptHelper /
 * getDecryptionHelper, header and frame serialisation from @aws-crypto/serialize.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import {
  NodeAlgorithmSuite,
  NodeDefaultCryptographicMaterialsManager,
  getDecryptionHelper,
  getEncryptHelper,
  type GetDecipher,
  type NodeDecryptionMaterial,
  type NodeMaterialsManager,
} from '@aws-crypto/material-management-node';
import { ContentType, MessageIdLength, type MessageHeaderV2 } from '@aws-crypto/serialize';
import { CancelledError, FORMAT_HINTS, KmsEnvelopeError, formatError, isCancelled, throwIfAborted, usageError } from '../errors';
import type { EncryptionContext } from '../kms/types';
import { escapeControls } from '../paths';
import { FrameSealer, readFrames, type SignatureCheck } from './frames';
import { frameKey } from './parallel';
import {
  COMMITMENT_POLICY,
  SIGNING_SUITE_ID,
  SUITE_ID,
  buf,
  checkFrameLength,
  checkRequiredContext,
  checkSealContext,
  headerAuthIv,
  headerBytes,
  headerInfoOf,
  headerLimit,
  marshalHeader,
  marshalHeaderAuth,
  parseHeader,
  type ParsedHeader,
} from './header';
import { UnsealKeyring, sealKeyring, userContext } from './keyrings';
import { ChunkReader } from './reader';
import type { HeaderInfo, SealOptions, UnsealOptions } from './types';

/** The context key that carries a signing suite's public key (the ESDK's reserved name). */
const PUBLIC_KEY_CONTEXT = 'aws-crypto-public-key';

/**
 * Plaintext bytes per frame, chosen by measurement (seal/unseal of 256 MiB in memory, best of 3,
 * 2-core VM): 4 KiB 202/248 MiB/s, 64 KiB 636/648, 256 KiB 782/854, 1 MiB 819/758, 4 MiB 665/505.
 * 1 MiB is at the top with 256 KiB, keeps per-frame overhead at 28 bytes per MiB, and bounds what
 * unseal holds before a tag verifies to 1 MiB. (The stock ESDK default, 4 KiB, is ~4x slower.)
 */
export const DEFAULT_FRAME_LENGTH = 1024 * 1024;
export const DEFAULT_MAX_RECIPIENTS = 10;

export type Source = AsyncIterable<Buffer | Uint8Array | string>;

/** Maps stream/ESDK failures onto KmsEnvelopeError; cancellation wins over whatever it caused. */
export function mapError(err: unknown, signal: AbortSignal | undefined, what: 'seal' | 'unseal'): KmsEnvelopeError {
  if (signal?.aborted || isCancelled(err)) return err instanceof CancelledError ? err : new CancelledError();
  if (err instanceof KmsEnvelopeError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e?.code && typeof e.syscall === 'string') {
    return new KmsEnvelopeError('io', `${what === 'seal' ? 'Sealing' : 'Unsealing'} failed: ${escapeControls(e.message)}`, {
      hint: 'Check the path, free space and permissions.',
      details: { file: e.path },
      cause: err,
    });
  }
  if (what === 'unseal') return formatError('cannot open the blob: it is not a well-formed message', FORMAT_HINTS.notBlob, undefined, err);
  return new KmsEnvelopeError('provider', `Sealing failed: ${e?.message ?? String(err)}`, { cause: err });
}

/** Everything needed to write one message: the serialised header (+ auth) and the frame sealer. */
export interface SealSession {
  header: Buffer;
  info: HeaderInfo;
  frames: FrameSealer;
  frameLength: number;
  messageId: Buffer;
  /** The suite's cipher (aes-256-gcm). */
  cipher: string;
  /** The ESDK's frame key, for worker threads (parallel.ts); before dispose(). */
  workerKey(): KeyObject;
  dispose(): void;
}

/** Checks the options, gets the data key from the recipients' keyrings and writes the header. */
export async function openSealSession(opts: SealOptions): Promise<SealSession> {
  throwIfAborted(opts.signal);
  if (!opts.recipients?.length && !opts.materials)
    throw usageError('No recipient key given.', 'Name at least one key to seal with: <provider>:<region>:<keyId-or-alias>.');
  const frameLength = opts.frameLength ?? DEFAULT_FRAME_LENGTH;
  checkFrameLength(frameLength);
  const context = userContext(opts.context);
  checkSealContext(opts.context ?? {});
  const cmm = opts.materials ?? new NodeDefaultCryptographicMaterialsManager(await sealKeyring(opts.recipients, opts.signal));
  return sealSessionFor(cmm, context, frameLength, opts.plaintextLength);
}

async function sealSessionFor(
  cmm: NodeMaterialsManager,
  context: EncryptionContext,
  frameLength: number,
  plaintextLength: number | undefined,
): Promise<SealSession> {
  const material = await cmm.getEncryptionMaterials({
    suite: new NodeAlgorithmSuite(SUITE_ID),
    encryptionContext: context,
    commitmentPolicy: COMMITMENT_POLICY,
    ...(plaintextLength !== undefined ? { plaintextLength } : {}),
  });
  const { getCipherInfo, dispose } = getEncryptHelper(material);
  try {
    if (material.suite.id !== SUITE_ID) throw new Error(`Encryption SDK chose suite 0x${material.suite.id.toString(16)}, expected 0x0478.`);
    const messageId = randomBytes(MessageIdLength.V2);
    const { getCipher, keyCommitment } = getCipherInfo(messageId);
    if (!keyCommitment) throw new Error('Encryption SDK returned no key commitment for a committing suite.');
    const { messageHeader, bytes } = marshalHeader({
      encryptedDataKeys: material.encryptedDataKeys,
      encryptionContext: material.encryptionContext,
      messageId,
      frameLength,
      commitment: keyCommitment,
    });
    const headerIv = headerAuthIv();
    const auth = getCipher(headerIv);
    auth.setAAD(bytes);
    auth.update(Buffer.alloc(0));
    auth.final();
    return {
      header: Buffer.concat([bytes, marshalHeaderAuth(messageHeader, headerIv, auth.getAuthTag())]),
      info: headerInfoOf(messageHeader),
      frames: new FrameSealer(messageId, getCipher),
      frameLength,
      messageId,
      cipher: material.suite.encryption,
      workerKey: () => frameKey(material, messageId),
      dispose,
    };
  } catch (err) {
    dispose();
    throw err;
  }
}

/** Reads and parses the header (no KMS call). Format errors say what is wrong. */
export async function readHeader(reader: ChunkReader, maxRecipients: number): Promise<ParsedHeader> {
  const limit = headerLimit(maxRecipients);
  for (let want = 64; ;) {
    const complete = await reader.fill(want);
    const b = reader.peek();
    if (b.length === 0) throw formatError('empty input: not a KMS Envelope blob', FORMAT_HINTS.notBlob);
    const parsed = parseHeader(b, maxRecipients);
    if (parsed) {
      reader.take(headerBytes(parsed));
      return parsed;
    }
    if (!complete) throw formatError(`truncated: the message ends inside the header (after ${b.length} bytes)`, FORMAT_HINTS.truncated);
    if (b.length >= limit) throw formatError(`malformed header: no complete header within ${limit} bytes`, FORMAT_HINTS.notBlob);
    want = Math.min(limit, Math.max(want * 2, b.length + 1));
  }
}

/** Verifies key commitment and the header auth tag; returns the frame decipher factory. */
export function authenticateHeader(
  material: NodeDecryptionMaterial,
  parsed: ParsedHeader,
): { getDecipher: GetDecipher; dispose: () => void; verify?: SignatureCheck; workerKey: () => KeyObject } {
  const { getDecipherInfo, getVerify, dispose } = getDecryptionHelper(material);
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
    const workerKey = () => frameKey(material, parsed.messageHeader.messageId, (parsed.messageHeader as MessageHeaderV2).suiteData);
    if (!getVerify) return { getDecipher, dispose, workerKey };
    // Signing suite: the signature covers the header as written (v2: the header, then its auth tag) and the body.
    const verify = getVerify();
    verify.update(buf(parsed.rawHeader));
    verify.update(buf(parsed.headerAuth.headerAuthTag));
    return { getDecipher, dispose, verify, workerKey };
  } catch (err) {
    dispose();
    throw err;
  }
}

/** A message being read: its header, and its plaintext frame by frame. */
export interface OpenedMessage {
  info: HeaderInfo;
  body: AsyncGenerator<Buffer>;
  /** What the parallel file path (parallel.ts) needs to read the body without `body` (openMessage sets it). */
  layout?: BodyLayout;
  dispose(): void;
}

export interface BodyLayout {
  /** Bytes of the source before the body (the header and its auth tag). */
  headerLength: number;
  /** The header as it was read (its first bytes are the source's). */
  rawHeader: Buffer;
  frameLength: number;
  messageId: Buffer;
  /** Framed and unsigned (suite 0x0478): the only kind the parallel path reads. */
  plainFramed: boolean;
  cipher: string;
  /** The ESDK's frame key; before dispose(). */
  workerKey(): KeyObject;
}

/**
 * Where the body is read from once the header is parsed: given the bytes already read past the
 * header, the chunks that follow them (unsealToFile reads a file's body into reused buffers).
 */
export type BodySource = (rest: Buffer) => AsyncIterator<Buffer>;

export function checkMaxRecipients(opts: { maxRecipients?: number }): number {
  const maxRecipients = opts.maxRecipients ?? DEFAULT_MAX_RECIPIENTS;
  if (!Number.isInteger(maxRecipients) || maxRecipients < 1 || maxRecipients > 65535)
    throw usageError(`maxRecipients ${maxRecipients} is out of range (1..65535).`);
  return maxRecipients;
}

/** Reads the header from `source`, unwraps the data key (one KMS call) and authenticates the header. */
export async function openMessage(source: Source, opts: UnsealOptions, bodySource?: BodySource): Promise<OpenedMessage> {
  throwIfAborted(opts.signal);
  const maxRecipients = checkMaxRecipients(opts);
  const reader = new ChunkReader(source[Symbol.asyncIterator](), opts.onProgress);
  const parsed = await readHeader(reader, maxRecipients);
  const info = headerInfoOf(parsed.messageHeader);
  checkRequiredContext(info.context, opts.context);
  const { suiteId, encryptionContext, encryptedDataKeys } = parsed.messageHeader;
  if (suiteId === SIGNING_SUITE_ID && !encryptionContext[PUBLIC_KEY_CONTEXT])
    throw formatError(
      'the blob claims the signing suite 0x0578 but carries no public key to check its signature: the header was modified',
      FORMAT_HINTS.modified,
    );
  const cmm = opts.materials ?? new NodeDefaultCryptographicMaterialsManager(new UnsealKeyring(opts.resolve, opts.signal));
  let material: NodeDecryptionMaterial;
  try {
    material = await cmm.decryptMaterials({ suite: new NodeAlgorithmSuite(suiteId), encryptionContext, encryptedDataKeys });
  } catch (err) {
    throw mapError(err, opts.signal, 'unseal');
  }
  const { getDecipher, dispose, verify, workerKey } = authenticateHeader(material, parsed);
  const headerLength = reader.consumed;
  const { messageHeader } = parsed;
  const layout: BodyLayout = {
    headerLength,
    rawHeader: buf(parsed.rawHeader),
    frameLength: messageHeader.frameLength,
    messageId: buf(messageHeader.messageId),
    plainFramed: !verify && messageHeader.contentType === ContentType.FRAMED_DATA && suiteId === SUITE_ID,
    cipher: material.suite.encryption,
    workerKey,
  };
  let bodyReader = reader;
  if (bodySource) {
    // The header (and what it references) stays in the header reader's own buffers.
    const rest = Buffer.concat(reader.take(reader.available));
    const before = reader.consumed - rest.length;
    const { onProgress } = opts;
    bodyReader = new ChunkReader(bodySource(rest), onProgress && ((n) => onProgress(before + n)));
  }
  return { info, body: readFrames(bodyReader, parsed, getDecipher, opts.signal, verify), layout, dispose };
}
