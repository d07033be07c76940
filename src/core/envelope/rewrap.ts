/**
 * Re-wrap: a sealed message made readable by other recipients without a new data key. One Decrypt
 * (the first recipient this machine reaches) gives the data key; the encrypted data keys (EDKs) of the
 * recipients that stay are kept byte for byte; each new recipient costs one Encrypt of that data key
 * (a local key: no KMS call). Rotate (`rotate: true`) instead seals the plaintext under a fresh data
 * key: one GenerateDataKey + one Encrypt per further recipient, for when a data key may have leaked or
 * a removed recipient must be locked out (re-wrapping never takes back a data key a recipient saw).
 *
 * Why the body is encrypted again and not kept byte for byte: in the Encryption SDK message format v2
 * the header authentication tag is AES-GCM under the key derived from (data key, message id) with an
 * all-zero IV, and the frames use that same derived key (IVs 1, 2, …). Keeping the message id and the
 * data key (so that the frames stay valid) while writing another header computes a second GCM tag under
 * the same key and IV over different data: anyone holding both headers (the old one is in git history)
 * can solve for the GHASH key of the message (the "forbidden attack" on GCM nonce reuse) and then forge
 * frame tags, i.e. flip plaintext bits undetected. So a re-wrapped message gets a new message id, hence
 * a new derived key, and its frames are decrypted and encrypted again in one streaming pass (plaintext
 * only in memory, a frame at a time); only the KMS side is "header only". Files of sealed values
 * (src/core/values) are different: their values are keyed by a file id, not the message id, so there
 * re-wrapping really changes the header line only (FileKey.rewrapKeeping).
 */
