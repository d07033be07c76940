// The Toy KMS implementation: an in-memory "cloud" (shared by every instance, like a real one),
// each operation one cloudCall whose attempt checks the API token it is handed and throws the
// cloud's own codes (CloudCallError), which the shared error mapping turns into messages and hints.
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { cloudCall, type CloudProviderOptions } from '../../../src/core/kms/cloud-call';
import { CloudCallError } from '../../../src/core/kms/cloud-errors';
import { checkDeletionWindow } from '../../../src/core/kms/descriptor';
import { resolveEndpoint } from '../../../src/core/kms/endpoint';
import { clampPageSize, decodePageToken, encodePageToken } from '../../../src/core/kms/paging';
import { canonicalContext } from '../../../src/core/kms/wire-values';
import { nullLogger } from '../../../src/core/log';
import type {
  CallOptions,
  CreateKeyOptions,
  DataKey,
  EncryptionContext,
  KeyMetadata,
  KeyState,
  KmsProvider,
  ListKeysOptions,
  ListKeysPage,
} from '../../../src/core/kms/types';
import { TOY_REGIONS, TOY_TOKEN, toyProvider } from './descriptor';

interface ToyKey {
  id: string;
  alias?: string;
  description?: string;
  state: KeyState;
  createdAt: string;
  deletionDate?: string;
  material: Buffer;
}

/** The toy cloud: region → key id → key. */
const cloud = new Map<string, Map<string, ToyKey>>(TOY_REGIONS.map((r) => [r, new Map()]));

const fail = (code: string, message: string) => new CloudCallError(message, { code, requestId: randomUUID() });

export class ToyKmsProvider implements KmsProvider {
  readonly name = toyProvider.name;
  readonly deletionWindow = toyProvider.deletionWindow;
  readonly profile: string;

  constructor(private readonly opts: Omit<CloudProviderOptions, 'profile'> & { profile: string }) {
    this.profile = opts.profile;
  }

  /** One call: the token handed to this attempt is checked, then `op` runs against the toy cloud. */
  private call<T>(
    region: string,
    action: string,
    o: { keyId?: string; alias?: string; signal?: AbortSignal; idempotent?: boolean },
    op: () => T,
  ) {
    return cloudCall<T>(
      {
        provider: toyProvider,
        profile: this.profile,
        region,
        action,
        endpoint: resolveEndpoint(undefined, region, 'toy.invalid'),
        call: { idempotent: o.idempotent ?? true, keyId: o.keyId, alias: o.alias, signal: o.signal },
        options: { ...this.opts, retry: { maxAttempts: 1, ...this.opts.retry } },
        log: this.opts.logger ?? nullLogger,
        normalize: (e) => e,
      },
      async ({ credentials }) => {
        if (credentials.apiToken !== TOY_TOKEN) throw fail('Toy.BadToken', 'The API token is not valid.');
        return { result: op() };
      },
    );
  }

  private keys(region: string): Map<string, ToyKey> {
    const m = cloud.get(region);
    if (!m) throw fail('Toy.NotFound', `There is no region ${region}.`);
    return m;
  }

  private find(region: string, keyIdOrAlias: string): ToyKey {
    const m = this.keys(region);
    const k = m.get(keyIdOrAlias) ?? [...m.values()].find((x) => x.alias === keyIdOrAlias);
    if (!k) throw fail('Toy.NotFound', `Key ${keyIdOrAlias} does not exist.`);
    return k;
  }

  private usable(region: string, keyIdOrAlias: string): ToyKey {
    const k = this.find(region, keyIdOrAlias);
    if (k.state === 'Disabled') throw fail('Toy.Disabled', 'The key is disabled.');
    if (k.state === 'PendingDeletion') throw fail('Toy.PendingDeletion', 'The key is pending deletion.');
    return k;
  }

  private meta(region: string, k: ToyKey): KeyMetadata {
    return {
      provider: this.name,
      region,
      keyId: k.id,
      alias: k.alias,
      description: k.description,
      state: k.state,
      createdAt: k.createdAt,
      deletionDate: k.deletionDate,
    };
  }

  private aad(region: string, keyId: string, context: EncryptionContext): Buffer {
    return Buffer.from(`${region}\n${keyId}\n${canonicalContext(context) ?? ''}`);
  }

  private wrap(region: string, k: ToyKey, plaintext: Buffer, context: EncryptionContext): Buffer {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', k.material, iv).setAAD(this.aad(region, k.id, context));
    const body = Buffer.concat([c.update(plaintext), c.final()]);
    return Buffer.concat([Buffer.from(k.id), Buffer.from([0]), iv, c.getAuthTag(), body]);
  }

  listRegions(opts?: CallOptions): Promise<string[]> {
    return this.call(toyProvider.regions.default!, 'ListRegions', { signal: opts?.signal }, () => [...cloud.keys()]);
  }

  listKeys(region: string, opts?: ListKeysOptions): Promise<ListKeysPage> {
    return this.call(region, 'ListKeys', { signal: opts?.signal }, () => {
      let offset = 0;
      let size = clampPageSize(opts?.pageSize, 50, 50);
      if (opts?.nextToken) ({ n: offset, size } = decodePageToken('t', opts.nextToken, 'Toy'));
      const all = [...this.keys(region).values()];
      const keys = all.slice(offset, offset + size).map((k) => this.meta(region, k));
      return { keys, total: all.length, nextToken: offset + size < all.length ? encodePageToken('t', offset + size, size) : undefined };
    });
  }

