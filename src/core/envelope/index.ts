/**
 * Envelope library: sealed data is an AWS Encryption SDK message (format v2, suite 0x0478
 * ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY, framed, no signature), with one encrypted data
 * key per recipient. header.ts (header parse/marshal), frames.ts (the framed body), message.ts
 * (keys → header + frame ciphers), engine.ts (buffers, streams, inspect), files.ts (file to file),
 * armor.ts (text form, whole and streaming), magic.ts + sniff.ts (what an input holds),
 * keyrings.ts (KMS providers as keyrings), recipients.ts (providerInfo layouts).
 */
export type { Recipient, ProviderResolver, SealOptions, UnsealOptions, HeaderInfo, RecipientInfo } from './types';
export type { RawAesKeySource } from './recipients';
export { isRawAesKeySource, describeEdk, recipientLabel } from './recipients';
export { ARMOR_PREFIX, armor, dearmor, findArmored, isSealed, armorEncoder, armorDecoder } from './armor';
export { sniffHead, isBinaryHead, isArmoredHead, type HeadKind } from './magic';
export { openSealedInput, scanArmored, sniffFile, peek, type ArmoredValue, type SealedInput } from './sniff';
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
  sealToFile,
  unsealToFile,
} from './engine';
export { SUITE_ID, SUITE_NAME, MAX_FRAME_LENGTH, MAX_CONTEXT_BYTES } from './header';
export { CloudKeyring, rawAesKeyring, RAW_AES_WRAPPING_SUITE } from './keyrings';
