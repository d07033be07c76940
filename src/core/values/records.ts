/**
 * The cryptography of a file whose values are sealed by policy: one header entry per file, one short
 * record per value. Everything that decides security comes from the AWS Encryption SDK; what is ours
 * is only where the pieces are written (README "Blob format", "Sealed config files").
 *
 * Header entry  `kmsenv:h1:` + base64( ESDK v2 message header ‖ header auth tag )
 *   An Encryption SDK message header, suite 0x0478 (AES-256-GCM, HKDF-SHA512, key commitment), built,
 *   serialised and authenticated by @aws-crypto: the encrypted data keys (one per recipient, exactly as
 *   in a sealed file), the encryption context (the policy's, plus `kmsenv:file-id`), a fresh message id,
 *   the key commitment, content type 2 and frame length 0 (no ESDK body follows: the values are the
 *   body). Opening it is one KMS Decrypt, the ESDK's commitment check and header-auth check.
 *
 * Value key     the key the ESDK derives for a message whose message id is the file id:
 *   HKDF-SHA512(ikm = data key, salt = file id, info = 0x0478 ‖ "DERIVEKEY", 32 bytes), with the ESDK's
 *   commitment (info "COMMITKEY") checked on the way (getEncryptHelper / getDecryptionHelper).
 *   The file id (32 random bytes, base64url in the context entry `kmsenv:file-id`) is chosen once per
 *   file and kept when the header is re-wrapped; the message id is new for every header written, so a
 *   header auth tag is never computed twice under one key and IV. That is why the value key does not
 *   use the message id: re-wrapping (other keys, an added recipient, another context) writes a new
 *   header line and leaves every value record as it is.
 *
 * Value record  `kmsenv:f1:` + base64( IV (12 random bytes) ‖ AES-256-GCM ciphertext ‖ tag (16) )
 *   under the value key; AAD = the encryption context { "kmsenv:path": <key path> } serialised as the
 *   ESDK writes one into a header (uint16 length of what follows, uint16 count = 1, uint16 key length,
 *   key, uint16 value length, value; UTF-8, big-endian). A record moved or copied to another key path fails authentication; one from another
 *   file fails because its value key differs. A 16-byte value is a 70-character token.
 */
import { randomBytes } from 'node:crypto';
import {
  KeyringTraceFlag,
  NodeAlgorithmSuite,
  NodeDecryptionMaterial,
  NodeDefaultCryptographicMaterialsManager,
  NodeEncryptionMaterial,
  getDecryptionHelper,
  getEncryptHelper,
  unwrapDataKey,
  type EncryptedDataKey,
  type GetCipher,
  type GetDecipher,
  type NodeDecryptionMaterial as DecryptionMaterial,
} from '@aws-crypto/material-management-node';
import { MessageIdLength, serializeFactory } from '@aws-crypto/serialize';
import { FORMAT_HINTS, KmsEnvelopeError, formatError, throwIfAborted, usageError } from '../errors';
import {
  checkContextSize,
  COMMITMENT_POLICY,
  IV_LENGTH,
  SUITE_ID,
  TAG_LENGTH,
  buf,
  checkRequiredContext,
  checkSealContext,
  headerAuthIv,
  headerBytes,
  headerInfoOf,
  marshalHeader,
  marshalHeaderAuth,
  parseHeaderFields,
} from '../envelope/header';
import { UnsealKeyring, sealKeyring, userContext } from '../envelope/keyrings';
import { DEFAULT_MAX_RECIPIENTS, authenticateHeader, mapError } from '../envelope/message';
import { rewrapMaterial, type RewrapPlan } from '../envelope/rewrap';
import type { HeaderInfo, ProviderResolver, Recipient } from '../envelope/types';
import type { EncryptionContext } from '../kms/types';
import { escapeControls } from '../paths';
import { FILE_ID_KEY, HEADER_PREFIX, PATH_KEY, RECORD_PREFIX, RESERVED_VALUES_PREFIX } from './constants';

const FILE_ID_LENGTH = MessageIdLength.V2;
const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const serialize = serializeFactory((s: string) => Buffer.from(s, 'utf8'), { utf8Sorting: true });
const suite = () => new NodeAlgorithmSuite(SUITE_ID);

/**
 * Longest key path (UTF-8 bytes) a record can be bound to: its AAD is the context { "kmsenv:path": path },
 * serialised with uint16 lengths (2 + 2 + 11 + 2 + path ≤ 65,535).
 */
