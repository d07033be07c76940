/**
 * Builds a KmsProvider by name for the CLI and the extension, and a ProviderResolver for unseal
 * (the blob names provider and region of each recipient; the resolver hands out one cached
 * instance per provider).
 *
 * `local`: LocalKmsProvider over the OS keychain (KeytarSecretStore, which loads the native keytar
 * module only on first use), or over opt-in key files when KMS_ENVELOPE_KEY_FILE_DIR is set (the
 * CLI's --key-file-dir sets it) — see src/core/kms/local/file-store.ts.
 * Cloud providers are loaded with dynamic imports so their SDKs stay off the local-only path.
 */
import { providerError } from '../errors';
import type { Logger } from '../log';
import { configDir } from '../paths';
import { KeytarSecretStore, type SecretStore } from '../secrets';
import type { CredentialsProvider } from '../credentials/types';
import type { KmsProvider, ProviderName } from './types';
import { FileSecretStore, KEY_FILE_DIR_ENV } from './local/file-store';
import { LocalKmsProvider } from './local/index';

export interface ProviderOptions {
  profile?: string;
  /** Endpoint override (emulator, private endpoint); clouds only. */
  endpoint?: string;
  /** Default region for calls that need one (clouds). */
  region?: string;
  /** Where the local provider keeps key material; default: keychain, or key files when opted in. */
  secretStore?: SecretStore;
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
  credentials?: CredentialsProvider;
}

/** The SecretStore for local key material: opt-in key files when KMS_ENVELOPE_KEY_FILE_DIR is set, else the OS keychain. */
export function localSecretStore(env: NodeJS.ProcessEnv = process.env): SecretStore {
  const dir = env[KEY_FILE_DIR_ENV];
  return dir ? new FileSecretStore(dir) : new KeytarSecretStore();
}

export async function createProvider(name: ProviderName, opts: ProviderOptions = {}): Promise<KmsProvider> {
  const env = opts.env ?? process.env;
  switch (name) {
    case 'local': {
      return new LocalKmsProvider({
        secretStore: opts.secretStore ?? localSecretStore(env),
        configDir: configDir(env),
        logger: opts.logger,
      });
    }
    case 'tencent':
    case 'alibaba': {
      // Credentials: opts.credentials → the credentials service (stored profile, or discovered
      // env vars / tccli / aliyun CLI files) → the standard env vars. Endpoint: opts.endpoint →
      // the profile's endpoint → KMS_ENVELOPE_ENDPOINT → public. See cloud-factory.ts.
      const { createCloudProvider, profileResolverFrom } = await import('./cloud-factory.js');
      let resolveProfile;
      if (!opts.credentials) {
        const { createCliCredentialService } = await import('../credentials/index.js');
        resolveProfile = profileResolverFrom(createCliCredentialService({ env, logger: opts.logger }));
      }
      return createCloudProvider(name, {
        profile: opts.profile,
        credentials: opts.credentials,
        resolveProfile,
        endpoint: opts.endpoint,
        defaultRegion: opts.region,
        logger: opts.logger,
        env,
      });
    }
    case 'aws':
    default:
      throw providerError(
        `The ${name} provider is not available in this build.`,
        'Use a local key (keyref local:local:<key>), or a build of kms-envelope that includes the cloud providers.',
        { provider: name },
      );
  }
}

export type ProviderResolver = (name: string, region: string) => Promise<KmsProvider | undefined>;

/**
 * A resolver for unseal: one provider instance per name, built on first use and cached.
 * Unknown provider names resolve to undefined (the engine then tries the next recipient).
 * A provider that fails to build (no credentials) rejects, so unseal can report why.
 */
export function providerResolver(opts: ProviderOptions = {}): ProviderResolver {
  const cache = new Map<string, Promise<KmsProvider>>();
  return async (name: string) => {
    if (!['local', 'tencent', 'alibaba', 'aws'].includes(name)) return undefined;
    let p = cache.get(name);
    if (!p) {
      p = createProvider(name as ProviderName, opts);
      cache.set(name, p);
      p.catch(() => cache.delete(name));
    }
    return p;
  };
}
