/**
 * The local provider, the embedded default: works with no account and no network.
 *
 * - Key material: 32 random bytes per key (AES-256), base64 in a SecretStore — the OS keychain
 *   (service `kms-envelope-local-keys`, account = key id), or opt-in key files on headless machines
 *   (./file-store.ts). It never reaches the metadata file, logs or messages.
 * - Metadata: `local-keys.json` in the config directory (./metadata.ts): id, alias, description,
 *   state, dates.
 * - One region, `local`. Key ids are `local-<uuid>`; aliases `[A-Za-z0-9_-]{1,60}`, unique, not
 *   starting with `local-` (so an alias never looks like an id). Every call accepts id or alias.
 * - State rules like a cloud KMS: data-key operations (including decrypt) need Enabled; deletion is
 *   scheduled on a Disabled key with a 7–30 day window (default 30) and can be cancelled (the key
 *   returns Disabled); keys whose deletion date has passed are purged — metadata and key material —
 *   the next time the list is loaded.
 * - Wrapping is byte-compatible with the Encryption SDK's RawAesKeyringNode (./wire.ts);
 *   `rawAesWrappingKey` hands the envelope engine the material so it can use the stock keyring.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { KmsEnvelopeError, formatError, providerError, throwIfAborted, usageError, type NextStep } from '../../errors';
import type { Logger } from '../../log';
import { nullLogger } from '../../log';
import { KeytarSecretStore, LOCAL_KEYS_SERVICE, type SecretStore } from '../../secrets';
import type {
  CallOptions,
  CreateKeyOptions,
  DataKey,
  EncryptionContext,
  KeyMetadata,
  KmsProvider,
  ListKeysOptions,
  ListKeysPage,
  Env,
} from '../types';
import { checkDeletionWindow } from '../descriptor';
import { KEY_FILE_DIR_ENV, LOCAL_REGION, localProvider } from './descriptor';
import { FileSecretStore } from './file-store';
import { LocalMetadataStore, type LocalKeyFile, type LocalKeyRecord } from './metadata';
import { unwrap, wrap } from './wire';

export { LOCAL_KEY_NAMESPACE, contextAad, edkFromCiphertext, ciphertextFromEdk } from './wire';
export { FileSecretStore } from './file-store';
export { ALIAS_PATTERN, KEY_FILE_DIR_ENV, LOCAL_REGION } from './descriptor';
export { parseImport, serializeExport, EXPORT_FORMAT, type LocalKeyExport } from './export';
export { METADATA_FILE } from './metadata';

export const KEY_BYTES = 32;
export const KEY_ID_PATTERN = /^local-[A-Za-z0-9_-]{1,80}$/;
const DAY_MS = 86_400_000;

/** providerCode values of local errors (the conformance harness matches on them). */
export const LOCAL_ERROR_CODES = {
  notFound: 'Local.KeyNotFound',
  disabled: 'Local.KeyDisabled',
  pendingDeletion: 'Local.KeyPendingDeletion',
  notPendingDeletion: 'Local.KeyNotPendingDeletion',
  mustBeDisabled: 'Local.KeyNotDisabled',
  aliasExists: 'Local.AliasExists',
  keyExists: 'Local.KeyExists',
  materialMissing: 'Local.KeyMaterialMissing',
  invalidCiphertext: 'Local.InvalidCiphertext',
  unknownRegion: 'Local.UnknownRegion',
} as const;

export interface LocalProviderOptions {
  /** Where key material lives: KeytarSecretStore (OS keychain), FileSecretStore (opt-in) or memory (tests). */
  secretStore: SecretStore;
  /** Directory of local-keys.json (paths.configDir). */
  configDir: string;
  logger?: Logger;
  /** Clock, for tests of the deletion purge. */
  now?: () => number;
}

export interface ImportKeyOptions {
  alias?: string;
  description?: string;
  /** Id the key had where it was exported; blobs name their key by id. Default: a new id. */
  keyId?: string;
  signal?: AbortSignal;
}