export const MAX_PATH_BYTES = 0xffff - 2 - 2 - Buffer.byteLength(PATH_KEY) - 2;

/** A record's AAD: { "kmsenv:path": path } as the ESDK writes an encryption context into a header. */
export function recordAad(path: string): Buffer {
  const n = Buffer.byteLength(path, 'utf8');
  if (n > MAX_PATH_BYTES) {
    const shown = escapeControls(path.length > 40 ? `${path.slice(0, 40)}…` : path);
    throw usageError(
      `The key path ${shown} is ${n} bytes long; a sealed value is bound to its key path, which can be at most ${MAX_PATH_BYTES} bytes.`,
      'Shorten the key (or its parents), or leave that value out of the policy rule.',
    );
  }
  return buf(serialize.serializeEncryptionContext({ [PATH_KEY]: path }));
}

/** The header context of a file of values: the rule's context and kms-envelope's file id, checked to fit. */
function withFileId(context: EncryptionContext | undefined, fileId: string): EncryptionContext {
  const ctx = { ...valuesContext(context), [FILE_ID_KEY]: fileId };
  checkContextSize(ctx, `The encryption context (the policy rule's context with kms-envelope's own ${FILE_ID_KEY} entry)`);
  return ctx;
}

function decodeToken(token: string, prefix: string, what: string): Buffer {
  const body = token.trim().slice(prefix.length);
  if (!token.trim().startsWith(prefix) || !body || !B64.test(body)) {
    throw formatError(
      `${what} is not valid: expected ${prefix} followed by base64`,
      body.length % 4 ? FORMAT_HINTS.truncated : FORMAT_HINTS.modified,
    );
  }
  return Buffer.from(body, 'base64');
}

/** The data key of a file: seals and opens its value records; makes or re-wraps its header. */
export class FileKey {
  private disposed = false;
  /** The header's encrypted data keys, in header order (kept byte for byte by rewrapKeeping). */
  encryptedDataKeys: readonly EncryptedDataKey[] = [];

  private constructor(
    /** The header entry's token (`kmsenv:h1:…`). */
    readonly header: string,
    readonly info: HeaderInfo,
    private readonly material: NodeEncryptionMaterial,
    private readonly decryption: NodeDecryptionMaterial,
    private readonly cipher: GetCipher,
    private readonly decipher: GetDecipher,
  ) {}

  /** A new data key for the recipients: one GenerateDataKey (first recipient) + one Encrypt per further recipient. */
  static async create(recipients: Recipient[], context: EncryptionContext | undefined, signal?: AbortSignal): Promise<FileKey> {
    throwIfAborted(signal);
    if (!recipients.length) throw usageError('No recipient key given.', 'List at least one keyref under keys: in the policy rule.');
    const ctx = withFileId(context, randomBytes(FILE_ID_LENGTH).toString('base64url'));
    try {
      const cmm = new NodeDefaultCryptographicMaterialsManager(await sealKeyring(recipients, signal));
      const material = await cmm.getEncryptionMaterials({ suite: suite(), encryptionContext: ctx, commitmentPolicy: COMMITMENT_POLICY });
      const key = FileKey.fromMaterial(material);
      key.encryptedDataKeys = material.encryptedDataKeys;
      return key;
    } catch (err) {
      throw mapError(err, signal, 'seal');
    }
  }

  /** Opens a header entry: one KMS Decrypt (the first recipient this machine reaches), commitment and header auth checked. */
  static async open(
    token: string,
    opts: { resolve: ProviderResolver; context?: EncryptionContext; signal?: AbortSignal; maxRecipients?: number },
  ): Promise<FileKey> {
    throwIfAborted(opts.signal);
    const { bytes, parsed, info } = parseHeader(token, opts.maxRecipients);
    checkRequiredContext(info.context, opts.context);
    const { encryptionContext, encryptedDataKeys } = parsed.messageHeader;
    let decrypted: DecryptionMaterial;
    try {
      const cmm = new NodeDefaultCryptographicMaterialsManager(new UnsealKeyring(opts.resolve, opts.signal));
      decrypted = await cmm.decryptMaterials({ suite: suite(), encryptionContext, encryptedDataKeys });
    } catch (err) {
      throw mapError(err, opts.signal, 'unseal');
    }
    const { dispose } = authenticateHeader(decrypted, parsed);
    try {
      const material = new NodeEncryptionMaterial(suite(), encryptionContext);
      material.setUnencryptedDataKey(decrypted.getUnencryptedDataKey(), TRACE_GENERATED);
      const key = FileKey.fromMaterial(material, { bytes, info });
      key.encryptedDataKeys = encryptedDataKeys;
      return key;
    } finally {
      dispose();
    }
  }