  describeKey(region: string, keyIdOrAlias: string, opts?: CallOptions): Promise<KeyMetadata> {
    return this.call(region, 'DescribeKey', { keyId: keyIdOrAlias, signal: opts?.signal }, () =>
      this.meta(region, this.find(region, keyIdOrAlias)),
    );
  }

  createKey(region: string, opts?: CreateKeyOptions): Promise<KeyMetadata> {
    return this.call(region, 'CreateKey', { alias: opts?.alias, signal: opts?.signal, idempotent: false }, () => {
      const m = this.keys(region);
      if (opts?.alias && [...m.values()].some((k) => k.alias === opts.alias)) throw fail('Toy.AliasTaken', 'The alias is taken.');
      const k: ToyKey = {
        id: `toy-${randomUUID()}`,
        alias: opts?.alias,
        description: opts?.description,
        state: 'Enabled',
        createdAt: new Date().toISOString(),
        material: randomBytes(32),
      };
      m.set(k.id, k);
      return this.meta(region, k);
    });
  }

  private setState(region: string, keyId: string, action: string, opts: CallOptions | undefined, fn: (k: ToyKey) => void): Promise<void> {
    return this.call(region, action, { keyId, signal: opts?.signal }, () => fn(this.find(region, keyId)));
  }

  enableKey(region: string, keyId: string, opts?: CallOptions): Promise<void> {
    return this.setState(region, keyId, 'EnableKey', opts, (k) => {
      if (k.state === 'PendingDeletion') throw fail('Toy.PendingDeletion', 'The key is pending deletion.');
      k.state = 'Enabled';
    });
  }

  disableKey(region: string, keyId: string, opts?: CallOptions): Promise<void> {
    return this.setState(region, keyId, 'DisableKey', opts, (k) => {
      if (k.state === 'PendingDeletion') throw fail('Toy.PendingDeletion', 'The key is pending deletion.');
      k.state = 'Disabled';
    });
  }

  setAlias(region: string, keyId: string, alias: string, opts?: CallOptions): Promise<void> {
    return this.call(region, 'SetAlias', { keyId, alias, signal: opts?.signal }, () => {
      const k = this.find(region, keyId);
      if ([...this.keys(region).values()].some((x) => x.alias === alias && x !== k)) throw fail('Toy.AliasTaken', 'The alias is taken.');
      k.alias = alias;
    });
  }

  setDescription(region: string, keyId: string, description: string, opts?: CallOptions): Promise<void> {
    return this.setState(region, keyId, 'SetDescription', opts, (k) => void (k.description = description));
  }

  async scheduleDeletion(region: string, keyId: string, days: number, opts?: CallOptions): Promise<{ deletionDate?: string }> {
    checkDeletionWindow(toyProvider, days);
    return this.call(region, 'ScheduleKeyDeletion', { keyId, signal: opts?.signal, idempotent: false }, () => {
      const k = this.find(region, keyId);
      if (k.state === 'PendingDeletion') throw fail('Toy.PendingDeletion', 'The key is pending deletion.');
      if (k.state !== 'Disabled') throw fail('Toy.MustBeDisabled', 'Only a disabled key can be scheduled for deletion.');
      k.state = 'PendingDeletion';
      k.deletionDate = new Date(Date.now() + days * 86_400_000).toISOString();
      return { deletionDate: k.deletionDate };
    });
  }

  cancelDeletion(region: string, keyId: string, opts?: CallOptions): Promise<void> {
    return this.setState(region, keyId, 'CancelKeyDeletion', opts, (k) => {
      if (k.state !== 'PendingDeletion') throw fail('Toy.NotPendingDeletion', 'The key is not pending deletion.');
      k.state = 'Disabled';
      k.deletionDate = undefined;
    });
  }

  generateDataKey(region: string, keyIdOrAlias: string, context: EncryptionContext, opts?: CallOptions): Promise<DataKey> {
    return this.call(region, 'GenerateDataKey', { keyId: keyIdOrAlias, signal: opts?.signal }, () => {
      const k = this.usable(region, keyIdOrAlias);
      const plaintext = randomBytes(32);
      return { plaintext, ciphertext: this.wrap(region, k, plaintext, context), keyId: k.id };
    });
  }

  encryptDataKey(region: string, keyIdOrAlias: string, plaintext: Buffer, context: EncryptionContext, opts?: CallOptions) {
    return this.call(region, 'Encrypt', { keyId: keyIdOrAlias, signal: opts?.signal }, () => {
      const k = this.usable(region, keyIdOrAlias);
      return { ciphertext: this.wrap(region, k, plaintext, context), keyId: k.id };
    });
  }

  decryptDataKey(region: string, keyId: string, ciphertext: Buffer, context: EncryptionContext, opts?: CallOptions) {
    return this.call(region, 'Decrypt', { keyId, signal: opts?.signal }, () => {
      const zero = ciphertext.indexOf(0);
      const named = ciphertext.subarray(0, Math.max(0, zero)).toString();
      const k = this.usable(region, named || keyId);
      try {
        const iv = ciphertext.subarray(zero + 1, zero + 13);
        const d = createDecipheriv('aes-256-gcm', k.material, iv).setAAD(this.aad(region, k.id, context));
        d.setAuthTag(ciphertext.subarray(zero + 13, zero + 29));
        return { plaintext: Buffer.concat([d.update(ciphertext.subarray(zero + 29)), d.final()]), keyId: k.id };
      } catch {
        throw fail('Toy.InvalidCiphertext', 'The ciphertext does not decrypt under this key and context.');
      }
    });
  }
}
