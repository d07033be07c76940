/**
 * The registry: THE list of providers, and how an instance of one is built once its credentials are
 * known. Everything else asks the registry (by provider name, or by the Encryption SDK providerId a
 * blob names) and reads the provider's descriptor; nothing else lists providers.
 *
 * A new provider is its folder `src/core/kms/<name>/` (descriptor.ts + implementation) and ONE entry
 * in BUILT_IN below (docs/providers.md). Tests and embedders may add one at run time with
 * `registerProvider`.
 *
 * This module builds providers with the credentials it is HANDED (`ProviderOptions.credentials`);
 * finding a profile and its secret is src/core/credentials' job (openProvider there composes both).
 */
import { credentialsError, providerError, usageError } from '../errors';
import { nullLogger, type Logger } from '../log';
import { configDir } from '../paths';
import type { SecretStore } from '../secrets';
import { chooseEndpoint } from './endpoint';
import { envPartsText, type ProviderDescriptor } from './descriptor';
import type { RetryPolicy } from './retry';
import type { CredentialsProvider, Env, KmsProvider, ProviderName } from './types';
import { alibabaProvider } from './alibaba/descriptor';
import { alibabaInstanceProvider } from './alibaba-instance/descriptor';
import { awsProvider } from './aws/descriptor';
import { localProvider } from './local/descriptor';
import { tencentProvider } from './tencent/descriptor';

/** The built-in providers, in the order the Keys view, pickers and help list them. */
const BUILT_IN: readonly ProviderDescriptor[] = [localProvider, tencentProvider, alibabaProvider, alibabaInstanceProvider, awsProvider];

const registered: ProviderDescriptor[] = [...BUILT_IN];

/** Every registered provider, in registry order. */
export function providers(): readonly ProviderDescriptor[] {
  return registered;
}

/** Providers that take credentials (have profiles). */
export function cloudProviders(): ProviderDescriptor[] {
  return registered.filter((d) => !!d.credentials);
}

export function findProvider(name: string | undefined): ProviderDescriptor | undefined {
  return name === undefined ? undefined : registered.find((d) => d.name === name);
}

/** The descriptor of a registered provider; a usage error naming the known ones otherwise. */
export function providerDescriptor(name: string): ProviderDescriptor {
  const d = findProvider(name);
  if (!d) throw usageError(`Unknown provider "${name}".`, `Use one of: ${registered.map((x) => x.name).join(', ')}.`);
  return d;
}

/** "Tencent Cloud KMS" (the name itself for a provider this build does not know). */
export function providerLabel(name: string): string {
  return findProvider(name)?.label ?? name;
}

/** Providers whose blobs carry this Encryption SDK providerId (unseal tries them in this order). */
export function providersForKeyring(providerId: string): ProviderDescriptor[] {
  return registered.filter((d) => d.keyring.providerId === providerId);
}

/** Adds a provider at run time (tests, embedders); dispose() removes it again. */
export function registerProvider(d: ProviderDescriptor): { dispose(): void } {
  if (findProvider(d.name)) throw usageError(`A provider named "${d.name}" is already registered.`);
  registered.push(d);
  return {
    dispose: () => {
      const i = registered.indexOf(d);
      if (i >= 0) registered.splice(i, 1);
    },
  };
}

export interface ProviderOptions {
  /** Profile name, for messages (`default` when none). */
  profile?: string;
  /** The profile's credentials, read per attempt; required by providers that take credentials. */
  credentials?: CredentialsProvider;
  /** The profile's non-secret parts. */
  settings?: Record<string, string>;
  /** Explicit endpoint override (--endpoint). */
  endpoint?: string;
  /** The profile's endpoint override (used when there is no explicit one). */
  profileEndpoint?: string;
  /** Default region for calls that need one (region list). */
  region?: string;
  logger?: Logger;
  /** Environment as the composition root hands it down (endpoint and key-file variables). Default: none. */
  env?: Env;
  /** Default: paths.configDir(env). */
  configDir?: string;
  /** Where key material kept on this machine lives (local); default: the provider's own choice. */
  secretStore?: SecretStore;
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
}

/** createProvider's shape, for the services handed one (tests hand in their own). */
export type CreateProvider = (
  name: ProviderName,
  opts: Pick<ProviderOptions, 'profile' | 'endpoint' | 'region' | 'logger' | 'env' | 'credentials' | 'settings'>,
) => Promise<KmsProvider>;

/** Builds a provider instance from its descriptor with the credentials handed in. */
export async function createProvider(name: ProviderName, opts: ProviderOptions = {}): Promise<KmsProvider> {
  const d = findProvider(name);
  if (!d) {
    throw providerError(
      `There is no ${name} provider in this build.`,
      `Use one of: ${registered.map((x) => x.name).join(', ')} (the keyref names the provider first: <provider>:<region>:<key>).`,
      { provider: name },
    );
  }
  const env = opts.env ?? {};
  return d.create({
    profile: opts.profile || 'default',
    credentials: opts.credentials ?? (d.credentials ? missingCredentials(d, opts.profile) : async () => ({})),
    settings: opts.settings ?? {},
    endpoint: d.endpoint ? chooseEndpoint(d, { explicit: opts.endpoint, profile: opts.profileEndpoint, env }) : undefined,
    defaultRegion: opts.region,
    logger: opts.logger ?? nullLogger,
    env,
    configDir: opts.configDir ?? configDir(env),
    secretStore: opts.secretStore,
    timeoutMs: opts.timeoutMs,
    retry: opts.retry,
  });
}

/** Credentials of a provider built without any: every call fails with what to do. */
function missingCredentials(d: ProviderDescriptor, profile: string | undefined): CredentialsProvider {
  return async () => {
    const vars = d.credentials && envPartsText(d.credentials);
    throw credentialsError(
      `No ${d.vendor} credentials were given${profile ? ` for profile ${profile}` : ''}.`,
      ['Add a profile (', { action: 'addProfile', provider: d.name, name: 'default' }, `)${vars ? `, or export ${vars}` : ''}.`],
      { provider: d.name, profile },
    );
  };
}