import {
  KeyringTraceFlag,
  NodeAlgorithmSuite,
  NodeDefaultCryptographicMaterialsManager,
  NodeEncryptionMaterial,
  unwrapDataKey,
  type EncryptedDataKey,
  type NodeDecryptionMaterial,
  type NodeMaterialsManager,
} from '@aws-crypto/material-management-node';
import { createReadStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { writeFileAtomic, createAtomicFile } from '../atomic';
import { FORMAT_HINTS, KmsEnvelopeError, formatError, throwIfAborted, usageError } from '../errors';
import type { EncryptionContext } from '../kms/types';
import { displayPath } from '../paths';
import { armor, dearmor } from './armor';
import { inspect, startSeal } from './engine';
import { READ_CHUNK, bodyChunks, fileChunks, openInputFile } from './files';
import { SUITE_ID } from './header';
import { UnsealKeyring, sealKeyring } from './keyrings';
import { mapError, openMessage, type BodySource, type OpenedMessage, type Source } from './message';
import { sniffFile } from './sniff';
import type { HeaderInfo, ProviderResolver, Recipient } from './types';

/** One entry of the new recipient list: a current EDK kept as it is (by index), or a new recipient. */
export type RewrapEntry = { keep: number; recipient?: Recipient } | { add: Recipient };

/**
 * The recipients after the re-wrap, in order (the order unseal tries them in). With `rotate`, every
 * entry needs a recipient (kept ones too: the fresh data key is encrypted for each).
 */
export interface RewrapPlan {
  next: RewrapEntry[];
}

export interface RewrapOptions {
  resolve: ProviderResolver;
  /** A fresh data key instead of the current one (all recipients' KMS are called). */
  rotate?: boolean;
  signal?: AbortSignal;
  maxRecipients?: number;
}

const suite = () => new NodeAlgorithmSuite(SUITE_ID);
const TRACE_KEPT = { keyNamespace: 'kms-envelope', keyName: 'rewrap', flags: KeyringTraceFlag.WRAPPING_KEY_GENERATED_DATA_KEY };
const EDK_FLAGS = KeyringTraceFlag.WRAPPING_KEY_ENCRYPTED_DATA_KEY;

/** True when the plan lists exactly the current recipients in their current order (nothing to do). */
export function planIsIdentity(plan: RewrapPlan, currentCount: number): boolean {
  return plan.next.length === currentCount && plan.next.every((e, i) => 'keep' in e && e.keep === i);
}

function checkPlan(plan: RewrapPlan, current: number, rotate: boolean): void {
  if (!plan.next.length) throw usageError('A re-wrap must leave at least one recipient.', 'Keep a key, or add one.');
  for (const e of plan.next) {
    if ('keep' in e && (e.keep < 0 || e.keep >= current)) throw new Error(`re-wrap plan keeps EDK ${e.keep} of ${current}`);
    if (rotate && 'keep' in e && !e.recipient) throw new Error('a rotate plan needs a recipient for every kept key');
  }
}

/**
 * Encryption material for `dataKey` under `context`: the plan's kept EDKs byte for byte and, for each
 * new recipient, one EDK from its keyring (Encrypt of the same data key), in the plan's order.
 */
export async function rewrapMaterial(
  dataKey: Uint8Array,
  context: EncryptionContext,
  current: readonly EncryptedDataKey[],
  plan: RewrapPlan,
  signal?: AbortSignal,
): Promise<NodeEncryptionMaterial> {
  checkPlan(plan, current.length, false);
  const adds = plan.next.flatMap((e) => ('add' in e ? [e.add] : []));
  const fresh: EncryptedDataKey[] = [];
  if (adds.length) {
    const tmp = new NodeEncryptionMaterial(suite(), context);
    try {
      tmp.setUnencryptedDataKey(new Uint8Array(dataKey), TRACE_KEPT);
      await (await sealKeyring(adds, signal)).onEncrypt(tmp);
      fresh.push(...tmp.encryptedDataKeys);
    } finally {
      tmp.zeroUnencryptedDataKey();
    }
  }
  const material = new NodeEncryptionMaterial(suite(), context);
  material.setUnencryptedDataKey(new Uint8Array(dataKey), TRACE_KEPT);
  let n = 0;
  for (const e of plan.next) material.addEncryptedDataKey('keep' in e ? current[e.keep]! : fresh[n++]!, EDK_FLAGS);
  return material;
}

/** Hands out one prepared encryption material (the re-wrap's) to the seal path. */
export function preparedMaterials(material: NodeEncryptionMaterial): NodeMaterialsManager {
  return {
    getEncryptionMaterials: async () => material,
    decryptMaterials: async () => {
      throw new Error('prepared materials only encrypt');
    },
  } as unknown as NodeMaterialsManager;
}

/** Opens a message through the stock CMM and remembers what re-wrapping needs: the EDKs, the context, the data key. */
export class CaptureMaterials {
  dataKey?: Buffer;
  edks: EncryptedDataKey[] = [];
  context: EncryptionContext = {};
  private readonly backing: NodeMaterialsManager;
  constructor(resolve: ProviderResolver, signal?: AbortSignal) {
    this.backing = new NodeDefaultCryptographicMaterialsManager(new UnsealKeyring(resolve, signal));
  }
  async getEncryptionMaterials(): Promise<never> {
    throw new Error('capture materials only decrypt');
  }
  async decryptMaterials(req: Parameters<NodeMaterialsManager['decryptMaterials']>[0]): Promise<NodeDecryptionMaterial> {
    const m = await this.backing.decryptMaterials(req);
    this.edks = [...req.encryptedDataKeys];
    this.context = { ...req.encryptionContext };
    const key = m.getUnencryptedDataKey();
    const raw = unwrapDataKey(key);
    this.dataKey = Buffer.from(raw);
    if (raw !== key) raw.fill(0);
    return m;
  }
  dispose(): void {
    this.dataKey?.fill(0);
  }
}

/**
 * Re-wraps the message read from `source`: returns the new message's header and its bytes as they are
 * made (header, then frames re-encrypted from the authenticated plaintext, one frame at a time). The
 * caller writes them atomically and calls dispose().
 */
export async function rewrapMessage(
  source: Source,
  plan: RewrapPlan,
  opts: RewrapOptions,
  bodySource?: BodySource,
): Promise<OpenedMessage> {
  throwIfAborted(opts.signal);
  const capture = new CaptureMaterials(opts.resolve, opts.signal);
  const opened = await openMessage(
    source,
    {
      resolve: opts.resolve,
      materials: capture as unknown as NodeMaterialsManager,
      signal: opts.signal,
      maxRecipients: opts.maxRecipients,
    },
    bodySource,
  );
  try {
    if (opened.info.suiteId !== SUITE_ID)
      throw formatError(
        `the blob uses algorithm suite 0x${opened.info.suiteId.toString(16)} (written by another Encryption SDK client), which is not re-wrapped here`,
        'Unseal it, then seal the plaintext again.',
      );
    checkPlan(plan, capture.edks.length, !!opts.rotate);
    const frameLength = opened.info.frameLength;
    const sealed = opts.rotate
      ? await startSeal(opened.body, {
          recipients: plan.next.map((e) => ('add' in e ? e.add : e.recipient!)),
          context: opened.info.context,
          frameLength,
          signal: opts.signal,
        })
      : await startSeal(opened.body, {
          recipients: [],
          materials: preparedMaterials(await rewrapMaterial(capture.dataKey!, capture.context, capture.edks, plan, opts.signal)),
          context: opened.info.context,
          frameLength,
          signal: opts.signal,
        });
    return {
      info: sealed.info,
      body: sealed.body,
      dispose: () => {
        sealed.dispose();
        opened.dispose();
      },
    };
  } catch (err) {
    opened.dispose();
    throw err;
  } finally {
    capture.dispose();
  }
}

/** What a sealed file holds, from its header only (no KMS call): binary or armored, and the header. */
export async function readSealedHeader(file: string): Promise<{ info: HeaderInfo; form: 'binary' | 'armored' }> {
  const fh = await openInputFile(file);
  let kind;
  try {
    kind = await sniffFile(fh);
  } finally {
    await fh.close();
  }
  if (kind === 'binary') {
    const stream = createReadStream(file);
    try {
      return { info: await inspect(stream), form: 'binary' };
    } finally {
      stream.destroy();
    }
  }
  if (kind === 'armored') {
    const { readFile } = await import('node:fs/promises');
    return { info: await inspect(dearmor((await readFile(file, 'utf8')).replace(/^\uFEFF/, '').trim())), form: 'armored' };
  }
  throw formatError(`${displayPath(file)} is not a sealed file (neither a binary blob nor one kmsenv:v1: line).`, FORMAT_HINTS.notBlob, {
    file,
  });
}

async function fileMode(fh: FileHandle): Promise<number> {
  return (await fh.stat()).mode & 0o777;
}

/**
 * Re-wraps a sealed file in place, atomically (temp file, fsync, rename; the file's permissions kept):
 * a failure of any kind leaves the file as it was. Binary blobs stream; armored files stay armored.
 */
export async function rewrapSealedFile(file: string, plan: RewrapPlan, opts: RewrapOptions): Promise<HeaderInfo> {
  const fh = await openInputFile(file);
  try {
    const kind = await sniffFile(fh);
    const mode = await fileMode(fh);
    if (kind === 'armored') {
      const text = (await fh.readFile('utf8')).replace(/^\uFEFF/, '').trim();
      const started = await rewrapMessage(
        (async function* () {
          yield dearmor(text);
        })(),
        plan,
        opts,
      );
      const parts: Buffer[] = [];
      try {
        for await (const p of started.body) parts.push(p);
      } finally {
        started.dispose();
      }
      await writeFileAtomic(file, armor(Buffer.concat(parts)) + '\n', mode);
      return started.info;
    }
    if (kind !== 'binary')
      throw formatError(`${displayPath(file)} is not a sealed file.`, FORMAT_HINTS.notBlob, {
        file,
      });
    const out = await createAtomicFile(file, mode);
    try {
      const started = await rewrapMessage(fileChunks(fh, 64 * 1024), plan, opts, (rest) => bodyChunks(fh, READ_CHUNK + 64, rest));
      try {
        let batch: Buffer[] = [];
        let n = 0;
        for await (const p of started.body) {
          batch.push(p);
          n += p.length;
          if (n >= READ_CHUNK) {
            await out.write(batch);
            batch = [];
            n = 0;
          }
        }
        if (batch.length) await out.write(batch);
        await out.drain();
      } finally {
        started.dispose();
      }
      throwIfAborted(opts.signal);
      await out.commit();
      return started.info;
    } catch (err) {
      await out.abort().catch(() => undefined);
      throw err;
    }
  } catch (err) {
    const e = err instanceof KmsEnvelopeError ? err : mapError(err, opts.signal, 'unseal');
    if (!e.details.file) (e.details as { file?: string }).file = file;
    throw e;
  } finally {
    await fh.close().catch(() => undefined);
  }
}
