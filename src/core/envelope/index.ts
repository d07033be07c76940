/**
 * Envelope engine: sealed data is an AWS Encryption SDK message (format v2, suite 0x0478
 * ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY, framed, no signature), with one encrypted data
 * key per recipient. See format.ts (message), keyrings.ts (KMS providers as keyrings),
 * recipients.ts (providerInfo layouts) and armor.ts (text form).
 */
export type { Recipient, ProviderResolver, SealOptions, UnsealOptions, HeaderInfo, RecipientInfo } from './types';
export type { RawAesKeySource } from './recipients';
export { isRawAesKeySource, describeEdk, recipientLabel } from './recipients';
export { ARMOR_PREFIX, armor, dearmor, findArmored, isSealed } from './armor';
export {
  DEFAULT_FRAME_LENGTH,
  DEFAULT_MAX_RECIPIENTS,
  sealBuffer,
  unsealBuffer,
  sealStream,
  unsealStream,
  sealFile,
  unsealFile,
  inspect,
} from './engine';
export { SUITE_ID, SUITE_NAME, MAX_FRAME_LENGTH } from './format';
export { CloudKeyring, rawAesKeyring, RAW_AES_WRAPPING_SUITE } from './keyrings';
