/**
 * Local re-seal: the data key of ONE open message held in memory, so that new versions of the same
 * content are sealed to the same recipients with no KMS call at all (what saving a sealed file opened
 * decrypted in the editor does; src/extension/sealed-fs.ts). A save then takes milliseconds and cannot
 * fail because a KMS is slow, throttled, offline or the key is disabled.
 *
 * - open(): unseals as usual (one Decrypt, commitment and header tag checked) and keeps a copy of the
 *   data key, the header's encrypted data keys (EDKs, byte for byte) and its encryption context.
 * - seal(): a new Encryption SDK message of suite 0x0478 whose header lists the same EDKs and context,
 *   under the same data key, with a FRESH random 32-byte message id. In format v2 with a committing
 *   suite the key that encrypts the header tag and the frames is derived per message:
 *   HKDF-SHA512(ikm = data key, salt = message id, info = suite id ‖ "DERIVEKEY"), and the key
 *   commitment stored in the header is HKDF(…, info = "COMMITKEY"). A new message id therefore gives an
 *   independent AES-GCM key, so the frame IVs (1, 2, …) and the header tag's all-zero IV are never
 *   reused under one key — the same reasoning that lets the Encryption SDK's caching materials manager
 *   reuse a data key across messages. Reusing the message id would be unsafe (rewrap.ts explains why).
 * - adopt(): checks whether the sealed file as it is now (a Re-wrap or the CLI may have rewritten it)
 *   is still under the held data key — its key commitment and header tag verified with that key, no
 *   KMS call — and if so takes its EDKs and context, so the next seal keeps the new recipients.
 * - dispose(): zeroes the key (an editor closing).
 *
 * Only messages of suite 0x0478 are held (what this project writes); a signing-suite message written
 * by another client is not, and is sealed afresh through the KMS.
 */
import {
  KeyringTraceFlag,
  NodeAlgorithmSuite,
  NodeDecryptionMaterial,
  type EncryptedDataKey,
  type NodeMaterialsManager,
} from '@aws-crypto/material-management-node';
import type { EncryptionContext } from '../kms/types';
import { startSeal } from './engine';
import { SUITE_ID } from './header';
import { authenticateHeader, checkMaxRecipients, mapError, openMessage, readHeader, type Source } from './message';
import { ChunkReader } from './reader';
import { CaptureMaterials, preparedMaterials, rewrapMaterial } from './rewrap';
import type { HeaderInfo, UnsealOptions } from './types';

const TRACE_DECRYPTED = { keyNamespace: 'kms-envelope', keyName: 'reseal', flags: KeyringTraceFlag.WRAPPING_KEY_DECRYPTED_DATA_KEY };

async function* once(b: Uint8Array): AsyncGenerator<Buffer> {
  yield Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

async function drain(body: AsyncGenerator<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  try {
    for await (const p of body) parts.push(p);
    return Buffer.concat(parts);
  } finally {
    for (const p of parts) p.fill(0);
  }
}

/** A copy in its own (unpooled) memory, so zeroing it zeroes the only copy we made. */
function ownCopy(b: Uint8Array): Buffer {
  const out = Buffer.alloc(b.byteLength);
  out.set(b);
  return out;
}

export class ResealKey {
  private disposed = false;
  /** Message id (hex) of the newest message known to be under this key: the one opened or last written or adopted. */
  private current: string;

  private constructor(
    private readonly dataKey: Buffer,
    private edks: EncryptedDataKey[],
    private context: EncryptionContext,
    private readonly frameLength: number,
    messageId: string,
  ) {
    this.current = messageId;
  }

  /**
   * Unseals `blob` (one KMS Decrypt, every check of a normal unseal) and keeps its data key for local
   * re-seals. `key` is undefined for a message of another suite than 0x0478.
   */
  static async open(blob: Uint8Array, opts: UnsealOptions): Promise<{ plaintext: Buffer; header: HeaderInfo; key?: ResealKey }> {
    const capture = new CaptureMaterials(opts.resolve, opts.signal);
    try {
      const opened = await openMessage(once(blob), { ...opts, materials: capture as unknown as NodeMaterialsManager });
      let plaintext: Buffer;
      try {
        plaintext = await drain(opened.body);
      } finally {
        opened.dispose();
      }
      const header = opened.info;
      if (header.suiteId !== SUITE_ID || !capture.dataKey) return { plaintext, header };
      return {
        plaintext,
        header,
        key: new ResealKey(ownCopy(capture.dataKey), capture.edks, capture.context, header.frameLength, header.messageId),
      };
    } catch (err) {
      throw mapError(err, opts.signal, 'unseal');
    } finally {
      capture.dispose();
    }
  }

  /** Message id (hex) of the newest message this key wrote, opened or adopted. */
  get messageId(): string {
    return this.current;
  }

  /**
   * True when the message whose header `source` starts with is sealed under the held data key (key
   * commitment and header authentication tag verified with it; no KMS call). Its recipients and
   * context then become the ones the next seal() writes. False when it is under another data key (a
   * rotate, or a new seal by someone else): the caller must unseal it through the KMS.
   */
  async adopt(source: Source): Promise<boolean> {
    this.check();
    const it = source[Symbol.asyncIterator]();
    let parsed;
    try {
      parsed = await readHeader(new ChunkReader(it), checkMaxRecipients({}));
    } catch (err) {
      throw mapError(err, undefined, 'unseal');
    } finally {
      await it.return?.();
    }
    const h = parsed.messageHeader;
    const id = Buffer.from(h.messageId).toString('hex');
    if (h.suiteId !== SUITE_ID) return false;
    const material = new NodeDecryptionMaterial(new NodeAlgorithmSuite(SUITE_ID), h.encryptionContext);
    try {
      material.setUnencryptedDataKey(new Uint8Array(this.dataKey), TRACE_DECRYPTED);
      let dispose: () => void;
      try {
        ({ dispose } = authenticateHeader(material, parsed));
      } catch {
        return false;
      }
      dispose();
    } finally {
      if (material.hasUnencryptedDataKey) material.zeroUnencryptedDataKey();
    }
    this.edks = [...h.encryptedDataKeys];
    this.context = { ...h.encryptionContext };
    this.current = id;
    return true;
  }

  /**
   * `plaintext` as a new message to the held recipients and context: a fresh random message id, the
   * held data key, the EDKs byte for byte. No KMS call.
   */
  async seal(plaintext: Uint8Array, opts: { signal?: AbortSignal } = {}): Promise<{ blob: Buffer; info: HeaderInfo }> {
    this.check();
    const plan = { next: this.edks.map((_, i) => ({ keep: i })) };
    try {
      const material = await rewrapMaterial(this.dataKey, this.context, this.edks, plan, opts.signal);
      const started = await startSeal(once(plaintext), {
        recipients: [],
        materials: preparedMaterials(material),
        context: this.context,
        frameLength: this.frameLength,
        plaintextLength: plaintext.byteLength,
        signal: opts.signal,
      });
      const parts: Buffer[] = [];
      try {
        for await (const p of started.body) parts.push(p);
      } finally {
        started.dispose();
      }
      this.current = started.info.messageId;
      return { blob: Buffer.concat(parts), info: started.info };
    } catch (err) {
      throw mapError(err, opts.signal, 'seal');
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.dataKey.fill(0);
    this.edks = [];
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  private check(): void {
    if (this.disposed) throw new Error('ResealKey used after dispose()');
  }
}
