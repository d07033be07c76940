import type { NodeMaterialsManager } from '@aws-crypto/material-management-node';
import type { EncryptionContext, KmsProvider, ProviderName } from '../kms/types';
import type { RecipientInfo } from './recipients';

/** One key a blob is sealed for. `key` is a key id or alias. */
export interface Recipient {
  provider: KmsProvider;
  region: string;
  key: string;
}

/** Called on unseal for each EDK's provider; return undefined if this machine cannot reach it. */
export type ProviderResolver = (name: ProviderName, region: string) => Promise<KmsProvider | undefined>;

export interface SealOptions {
  /** The first recipient generates the data key; each further one encrypts the same data key. */
  recipients: Recipient[];
  /** Stored (authenticated) in the header and passed to each KMS as its EncryptionContext. */
  context?: EncryptionContext;
  /** Plaintext bytes per frame; DEFAULT_FRAME_LENGTH when absent. */
  frameLength?: number;
  signal?: AbortSignal;
  /** Plaintext bytes consumed so far. */
  onProgress?: (bytesDone: number) => void;
  /**
   * Where the data key comes from instead of a new materials manager over the recipients' keyrings: a
   * caching one shared by the values of one bulk operation (cache.ts), built for these recipients.
   */
  materials?: NodeMaterialsManager;
  /** Plaintext length when known in advance (a caching materials manager counts bytes with it). */
  plaintextLength?: number;
}

export interface UnsealOptions {
  resolve: ProviderResolver;
  /** Each k=v given must be present in the header, else a format error (before any KMS call). */
  context?: EncryptionContext;
  /** Cap on the EDKs a blob may list (and that are tried); default 10. */
  maxRecipients?: number;
  signal?: AbortSignal;
  /** Sealed bytes consumed so far (compare with the input file size for a progress bar). */
  onProgress?: (bytesDone: number) => void;
  /** Where the data key comes from instead of a new materials manager over the resolver (cache.ts). */
  materials?: NodeMaterialsManager;
}

export interface HeaderInfo {
  /** Message format version (2). */
  version: number;
  /** Algorithm suite id, 0x0478 = 1144 for blobs made here. */
  suiteId: number;
  suiteName: string;
  frameLength: number;
  /** Hex. */
  messageId: string;
  /** User context; reserved `aws-crypto-*` keys excluded. */
  context: EncryptionContext;
  recipients: RecipientInfo[];
}

export type { RecipientInfo };