  /** Seals a value (as written) for its key path. No KMS call. */
  seal(path: string, raw: string): string {
    this.check();
    const iv = randomBytes(IV_LENGTH);
    const c = this.cipher(iv);
    c.setAAD(recordAad(path));
    const plain = Buffer.from(raw, 'utf8');
    try {
      const body = Buffer.concat([iv, c.update(plain), c.final(), c.getAuthTag()]);
      return RECORD_PREFIX + body.toString('base64');
    } finally {
      plain.fill(0);
    }
  }

  /** The value a record holds if it was sealed for `path` under this file's key; undefined if it was not. Malformed tokens throw. */
  open(path: string, token: string): string | undefined {
    this.check();
    const body = decodeToken(token, RECORD_PREFIX, `The sealed value at ${path}`);
    if (body.length < IV_LENGTH + TAG_LENGTH) {
      throw formatError(`The sealed value at ${path} is too short to be a record (${body.length} bytes).`, FORMAT_HINTS.truncated);
    }
    const d = this.decipher(body.subarray(0, IV_LENGTH));
    d.setAAD(recordAad(path));
    d.setAuthTag(body.subarray(body.length - TAG_LENGTH));
    const parts: Buffer[] = [d.update(body.subarray(IV_LENGTH, body.length - TAG_LENGTH))];
    try {
      parts.push(d.final());
    } catch {
      for (const p of parts) p.fill(0);
      return undefined;
    }
    const plain = Buffer.concat(parts);
    const text = plain.toString('utf8');
    plain.fill(0);
    for (const p of parts) p.fill(0);
    return text;
  }

  /**
   * The same data key and file id for other recipients or another context: a new header (one Encrypt per
   * cloud recipient, no GenerateDataKey), every record stays valid. Removing a recipient this way does not
   * lock it out of a data key it has already seen; use a new key (rotate) for that.
   */
  async rewrap(recipients: Recipient[], context: EncryptionContext | undefined, signal?: AbortSignal): Promise<FileKey> {
    this.check();
    if (!recipients.length) throw usageError('No recipient key given.', 'List at least one keyref under keys: in the policy rule.');
    const ctx = withFileId(context, this.material.encryptionContext[FILE_ID_KEY]!);
    const material = new NodeEncryptionMaterial(suite(), ctx);
    try {
      material.setUnencryptedDataKey(this.material.getUnencryptedDataKey(), TRACE_GENERATED);
      await (await sealKeyring(recipients, signal)).onEncrypt(material);
      const key = FileKey.fromMaterial(material);
      key.encryptedDataKeys = material.encryptedDataKeys;
      return key;
    } catch (err) {
      material.zeroUnencryptedDataKey();
      throw mapError(err, signal, 'seal');
    }
  }