export interface RawAesWrappingKey {
  /** The raw-AES keyName (= key id); the keyNamespace is LOCAL_KEY_NAMESPACE ('local'). */
  keyName: string;
  /** The 32-byte wrapping key. The caller zeroes it when done. */
  material: Buffer;
}

/** A next step about a local key (each front door words it: a CLI command, a VS Code command). */
const keyStep = (action: 'enableKey' | 'disableKey' | 'cancelDeletion' | 'describeKey', keyId: string): NextStep => ({
  action,
  key: { provider: 'local', region: LOCAL_REGION, keyId },
});

/** The SecretStore for local key material: opt-in key files when KMS_ENVELOPE_KEY_FILE_DIR is set, else the OS keychain. */
export function localSecretStore(env: Env): SecretStore {
  const dir = env[KEY_FILE_DIR_ENV];
  return dir ? new FileSecretStore(dir) : new KeytarSecretStore();
}

export class LocalKmsProvider implements KmsProvider {
  readonly name = localProvider.name;
  readonly profile = 'default';
  readonly deletionWindow = localProvider.deletionWindow;
  readonly store: LocalMetadataStore;
  readonly secrets: SecretStore;
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(opts: LocalProviderOptions) {
    this.secrets = opts.secretStore;
    this.store = new LocalMetadataStore(opts.configDir);
    this.log = opts.logger ?? nullLogger;
    this.now = opts.now ?? Date.now;
  }

  /** Where key material is kept, for messages ("the OS keychain", "key files in …"). */
  get materialLocation(): string {
    return this.secrets.description;
  }

  // ---- listing and lookup ------------------------------------------------------------------

  async listRegions(opts?: CallOptions): Promise<string[]> {
    throwIfAborted(opts?.signal);
    return [LOCAL_REGION];
  }

  async listKeys(region: string, opts: ListKeysOptions = {}): Promise<ListKeysPage> {
    throwIfAborted(opts.signal);
    this.checkRegion(region);
    const data = await this.load();
    const all = [...data.keys].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
    const size = Math.min(1000, Math.max(1, Math.floor(opts.pageSize ?? 100)));
    const start = opts.nextToken ? Number.parseInt(opts.nextToken, 10) : 0;
    if (!Number.isInteger(start) || start < 0) {
      throw usageError(`"${opts.nextToken}" is not a page token of the local provider.`, 'Start the listing again without a token.');
    }
    const keys = all.slice(start, start + size).map(toMetadata);
    const next = start + size < all.length ? String(start + size) : undefined;
    return { keys, nextToken: next, total: all.length };
  }

