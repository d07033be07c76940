/**
 * Builds the provider of an Alibaba KMS 3.0 instance profile (descriptor.ts `create`): the instance
 * client from the profile's settings (endpoint, CA) and secrets (client key, password), and, when the
 * profile holds an AccessKey, the public gateway's provider for management.
 */
import { credentialsError } from '../../errors';
import { AlibabaKmsProvider } from '../alibaba/index';
import { cloudOptions, type ProviderContext } from '../descriptor';
import type { KmsProvider } from '../types';
import { AlibabaInstanceProvider } from './provider';

export { AlibabaInstanceProvider } from './provider';

export async function createInstanceProvider(ctx: ProviderContext): Promise<KmsProvider> {
  const { instanceEndpoint, ca } = ctx.settings;
  if (!instanceEndpoint || !ca) {
    throw credentialsError(
      `Profile ${ctx.profile} has no ${instanceEndpoint ? 'CA certificate' : 'instance endpoint'} of its KMS 3.0 instance.`,
      [
        'Add the profile again with its endpoint, CA certificate and client key: ',
        { action: 'addProfile', provider: 'alibaba-instance', name: ctx.profile, replace: true },
        '.',
      ],
      { provider: 'alibaba-instance', profile: ctx.profile },
    );
  }
  return new AlibabaInstanceProvider({
    name: 'alibaba-instance',
    profile: ctx.profile,
    endpoint: instanceEndpoint,
    region: ctx.defaultRegion ?? 'cn-hangzhou',
    caPem: ca,
    logger: ctx.logger,
    timeoutMs: ctx.timeoutMs,
    retry: ctx.retry,
    secrets: async () => {
      const c = await ctx.credentials();
      return { clientKey: c.clientKey ?? '', password: c.password ?? '' };
    },
    management: async () => {
      const c = await ctx.credentials();
      if (!c.accessKeyId || !c.accessKeySecret) return undefined;
      return new AlibabaKmsProvider({
        ...cloudOptions(ctx),
        credentials: async () => {
          const now = await ctx.credentials();
          return { accessKeyId: now.accessKeyId, accessKeySecret: now.accessKeySecret };
        },
      });
    },
  });
}