  /**
   * The same data key and file id, the same context, for the recipients of `plan`: the EDKs of the
   * recipients kept stay byte for byte, each new one costs one Encrypt (none for a local key). A new
   * header (a fresh message id, so a fresh header tag key); every record stays valid.
   */
  async rewrapKeeping(plan: RewrapPlan, signal?: AbortSignal): Promise<FileKey> {
    this.check();
    const key = this.material.getUnencryptedDataKey();
    const raw = unwrapDataKey(key);
    let material: NodeEncryptionMaterial | undefined;
    try {
      material = await rewrapMaterial(raw, this.material.encryptionContext, this.encryptedDataKeys, plan, signal);
      const next = FileKey.fromMaterial(material);
      next.encryptedDataKeys = material.encryptedDataKeys;
      return next;
    } catch (err) {
      throw mapError(err, signal, 'seal');
    } finally {
      if (raw !== key) raw.fill(0);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.material.zeroUnencryptedDataKey();
    this.decryption.zeroUnencryptedDataKey();
  }

  private check(): void {
    if (this.disposed) throw new Error('FileKey used after dispose()');
  }

  /** Derives the value key; builds and authenticates a new header unless an opened one is given. */
  private static fromMaterial(material: NodeEncryptionMaterial, opened?: { bytes: Buffer; info: HeaderInfo }): FileKey {
    const decryption = new NodeDecryptionMaterial(suite(), material.encryptionContext);
    try {
      const fileId = Buffer.from(material.encryptionContext[FILE_ID_KEY] ?? '', 'base64url');
      if (fileId.length !== FILE_ID_LENGTH)
        throw formatError(`The header's ${FILE_ID_KEY} is not ${FILE_ID_LENGTH} bytes.`, FORMAT_HINTS.modified);
      const helper = getEncryptHelper(material);
      let bytes = opened?.bytes;
      let info = opened?.info;
      if (!bytes || !info) {
        const messageId = randomBytes(MessageIdLength.V2);
        const { getCipher, keyCommitment } = helper.getCipherInfo(messageId);
        if (!keyCommitment) throw new Error('Encryption SDK returned no key commitment for a committing suite.');
        // Frame length 0: no ESDK body follows this header; the value records are the body.
        const { messageHeader, bytes: rawHeader } = marshalHeader({
          encryptedDataKeys: material.encryptedDataKeys,
          encryptionContext: material.encryptionContext,
          messageId,
          frameLength: 0,
          commitment: keyCommitment,
        });
        const headerIv = headerAuthIv();
        const auth = getCipher(headerIv);
        auth.setAAD(rawHeader);
        auth.update(Buffer.alloc(0));
        auth.final();
        bytes = Buffer.concat([rawHeader, marshalHeaderAuth(messageHeader, headerIv, auth.getAuthTag())]);
        info = headerInfoOf(messageHeader);
      }
      const { getCipher, keyCommitment } = helper.getCipherInfo(fileId);
      decryption.setUnencryptedDataKey(material.getUnencryptedDataKey(), TRACE_DECRYPTED);
      const getDecipher = getDecryptionHelper(decryption).getDecipherInfo(fileId, keyCommitment);
      return new FileKey(HEADER_PREFIX + bytes.toString('base64'), info, material, decryption, getCipher, getDecipher);
    } catch (err) {
      material.zeroUnencryptedDataKey();
      if (decryption.hasUnencryptedDataKey) decryption.zeroUnencryptedDataKey();
      throw err;
    }
  }
}

const TRACE_GENERATED = { keyNamespace: 'kms-envelope', keyName: 'values', flags: KeyringTraceFlag.WRAPPING_KEY_GENERATED_DATA_KEY };
const TRACE_DECRYPTED = { keyNamespace: 'kms-envelope', keyName: 'values', flags: KeyringTraceFlag.WRAPPING_KEY_DECRYPTED_DATA_KEY };

/** The policy's context, checked: no ESDK-reserved keys, none of ours. */
function valuesContext(context: EncryptionContext | undefined): EncryptionContext {
  checkSealContext(context ?? {});
  for (const k of Object.keys(context ?? {})) {
    if (k.startsWith(RESERVED_VALUES_PREFIX)) {
      throw usageError(
        `Context key "${k}" is reserved by kms-envelope.`,
        `Rename it; keys starting with "${RESERVED_VALUES_PREFIX}" are set by kms-envelope itself.`,
      );
    }
  }
  return userContext(context);
}

/** Parses a header entry without any KMS call (what inspect shows). */
export function parseHeader(token: string, maxRecipients = DEFAULT_MAX_RECIPIENTS) {
  const bytes = decodeToken(token, HEADER_PREFIX, 'The kms-envelope header');
  let parsed: ReturnType<typeof parseHeaderFields>;
  try {
    parsed = parseHeaderFields(bytes, maxRecipients);
  } catch (err) {
    throw formatError(
      `The kms-envelope header is not valid: ${(err as Error).message}.`,
      (err as KmsEnvelopeError).hintParts,
      undefined,
      err,
    );
  }
  if (!parsed) throw formatError('The kms-envelope header is cut short.', FORMAT_HINTS.truncated);
  if (parsed.messageHeader.frameLength !== 0 || !parsed.messageHeader.encryptionContext[FILE_ID_KEY]) {
    throw formatError(
      'The kms-envelope entry holds the header of a sealed message, not of sealed values (those have frame length 0 and a kmsenv:file-id).',
      FORMAT_HINTS.modified,
    );
  }
  if (headerBytes(parsed) !== bytes.length) {
    throw formatError('The kms-envelope header has extra bytes after its authentication tag.', FORMAT_HINTS.modified);
  }
  return { bytes, parsed, info: headerInfoOf(parsed.messageHeader) };
}
