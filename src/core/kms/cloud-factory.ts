/**
 * Builds the Tencent / Alibaba providers for the registry (src/core/kms/registry.ts), the CLI and
 * the extension, resolving credentials and endpoint in a fixed order:
 *
 * credentials: opts.credentials → the credentials service's profile (when a resolver is given)
 *              → the standard environment variables (read on every request):
 *              Tencent  TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY, TENCENTCLOUD_SESSION_TOKEN
 *              Alibaba  ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET, ALIBABA_CLOUD_SECURITY_TOKEN
 * endpoint:    opts.endpoint (--endpoint) → the profile's endpoint → env KMS_ENVELOPE_ENDPOINT → public
 *
 * The provider modules (and with them the cloud SDKs) are imported only when a cloud provider is
 * asked for, so the local-only path of the CLI starts fast.
 */
import { credentialsError } from '../errors';
import type { Logger } from '../log';
import type { CloudCredentials, CredentialsProvider, ProfileInfo } from '../credentials/types';
import type { RetryPolicy } from './retry';
import type { KmsProvider } from './types';

export type CloudName = 'tencent' | 'alibaba';

export const CLOUD_ENV = {
  tencent: { id: 'TENCENTCLOUD_SECRET_ID', secret: 'TENCENTCLOUD_SECRET_KEY', token: 'TENCENTCLOUD_SESSION_TOKEN' },
  alibaba: { id: 'ALIBABA_CLOUD_ACCESS_KEY_ID', secret: 'ALIBABA_CLOUD_ACCESS_KEY_SECRET', token: 'ALIBABA_CLOUD_SECURITY_TOKEN' },
} as const;

export const ENDPOINT_ENV = 'KMS_ENVELOPE_ENDPOINT';

/** Credentials from the provider's standard environment variables, read at each call. */
export function envCredentials(name: CloudName, env: NodeJS.ProcessEnv = process.env): CredentialsProvider {
  const v = CLOUD_ENV[name];
  return async (): Promise<CloudCredentials> => {
    const id = env[v.id];
    const secret = env[v.secret];
    if (!id || !secret) {
      throw credentialsError(
        `No ${name === 'tencent' ? 'Tencent Cloud' : 'Alibaba Cloud'} credentials: no profile was found and ${v.id} / ${v.secret} are not set.`,
        `Add a profile (\`kms-envelope profiles add --provider ${name} --name default\`, or in the sidebar), or export ${v.id} and ${v.secret}.`,
        { provider: name },
      );
    }
    return { accessKeyId: id, accessKeySecret: secret, securityToken: env[v.token] || undefined };
  };
}

/** What the credentials service returns for a provider/profile (src/core/credentials/service.ts). */
export interface ResolvedProfile {
  profile: ProfileInfo;
  credentials: CredentialsProvider;
}

export interface CloudProviderFactoryOptions {
  profile?: string;
  credentials?: CredentialsProvider;
  /** Looks up a stored/discovered profile; returns undefined when there is none. */
  resolveProfile?: (provider: CloudName, profile?: string) => Promise<ResolvedProfile | undefined>;
  endpoint?: string;
  /** Region for calls that are not about a region (GetRegions / DescribeRegions). */
  defaultRegion?: string;
  logger?: Logger;
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  env?: NodeJS.ProcessEnv;
}

/** The part of the credentials service (src/core/credentials/service.ts) the factory uses. */
export interface ProfileSource {
  resolve(provider: CloudName, name?: string): Promise<ResolvedProfile>;
  tryResolve(provider: CloudName, name?: string): Promise<ResolvedProfile | undefined>;
}

/**
 * A resolveProfile over the credentials service: a named profile must exist (the service's
 * error lists the profiles there are); without a name, the default profile or a discovered one
 * (environment variables, tccli / aliyun CLI files) is used when there is one.
 */
export function profileResolverFrom(service: ProfileSource): NonNullable<CloudProviderFactoryOptions['resolveProfile']> {
  return (provider, name) => (name ? service.resolve(provider, name) : service.tryResolve(provider));
}

export async function createCloudProvider(name: CloudName, opts: CloudProviderFactoryOptions = {}): Promise<KmsProvider> {
  const env = opts.env ?? process.env;
  let credentials = opts.credentials;
  let profileName = opts.profile || 'default';
  let profileEndpoint: string | undefined;
  let defaultRegion = opts.defaultRegion;
  if (!credentials && opts.resolveProfile) {
    const r = await opts.resolveProfile(name, opts.profile);
    if (r) {
      credentials = r.credentials;
      profileName = r.profile.name;
      profileEndpoint = r.profile.endpoint;
      defaultRegion ??= r.profile.regions?.[0];
    }
  }
  if (!credentials) {
    if (opts.profile && opts.profile !== 'default' && opts.resolveProfile) {
      throw credentialsError(
        `There is no ${name} profile named ${opts.profile}.`,
        `List the profiles: \`kms-envelope profiles list\`, or add it: \`kms-envelope profiles add --provider ${name} --name ${opts.profile}\`.`,
        { provider: name, profile: opts.profile },
      );
    }
    credentials = envCredentials(name, env);
  }
  const endpoint = opts.endpoint || profileEndpoint || env[ENDPOINT_ENV] || undefined;
  const common = {
    profile: profileName,
    credentials,
    endpoint,
    logger: opts.logger,
    timeoutMs: opts.timeoutMs,
    retry: opts.retry,
    defaultRegion,
  };
  if (name === 'tencent') {
    const { TencentKmsProvider } = await import('./tencent/index.js');
    return new TencentKmsProvider(common);
  }
  const { AlibabaKmsProvider } = await import('./alibaba/index.js');
  return new AlibabaKmsProvider(common);
}
