/**
 * Where credentials meet providers: a provider instance for a provider name and profile, its
 * credentials resolved by the credentials service and HANDED to the provider (src/core/kms never
 * reaches up here), and the resolver unseal uses. The CLI and the extension compose these with
 * their own service; the walk from `seal --key` down to the KMS call is front door → here →
 * kms/registry → the provider → cloudCall → SDK.
 */
import { providerDescriptor, createProvider, findProvider, type ProviderOptions } from '../kms/registry';
import type { CredentialsProvider, KmsProvider, ProviderName } from '../kms/types';
import type { ProfileInfo } from '../kms/descriptor';

/** The part of CredentialService this module uses. */
export interface ProfileResolver {
  resolve(provider: ProviderName, name?: string): Promise<{ profile: ProfileInfo; credentials: CredentialsProvider }>;
}

export type OpenOptions = Omit<ProviderOptions, 'credentials' | 'settings' | 'profileEndpoint'>;

/**
 * A provider instance: for a provider with credentials, the named profile (or the default
 * resolution: stored `default`, environment, the vendor CLI's default) and its credentials; for one
 * without (local), just the provider. `service` is called only when credentials are needed, so a
 * local-only run never builds the credentials service.
 */
export async function openProvider(
  service: ProfileResolver | (() => ProfileResolver | Promise<ProfileResolver>),
  name: ProviderName,
  opts: OpenOptions,
): Promise<KmsProvider> {
  const d = findProvider(name);
  if (!d?.credentials) return createProvider(name, opts);
  const svc = typeof service === 'function' ? await service() : service;
  const r = await svc.resolve(name, opts.profile);
  return createProvider(name, {
    ...opts,
    profile: r.profile.name,
    credentials: r.credentials,
    settings: r.profile.settings,
    profileEndpoint: r.profile.endpoint,
    region: opts.region ?? r.profile.regions?.[0],
  });
}

export type ProviderResolver = (name: ProviderName, region: string) => Promise<KmsProvider | undefined>;

/**
 * A resolver for unseal: one provider instance per name, built on first use and cached. Names of
 * providers this build does not know resolve to undefined (the engine then tries the next
 * recipient); a provider that fails to build (no credentials) rejects, so unseal can report why.
 */
export function providerResolver(open: (name: ProviderName) => Promise<KmsProvider>): ProviderResolver {
  const cache = new Map<string, Promise<KmsProvider>>();
  return async (name: string) => {
    if (!findProvider(name)) return undefined;
    let p = cache.get(name);
    if (!p) {
      p = open(providerDescriptor(name).name);
      cache.set(name, p);
      p.catch(() => cache.delete(name));
    }
    return p;
  };
}
