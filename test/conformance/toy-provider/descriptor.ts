// A throw-away provider, built only from the public extension point (docs/providers.md): this
// folder plus one registerProvider() call in extension-point.test.ts. Nothing under src/ knows it.
// "Toy KMS" keeps its keys in memory, behind the shared call wrapper (cloudCall), so its errors are
// mapped by the shared code from the codes and words below, and its credentials (an API token) are
// handed to each attempt by the credentials layer.
import type { ProviderDescriptor } from '../../../src/core/kms/descriptor';

export const TOY_TOKEN = 'toy-token-0123456789';
export const TOY_REGIONS = ['toy-east', 'toy-west', 'toy-paging'];
const ALIAS = /^[a-z0-9-]{1,40}$/;

export const toyProvider: ProviderDescriptor = {
  name: 'toy',
  label: 'Toy KMS',
  vendor: 'Toy Cloud',
  keyring: { providerId: 'toy-kms' },
  regions: { default: 'toy-east', source: 'the ListRegions call' },
  aliases: {
    rule: 'Toy aliases are 1–40 lower-case letters, digits and -.',
    check: (alias) => (ALIAS.test(alias) ? undefined : 'Use 1–40 lower-case letters, digits and -.'),
  },
  deletionWindow: { min: 3, max: 9, default: 5, requiresDisabled: true },
  credentials: {
    parts: [
      { key: 'apiToken', label: 'API token', secret: true, validate: (v) => (v.length < 10 ? 'The API token is too short.' : undefined) },
    ],
    temporary: false,
    console: 'Toy Cloud console → Tokens',
    env: { parts: { apiToken: 'TOY_API_TOKEN' } },
  },
  errors: {
    codes: {
      'Toy.Disabled': 'disabled',
      'Toy.PendingDeletion': 'pendingDeletion',
      'Toy.MustBeDisabled': 'mustBeDisabled',
      'Toy.NotPendingDeletion': 'notPendingDeletion',
      'Toy.NotFound': 'notFound',
      'Toy.AliasTaken': 'aliasExists',
      'Toy.InvalidCiphertext': 'decryptRefused',
      'Toy.BadToken': 'credentials',
    },
    words: { clockSkew: 'Toy Cloud accepts 1 minute of skew', policy: 'a toy policy' },
  },
  tree: { icon: 'beaker' },
  async create(ctx) {
    const { ToyKmsProvider } = await import('./index.js');
    return new ToyKmsProvider({ profile: ctx.profile, credentials: ctx.credentials, logger: ctx.logger, retry: ctx.retry });
  },
};
