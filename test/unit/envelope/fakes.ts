// In-test KMS providers for the envelope tests: a cloud-like KMS that really encrypts data keys
// (AES-256-GCM, context + key id bound as AAD) and counts calls, and a local-style provider that
// hands out raw AES wrapping keys kept in a MemorySecretStore.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { CancelledError, providerError } from '../../../src/core/errors';
import { MemorySecretStore, LOCAL_KEYS_SERVICE } from '../../../src/core/secrets';
import type {
  CallOptions,
  DataKey,
  EncryptionContext,
  KeyMetadata,
  KmsProvider,
  ListKeysPage,
  ProviderName,
} from '../../../src/core/kms/types';
import type { RawAesKeySource } from '../../../src/core/envelope';

export interface Calls {
  generate: number;
  encrypt: number;
  decrypt: number;
  raw: number;
}

abstract class Unused {
  readonly deletionWindow = { min: 7, max: 30, default: 7 };
  private no(): never {
    throw new Error('not used by the envelope tests');
  }
  listRegions(): Promise<string[]> {
    return this.no();
  }
  listKeys(): Promise<ListKeysPage> {
    return this.no();
  }
  describeKey(): Promise<KeyMetadata> {
    return this.no();
  }
  createKey(): Promise<KeyMetadata> {
    return this.no();
  }
  enableKey(): Promise<void> {
    return this.no();
  }
  disableKey(): Promise<void> {
    return this.no();
  }
  setAlias(): Promise<void> {
    return this.no();
  }
  setDescription(): Promise<void> {
    return this.no();
  }
  scheduleDeletion(): Promise<{ deletionDate?: string }> {
    return this.no();
  }
  cancelDeletion(): Promise<void> {
    return this.no();
  }
}

function checkSignal(opts?: CallOptions) {
  if (opts?.signal?.aborted) throw new CancelledError();
}

/** A cloud-like KMS: keys per region, aliases, disabled keys; data keys really wrapped. */
export class FakeCloudKms extends Unused implements KmsProvider {
  readonly profile = 'default';
  readonly calls: Calls = { generate: 0, encrypt: 0, decrypt: 0, raw: 0 };
  /** Every plaintext data key handed out, to check callers zero them. */
  readonly handedOut: Buffer[] = [];
  /** Contexts the KMS saw, in call order. */
  readonly contexts: EncryptionContext[] = [];
  private readonly keys = new Map<string, { key: Buffer; enabled: boolean }>();
  private readonly aliases = new Map<string, string>();

  constructor(readonly name: ProviderName) {
    super();
  }

  addKey(region: string, keyId: string, alias?: string): this {
    this.keys.set(`${region}/${keyId}`, { key: randomBytes(32), enabled: true });
    if (alias) this.aliases.set(`${region}/${alias}`, keyId);
    return this;
  }
  disable(region: string, keyId: string): void {
    this.keys.get(`${region}/${keyId}`)!.enabled = false;
  }
  enable(region: string, keyId: string): void {
    this.keys.get(`${region}/${keyId}`)!.enabled = true;
  }

  private find(region: string, keyIdOrAlias: string): { keyId: string; key: Buffer } {
    const keyId = this.aliases.get(`${region}/${keyIdOrAlias}`) ?? keyIdOrAlias;
    const k = this.keys.get(`${region}/${keyId}`);
    if (!k)
      throw providerError(`Key ${keyIdOrAlias} not found in ${region}.`, 'Check the key id.', {
        provider: this.name,
        region,
        keyId: keyIdOrAlias,
        providerCode: 'NotFound',
      });
    if (!k.enabled)
      throw providerError(`Key ${keyId} in ${region} is disabled.`, `Enable key ${keyId} in ${region}.`, {
        provider: this.name,
        region,
        keyId,
        providerCode: 'Disabled',
      });
    return { keyId, key: k.key };
  }

  private wrap(keyId: string, key: Buffer, pt: Buffer, ctx: EncryptionContext): Buffer {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', key, iv).setAAD(Buffer.from(JSON.stringify(ctx)));
    const ct = Buffer.concat([c.update(pt), c.final()]);
    return Buffer.concat([Buffer.from(`${keyId}\n`), iv, ct, c.getAuthTag()]);
  }

  async generateDataKey(region: string, keyIdOrAlias: string, context: EncryptionContext, opts?: CallOptions): Promise<DataKey> {
    checkSignal(opts);
    this.calls.generate++;
    this.contexts.push(context);
    const { keyId, key } = this.find(region, keyIdOrAlias);
    const plaintext = randomBytes(32);
    const ciphertext = this.wrap(keyId, key, plaintext, context);
    this.handedOut.push(plaintext);
    return { plaintext, ciphertext, keyId };
  }

