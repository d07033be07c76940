/**
 * The provider interface every KMS implements (local, tencent, alibaba, and whatever is registered
 * in ./registry.ts), plus the credentials port: what a provider is handed to sign its calls.
 * One shared conformance suite (test/conformance) runs against each implementation.
 *
 * Identifiers: `ProviderName` is the short name used in keyrefs, settings, profiles and the CLI
 * (`local`, `tencent`, `alibaba`, ...). The set is open: the registry is the only list, and each
 * provider's descriptor (./<provider>/descriptor.ts) says everything else about it, including the
 * Encryption SDK `providerId` written into each encrypted data key.
 */
export type ProviderName = string;

/** Environment variables as a composition root hands them down (never read from `process` below it). */
export type Env = Readonly<Record<string, string | undefined>>;

/**
 * The credentials of one profile, by part key (`CredentialPart.key` of the provider's descriptor).
 * Lives only in memory and in the OS keychain (never in settings, logs, files or argv).
 * Access-key clouds use `accessKeyId` / `accessKeySecret` / `securityToken` (Tencent: SecretId /
 * SecretKey / session token; Alibaba: AccessKeyId / AccessKeySecret / SecurityToken); a provider of
 * another shape declares its own part keys (a client key and its password, a CA certificate, ...).
 */
export interface CloudCredentials {
  readonly [part: string]: string | undefined;
  accessKeyId?: string;
  accessKeySecret?: string;
  securityToken?: string;
  /** ISO 8601 expiry of temporary (STS) credentials. */
  expiration?: string;
}

/**
 * Hands a provider the credentials of its profile. Called once per attempt of a request (see
 * ./cloud-call.ts), so a rotated secret or refreshed temporary key applies to the next attempt.
 */
export type CredentialsProvider = () => Promise<CloudCredentials>;

/** Normalised key state; each provider maps its own names onto these. */
export type KeyState = 'Enabled' | 'Disabled' | 'PendingDeletion' | 'PendingImport' | 'Archived' | 'Unknown';

export interface KeyMetadata {
  provider: ProviderName;
  region: string;
  keyId: string;
  /** Alias without any `alias/` prefix the cloud may add. */
  alias?: string;
  /** Cloud resource name (Alibaba ARN, Tencent ResourceId) when there is one. */
  arn?: string;
  description?: string;
  state: KeyState;
  /** ISO 8601. */
  createdAt?: string;
  /** ISO 8601, when state is PendingDeletion. */
  deletionDate?: string;
  keyUsage?: string;
  keySpec?: string;
  origin?: string;
  rotationEnabled?: boolean;
  /** Alibaba: the KMS 3.0 instance (kst-…) that holds the key. */
  instanceId?: string;
}

export interface ListKeysPage {
  keys: KeyMetadata[];
  /** Opaque token for the next page; absent on the last page. */
  nextToken?: string;
  /** Total number of keys in the region when the cloud reports it. */
  total?: number;
}

export interface ListKeysOptions {
  /** Token from the previous page; absent for the first page. */
  nextToken?: string;
  /** Page size wanted (the provider clamps it to what the cloud allows). */
  pageSize?: number;
  signal?: AbortSignal;
}

export interface CreateKeyOptions {
  alias?: string;
  description?: string;
  signal?: AbortSignal;
}

/** String map stored in the blob header and sent to the KMS as its EncryptionContext. */
export type EncryptionContext = Record<string, string>;

export interface DataKey {
  /** Plaintext data key. Callers must zero it (`.fill(0)`) when done; never log it. */
  plaintext: Buffer;
  /** The KMS's ciphertext of the data key, opaque bytes. */
  ciphertext: Buffer;
  /** The key id the KMS resolved (an alias in the request becomes the real id here). */
  keyId: string;
}

/** What setAlias did besides naming the key: the key's previous aliases it deleted (without `alias/`). */
export interface AliasChange {
  removed: string[];
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface KmsProvider {
  readonly name: ProviderName;
  /** Profile this instance was built for (`default` when none). */
  readonly profile: string;

  listRegions(opts?: CallOptions): Promise<string[]>;
  listKeys(region: string, opts?: ListKeysOptions): Promise<ListKeysPage>;
  /** keyIdOrAlias: key id, alias (Tencent alias, Alibaba `alias/...`) or ARN. */
  describeKey(region: string, keyIdOrAlias: string, opts?: CallOptions): Promise<KeyMetadata>;
  createKey(region: string, opts?: CreateKeyOptions): Promise<KeyMetadata>;
  enableKey(region: string, keyId: string, opts?: CallOptions): Promise<void>;
  disableKey(region: string, keyId: string, opts?: CallOptions): Promise<void>;
  /**
   * Names the key `alias`, replacing its alias: afterwards the key carries this one alias (where the
   * cloud lets a key carry several, Alibaba and AWS, its previous aliases are deleted and returned).
   */
  setAlias(region: string, keyId: string, alias: string, opts?: CallOptions): Promise<AliasChange | void>;
  setDescription(region: string, keyId: string, description: string, opts?: CallOptions): Promise<void>;
  /** Returns the ISO date the key will be deleted. */
  scheduleDeletion(region: string, keyId: string, pendingWindowInDays: number, opts?: CallOptions): Promise<{ deletionDate?: string }>;
  cancelDeletion(region: string, keyId: string, opts?: CallOptions): Promise<void>;

  /** Data-key operations used by the keyring adapter (src/core/envelope). */
  generateDataKey(region: string, keyIdOrAlias: string, context: EncryptionContext, opts?: CallOptions): Promise<DataKey>;
  encryptDataKey(
    region: string,
    keyIdOrAlias: string,
    plaintext: Buffer,
    context: EncryptionContext,
    opts?: CallOptions,
  ): Promise<{ ciphertext: Buffer; keyId: string }>;
  decryptDataKey(
    region: string,
    keyId: string,
    ciphertext: Buffer,
    context: EncryptionContext,
    opts?: CallOptions,
  ): Promise<{ plaintext: Buffer; keyId: string }>;

  /** Deletion window bounds the provider accepts, for UIs and validation. */
  readonly deletionWindow: { min: number; max: number; default: number };
}