  async describeKey(region: string, keyIdOrAlias: string, opts?: CallOptions): Promise<KeyMetadata> {
    throwIfAborted(opts?.signal);
    this.checkRegion(region, keyIdOrAlias);
    return toMetadata(this.find(await this.load(), keyIdOrAlias));
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  async createKey(region: string, opts: CreateKeyOptions = {}): Promise<KeyMetadata> {
    throwIfAborted(opts.signal);
    this.checkRegion(region);
    const alias = opts.alias === undefined || opts.alias === '' ? undefined : normaliseAlias(opts.alias);
    const material = randomBytes(KEY_BYTES);
    try {
      return await this.addKey(material, { alias, description: opts.description, keyId: `local-${randomUUID()}`, origin: 'generated' });
    } finally {
      material.fill(0);
    }
  }

  /**
   * Imports existing key material (a teammate's export, a backup of a lost machine).
   * With the key id it had before, blobs sealed to it open here.
   */
  async importKey(material: Buffer, opts: ImportKeyOptions = {}): Promise<KeyMetadata> {
    throwIfAborted(opts.signal);
    if (material.length !== KEY_BYTES) {
      throw usageError(`Local key material must be ${KEY_BYTES} bytes (AES-256); got ${material.length}.`, [
        'Import a file written by a key export (',
        { action: 'exportKey', provider: 'local' },
        ').',
      ]);
    }
    const keyId = opts.keyId ?? `local-${randomUUID()}`;
    if (!KEY_ID_PATTERN.test(keyId)) {
      throw usageError(`"${keyId}" is not a local key id.`, [
        'Local key ids look like local-<letters, digits, "-" or "_">, as the key list shows them (',
        { action: 'listKeys', provider: 'local' },
        ').',
      ]);
    }
    const alias = opts.alias === undefined || opts.alias === '' ? undefined : normaliseAlias(opts.alias);
    return this.addKey(material, { alias, description: opts.description, keyId, origin: 'imported' });
  }

  private async addKey(
    material: Buffer,
    o: { alias?: string; description?: string; keyId: string; origin: LocalKeyRecord['origin'] },
  ): Promise<KeyMetadata> {
    return this.store.update(async (data) => {
      await this.purgeDue(data);
      if (data.keys.some((k) => k.id === o.keyId)) {
        throw providerError(
          `A local key with id ${o.keyId} already exists.`,
          ['Nothing to import: describe it with ', keyStep('describeKey', o.keyId), '.'],
          { provider: 'local', region: LOCAL_REGION, keyId: o.keyId, providerCode: LOCAL_ERROR_CODES.keyExists },
        );
      }
      if (o.alias) this.checkAliasFree(data, o.alias);
      const existing = await this.secrets.get(LOCAL_KEYS_SERVICE, o.keyId);
      if (existing !== undefined) {
        const same = Buffer.from(existing, 'base64').equals(material);
        if (!same) {
          throw providerError(
            `Different key material for ${o.keyId} is already stored in ${this.secrets.description}.`,
            [
              'Import it under another id (',
              { action: 'importKey', provider: 'local', keyId: '<new id>' },
              '), or remove the stale entry from the keychain first.',
            ],
            { provider: 'local', region: LOCAL_REGION, keyId: o.keyId, providerCode: LOCAL_ERROR_CODES.keyExists },
          );
        }
        // Same material already present (metadata was lost): re-attach it.
      } else {
        await this.secrets.set(LOCAL_KEYS_SERVICE, o.keyId, material.toString('base64'));
      }
      const rec: LocalKeyRecord = {
        id: o.keyId,
        ...(o.alias ? { alias: o.alias } : {}),
        ...(o.description ? { description: o.description } : {}),
        state: 'Enabled',
        createdAt: new Date(this.now()).toISOString(),
        origin: o.origin,
      };
      data.keys.push(rec);
      this.log.info(`local: ${o.origin === 'generated' ? 'created' : 'imported'} key ${rec.id}${rec.alias ? ` (${rec.alias})` : ''}`);
      return { data, result: toMetadata(rec) };
    });
  }

  async enableKey(region: string, keyId: string, opts?: CallOptions): Promise<void> {
    await this.mutate(region, keyId, opts, (rec) => {
      if (rec.state === 'PendingDeletion') throw this.pendingDeletionError(rec, 'enable');
      rec.state = 'Enabled';
    });
  }

  async disableKey(region: string, keyId: string, opts?: CallOptions): Promise<void> {
    await this.mutate(region, keyId, opts, (rec) => {
      if (rec.state === 'PendingDeletion') throw this.pendingDeletionError(rec, 'disable');
      rec.state = 'Disabled';
    });
  }

  async setAlias(region: string, keyId: string, alias: string, opts?: CallOptions): Promise<void> {
    const a = normaliseAlias(alias);
    await this.mutate(region, keyId, opts, (rec, data) => {
      if (rec.alias === a) return;
      this.checkAliasFree(data, a);
      rec.alias = a;
    });
  }

  async setDescription(region: string, keyId: string, description: string, opts?: CallOptions): Promise<void> {
    if (description.length > 1024)
      throw usageError(`A local key description holds up to 1024 characters (got ${description.length}).`, 'Shorten the description.');
    await this.mutate(region, keyId, opts, (rec) => {
      if (description) rec.description = description;
      else delete rec.description;
    });
  }

  async scheduleDeletion(
    region: string,
    keyId: string,
    pendingWindowInDays: number,
    opts?: CallOptions,
  ): Promise<{ deletionDate?: string }> {
    checkDeletionWindow(localProvider, pendingWindowInDays);
    let date = '';
    await this.mutate(region, keyId, opts, (rec) => {
      if (rec.state === 'PendingDeletion') {
        throw providerError(
          `Local key ${label(rec)} is already pending deletion (on ${rec.deletionDate}).`,
          ['Cancel it with ', keyStep('cancelDeletion', rec.id), ' if that was a mistake.'],
          this.details(rec, LOCAL_ERROR_CODES.pendingDeletion),
        );
      }
      if (rec.state !== 'Disabled') {
        throw providerError(
          `Local key ${label(rec)} is enabled; only a disabled key can be scheduled for deletion.`,
          ['Disable it first: ', keyStep('disableKey', rec.id), ', then schedule the deletion again.'],
          this.details(rec, LOCAL_ERROR_CODES.mustBeDisabled),
        );
      }
      rec.state = 'PendingDeletion';
      date = new Date(this.now() + pendingWindowInDays * DAY_MS).toISOString();
      rec.deletionDate = date;
    });
    return { deletionDate: date };
  }

  async cancelDeletion(region: string, keyId: string, opts?: CallOptions): Promise<void> {
    await this.mutate(region, keyId, opts, (rec) => {
      if (rec.state !== 'PendingDeletion') {
        throw providerError(
          `Local key ${label(rec)} is not pending deletion (it is ${rec.state}).`,
          'There is no deletion to cancel; describe the key to see its state.',
          this.details(rec, LOCAL_ERROR_CODES.notPendingDeletion),
        );
      }
      rec.state = 'Disabled';
      delete rec.deletionDate;
    });
  }

  // ---- data keys ---------------------------------------------------------------------------

  async generateDataKey(region: string, keyIdOrAlias: string, context: EncryptionContext, opts?: CallOptions): Promise<DataKey> {
    const { rec, material } = await this.usableKey(region, keyIdOrAlias, opts);
    try {
      const plaintext = randomBytes(KEY_BYTES);
      return { plaintext, ciphertext: wrap(material, plaintext, context), keyId: rec.id };
    } finally {
      material.fill(0);
    }
  }

  async encryptDataKey(
    region: string,
    keyIdOrAlias: string,
    plaintext: Buffer,
    context: EncryptionContext,
    opts?: CallOptions,
  ): Promise<{ ciphertext: Buffer; keyId: string }> {
    const { rec, material } = await this.usableKey(region, keyIdOrAlias, opts);
    try {
      return { ciphertext: wrap(material, plaintext, context), keyId: rec.id };
    } finally {
      material.fill(0);
    }
  }

  async decryptDataKey(
    region: string,
    keyId: string,
    ciphertext: Buffer,
    context: EncryptionContext,
    opts?: CallOptions,
  ): Promise<{ plaintext: Buffer; keyId: string }> {
    const { rec, material } = await this.usableKey(region, keyId, opts);
    try {
      const plaintext = unwrap(material, ciphertext, context);
      if (!plaintext) {
        throw formatError(
          `The data key does not decrypt under local key ${label(rec)}.`,
          [
            'It was wrapped by another key, altered, or the encryption context differs; check the encryption context and the key the header names (',
            { action: 'inspect' },
            ').',
          ],
          this.details(rec, LOCAL_ERROR_CODES.invalidCiphertext),
        );
      }
      return { plaintext, keyId: rec.id };
    } finally {
      material.fill(0);
    }
  }

  /**
   * The wrapping key for the Encryption SDK's stock RawAesKeyringNode (keyNamespace 'local',
   * keyName = key id). The envelope engine feature-detects this method. Same state rules as the
   * data-key operations: the key must be Enabled, for sealing and for unsealing.
   */
  async rawAesWrappingKey(region: string, keyIdOrAlias: string, opts?: CallOptions): Promise<RawAesWrappingKey> {
    const { rec, material } = await this.usableKey(region, keyIdOrAlias, opts);
    return { keyName: rec.id, material };
  }

  /** Key material and metadata for `kms-envelope keys export` (any state). Caller zeroes `material`. */
  async exportKey(region: string, keyIdOrAlias: string, opts?: CallOptions): Promise<{ metadata: KeyMetadata; material: Buffer }> {
    throwIfAborted(opts?.signal);
    this.checkRegion(region, keyIdOrAlias);
    const rec = this.find(await this.load(), keyIdOrAlias);
    return { metadata: toMetadata(rec), material: await this.materialOf(rec) };
  }

  // ---- internals ---------------------------------------------------------------------------

  private async usableKey(region: string, keyIdOrAlias: string, opts?: CallOptions): Promise<{ rec: LocalKeyRecord; material: Buffer }> {
    throwIfAborted(opts?.signal);
    this.checkRegion(region, keyIdOrAlias);
    const rec = this.find(await this.load(), keyIdOrAlias);
    if (rec.state === 'Disabled') {
      throw providerError(
        `Local key ${label(rec)} in region ${LOCAL_REGION} is disabled.`,
        ['The key is disabled: enable it with ', keyStep('enableKey', rec.id), ', or use another key.'],
        this.details(rec, LOCAL_ERROR_CODES.disabled),
      );
    }
    if (rec.state === 'PendingDeletion') throw this.pendingDeletionError(rec, 'use');
    const material = await this.materialOf(rec);
    throwIfAborted(opts?.signal);
    return { rec, material };
  }

  private async materialOf(rec: LocalKeyRecord): Promise<Buffer> {
    const b64 = await this.secrets.get(LOCAL_KEYS_SERVICE, rec.id);
    const material = b64 === undefined ? undefined : Buffer.from(b64, 'base64');
    if (!material || material.length !== KEY_BYTES) {
      throw providerError(
        `The key material of local key ${label(rec)} is ${material ? 'damaged' : 'missing'} in ${this.secrets.description}.`,
        [
          'Import it from an export or a teammate: ',
          { action: 'importKey', provider: 'local', keyId: rec.id },
          ` (the export carries the key id ${rec.id}). If the keys are in key files, check KMS_ENVELOPE_KEY_FILE_DIR.`,
        ],
        this.details(rec, LOCAL_ERROR_CODES.materialMissing),
      );
    }
    return material;
  }

  private pendingDeletionError(rec: LocalKeyRecord, what: string): KmsEnvelopeError {
    return providerError(
      `Local key ${label(rec)} in region ${LOCAL_REGION} is pending deletion (on ${rec.deletionDate}); it cannot ${what === 'use' ? 'be used' : `be ${what}d`}.`,
      ['Cancel the deletion: ', keyStep('cancelDeletion', rec.id), ', then enable the key: ', keyStep('enableKey', rec.id), '.'],
      this.details(rec, LOCAL_ERROR_CODES.pendingDeletion),
    );
  }

  private details(rec: LocalKeyRecord, providerCode: string) {
    return { provider: 'local', region: LOCAL_REGION, keyId: rec.id, providerCode };
  }

  private checkRegion(region: string, key?: string): void {
    if (region !== LOCAL_REGION) {
      throw usageError(
        `Local keys have one region, "${LOCAL_REGION}"; there is no region "${region}".`,
        `Write the keyref as local:local:${key ?? '<keyId-or-alias>'}.`,
        { provider: 'local', region, keyId: key, providerCode: LOCAL_ERROR_CODES.unknownRegion },
      );
    }
  }

  private checkAliasFree(data: LocalKeyFile, alias: string): void {
    const holder = data.keys.find((k) => k.alias === alias);
    if (holder) {
      throw providerError(
        `The alias "${alias}" is already used by local key ${holder.id}.`,
        [
          'Aliases are unique: pick another alias, or give the other key another alias first (',
          { action: 'setAlias', key: { provider: 'local', region: LOCAL_REGION, keyId: holder.id } },
          ').',
        ],
        { provider: 'local', region: LOCAL_REGION, keyId: holder.id, providerCode: LOCAL_ERROR_CODES.aliasExists },
      );
    }
  }

  private find(data: LocalKeyFile, keyIdOrAlias: string): LocalKeyRecord {
    const ref = keyIdOrAlias.startsWith('alias/') ? keyIdOrAlias.slice(6) : keyIdOrAlias;
    const rec = data.keys.find((k) => k.id === ref) ?? data.keys.find((k) => k.alias === ref);
    if (!rec) {
      throw providerError(
        `There is no local key "${keyIdOrAlias}" (looked up by id and alias in ${this.store.file}).`,
        [
          'List the local keys: ',
          { action: 'listKeys', provider: 'local' },
          '; create one: ',
          { action: 'createKey', provider: 'local' },
          ', or import one from another machine: ',
          { action: 'importKey', provider: 'local' },
          '.',
        ],
        { provider: 'local', region: LOCAL_REGION, keyId: keyIdOrAlias, providerCode: LOCAL_ERROR_CODES.notFound },
      );
    }
    return rec;
  }

  private async mutate(
    region: string,
    keyIdOrAlias: string,
    opts: CallOptions | undefined,
    fn: (rec: LocalKeyRecord, data: LocalKeyFile) => void,
  ): Promise<void> {
    throwIfAborted(opts?.signal);
    this.checkRegion(region, keyIdOrAlias);
    await this.store.update(async (data) => {
      await this.purgeDue(data);
      const rec = this.find(data, keyIdOrAlias);
      fn(rec, data);
      return { data, result: undefined };
    });
  }

  /** Reads the key list, purging (under the lock) keys whose deletion date has passed. */
  private async load(): Promise<LocalKeyFile> {
    const data = await this.store.read();
    if (!data.keys.some((k) => this.isDue(k))) return data;
    return this.store.update(async (fresh) => {
      const changed = await this.purgeDue(fresh);
      return { data: changed ? fresh : undefined, result: fresh };
    });
  }

  private isDue(k: LocalKeyRecord): boolean {
    return k.state === 'PendingDeletion' && !!k.deletionDate && Date.parse(k.deletionDate) <= this.now();
  }

  /** Deletes material then metadata of due keys; a key whose material cannot be deleted yet stays listed. */
  private async purgeDue(data: LocalKeyFile): Promise<boolean> {
    const due = data.keys.filter((k) => this.isDue(k));
    if (due.length === 0) return false;
    const purged = new Set<string>();
    for (const k of due) {
      try {
        await this.secrets.delete(LOCAL_KEYS_SERVICE, k.id);
        purged.add(k.id);
        this.log.info(`local: deleted key ${k.id} (deletion date ${k.deletionDate} passed)`);
      } catch (err) {
        this.log.warn(
          `local: key ${k.id} is due for deletion but its material could not be removed from ${this.secrets.description}: ${(err as Error).message}`,
        );
      }
    }
    data.keys = data.keys.filter((k) => !purged.has(k.id));
    return purged.size > 0;
  }
}

function label(rec: LocalKeyRecord): string {
  return rec.alias ? `${rec.id} (${rec.alias})` : rec.id;
}

function normaliseAlias(alias: string): string {
  const problem = localProvider.aliases.check(alias);
  if (problem) throw usageError(`"${alias}" is not a valid local key alias.`, problem, { provider: 'local', region: LOCAL_REGION });
  return alias.startsWith('alias/') ? alias.slice(6) : alias;
}

function toMetadata(rec: LocalKeyRecord): KeyMetadata {
  return {
    provider: 'local',
    region: LOCAL_REGION,
    keyId: rec.id,
    ...(rec.alias ? { alias: rec.alias } : {}),
    ...(rec.description ? { description: rec.description } : {}),
    state: rec.state,
    createdAt: rec.createdAt,
    ...(rec.deletionDate ? { deletionDate: rec.deletionDate } : {}),
    keyUsage: 'ENCRYPT_DECRYPT',
    keySpec: 'AES_256',
    origin: rec.origin === 'imported' ? 'EXTERNAL' : 'LOCAL',
  };
}
