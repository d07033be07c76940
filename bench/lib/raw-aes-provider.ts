// A local-style provider for benchmarks: one AES-256 wrapping key held in memory, handed to the
// envelope engine through the RawAesKeySource interface (the same path the real local provider
// takes, minus the keychain read, which happens once per operation and is not what is measured).
import type { RawAesKeySource } from '../../src/core/envelope';
import type { DataKey, KeyMetadata, KmsProvider, ListKeysPage } from '../../src/core/kms/types';

const unused = (): never => {
  throw new Error('not used by the benchmark');
};

export class BenchLocalProvider implements KmsProvider, RawAesKeySource {
  readonly name = 'local' as const;
  readonly profile = 'bench';
  readonly deletionWindow = { min: 7, max: 30, default: 7 };
  constructor(
    private readonly keyId: string,
    private readonly material: Buffer,
  ) {}
  async rawAesWrappingKey(_region: string, keyIdOrAlias: string) {
    if (keyIdOrAlias !== this.keyId) throw new Error(`unknown bench key ${keyIdOrAlias}`);
    return { keyName: this.keyId, material: Buffer.from(this.material) };
  }
  listRegions = async (): Promise<string[]> => ['local'];
  listKeys = async (): Promise<ListKeysPage> => unused();
  describeKey = async (): Promise<KeyMetadata> => unused();
  createKey = async (): Promise<KeyMetadata> => unused();
  enableKey = async (): Promise<void> => unused();
  disableKey = async (): Promise<void> => unused();
  setAlias = async (): Promise<void> => unused();
  setDescription = async (): Promise<void> => unused();
  scheduleDeletion = async (): Promise<{ deletionDate?: string }> => unused();
  cancelDeletion = async (): Promise<void> => unused();
  generateDataKey = async (): Promise<DataKey> => unused();
  encryptDataKey = async (): Promise<{ ciphertext: Buffer; keyId: string }> => unused();
  decryptDataKey = async (): Promise<{ plaintext: Buffer; keyId: string }> => unused();
}
