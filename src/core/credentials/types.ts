/**
 * The credentials port, as this layer uses it. The types live with the KMS types
 * (src/core/kms/types.ts, src/core/kms/descriptor.ts): providers are handed credentials and never
 * reach up here.
 */
export type { CloudCredentials, CredentialsProvider } from '../kms/types';
export type { DiscoveredProfile, ProfileInfo, ProfileSource } from '../kms/descriptor';
export { maskKeyId } from '../kms/descriptor';