  async encryptDataKey(region: string, keyIdOrAlias: string, plaintext: Buffer, context: EncryptionContext, opts?: CallOptions) {
    checkSignal(opts);
    this.calls.encrypt++;
    this.contexts.push(context);
    const { keyId, key } = this.find(region, keyIdOrAlias);
    return { ciphertext: this.wrap(keyId, key, plaintext, context), keyId };
  }

  async decryptDataKey(region: string, keyId: string, ciphertext: Buffer, context: EncryptionContext, opts?: CallOptions) {
    checkSignal(opts);
    this.calls.decrypt++;
    this.contexts.push(context);
    const nl = ciphertext.indexOf(10);
    const embedded = ciphertext.subarray(0, nl).toString();
    const { key } = this.find(region, embedded);
    try {
      const body = ciphertext.subarray(nl + 1);
      const d = createDecipheriv('aes-256-gcm', key, body.subarray(0, 12)).setAAD(Buffer.from(JSON.stringify(context)));
      d.setAuthTag(body.subarray(body.length - 16));
      const plaintext = Buffer.concat([d.update(body.subarray(12, body.length - 16)), d.final()]);
      this.handedOut.push(plaintext);
      return { plaintext, keyId: embedded };
    } catch {
      throw providerError(
        `${this.name} refused to decrypt the data key (InvalidCiphertext).`,
        'The blob was modified or sealed with a different context.',
        { provider: this.name, region, keyId, providerCode: 'InvalidCiphertext' },
      );
    }
  }
}

/** A local-style provider: AES-256 wrapping keys in a MemorySecretStore, aliases, disabled keys. */
export class FakeLocal extends Unused implements KmsProvider, RawAesKeySource {
  readonly name = 'local' as const;
  readonly profile = 'default';
  readonly calls: Calls = { generate: 0, encrypt: 0, decrypt: 0, raw: 0 };
  readonly handedOut: Buffer[] = [];
  readonly store = new MemorySecretStore();
  private readonly aliases = new Map<string, string>();
  private readonly disabled = new Set<string>();

  async addKey(keyId: string, alias?: string, material = randomBytes(32)): Promise<Buffer> {
    await this.store.set(LOCAL_KEYS_SERVICE, keyId, material.toString('base64'));
    if (alias) this.aliases.set(alias, keyId);
    return material;
  }
  disable(keyId: string): void {
    this.disabled.add(keyId);
  }

  async rawAesWrappingKey(_region: string, keyIdOrAlias: string, opts?: { signal?: AbortSignal }) {
    checkSignal(opts);
    this.calls.raw++;
    const keyId = this.aliases.get(keyIdOrAlias) ?? keyIdOrAlias;
    const b64 = await this.store.get(LOCAL_KEYS_SERVICE, keyId);
    if (!b64)
      throw providerError(`Local key "${keyIdOrAlias}" not found.`, 'Create or import it (kms-envelope keys create --provider local).', {
        provider: 'local',
        keyId: keyIdOrAlias,
        providerCode: 'NotFound',
      });
    if (this.disabled.has(keyId))
      throw providerError(`Local key "${keyId}" is disabled.`, `Enable it: kms-envelope keys enable --provider local ${keyId}`, {
        provider: 'local',
        keyId,
        providerCode: 'Disabled',
      });
    const material = Buffer.from(b64, 'base64');
    this.handedOut.push(material);
    return { keyName: keyId, material };
  }

  generateDataKey(): Promise<DataKey> {
    throw new Error('local blobs use the raw AES keyring, not generateDataKey');
  }
  encryptDataKey(): Promise<{ ciphertext: Buffer; keyId: string }> {
    throw new Error('local blobs use the raw AES keyring, not encryptDataKey');
  }
  decryptDataKey(): Promise<{ plaintext: Buffer; keyId: string }> {
    throw new Error('local blobs use the raw AES keyring, not decryptDataKey');
  }
}

/** A resolver over the given providers (by name); counts calls. */
export function resolverOf(...providers: KmsProvider[]) {
  const seen: string[] = [];
  const fn = async (name: ProviderName, region: string) => {
    seen.push(`${name}:${region}`);
    return providers.find((p) => p.name === name);
  };
  return Object.assign(fn, { seen });
}

/** Deterministic pseudo-random bytes (fast, no crypto) for big inputs. */
export function pattern(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}
