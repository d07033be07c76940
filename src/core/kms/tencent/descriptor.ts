/**
 * Tencent Cloud KMS (API 3.0, 2019-01-18): everything shared code needs to know about it. The
 * implementation (./index.ts, with the Tencent SDK) is imported only when a provider is built.
 */
import { accessKeyCredentials } from '../access-key';
import { cloudOptions, type ProviderDescriptor } from '../descriptor';

/** Aliases: 1–60 of [A-Za-z0-9_-], unique per region, `kms-` reserved. */
export const TENCENT_ALIAS = /^[A-Za-z0-9_-]{1,60}$/;

export const tencentProvider: ProviderDescriptor = {
  name: 'tencent',
  label: 'Tencent Cloud KMS',
  vendor: 'Tencent Cloud',
  keyring: { providerId: 'tencent-kms' },
  regions: { default: 'ap-guangzhou', source: 'the GetRegions API' },
  aliases: {
    rule: 'Tencent aliases are 1–60 characters of letters, digits, - and _, and must not start with "kms-".',
    check: (alias) =>
      TENCENT_ALIAS.test(alias) && !alias.toLowerCase().startsWith('kms-')
        ? undefined
        : 'Use 1–60 characters of letters, digits, - and _, not starting with "kms-" (reserved by Tencent Cloud).',
  },
  deletionWindow: { min: 7, max: 30, default: 7, requiresDisabled: true },
  credentials: accessKeyCredentials(
    { id: 'SecretId', secret: 'SecretKey', token: 'session token', console: 'Tencent Cloud console → CAM → API keys' },
    {
      env: {
        parts: {
          accessKeyId: 'TENCENTCLOUD_SECRET_ID',
          accessKeySecret: 'TENCENTCLOUD_SECRET_KEY',
          securityToken: 'TENCENTCLOUD_SESSION_TOKEN',
        },
        region: 'TENCENTCLOUD_REGION',
      },
      discover: async (o) => (await import('./discovery.js')).discoverTccli(o),
      discoveryHint: 'the tccli file ~/.tccli/default.credential',
    },
  ),
  endpoint: { template: 'kms.tencentcloudapi.com', env: ['KMS_ENVELOPE_ENDPOINT'] },
  errors: {
    codes: {
      'ResourceUnavailable.CmkDisabled': 'disabled',
      'ResourceUnavailable.KeyPendingDelete': 'pendingDeletion',
      'ResourceUnavailable.CmkShouldBeDisabled': 'mustBeDisabled',
      'ResourceUnavailable.CmkNotPendingDelete': 'notPendingDeletion',
      'ResourceUnavailable.CmkArchived': 'stateConflict',
      'ResourceUnavailable.CmkStateNotSupport': 'stateConflict',
      'ResourceUnavailable.CmkNotFound': 'notFound',
      ResourceNotFound: 'notFound',
      'InvalidParameterValue.InvalidKeyId': 'notFound',
      'InvalidParameterValue.InvalidCiphertext': 'decryptRefused',
      'FailedOperation.DecryptError': 'decryptRefused',
      'InvalidParameterValue.AliasAlreadyExists': 'aliasExists',
      'InvalidParameterValue.InvalidAlias': 'invalidAlias',
      'LimitExceeded.CmkLimitExceeded': 'limit',
      'LimitExceeded.RequestLimitExceeded': 'throttling',
      'AuthFailure.SignatureExpire': 'clockSkew',
      'AuthFailure.UnauthorizedOperation': 'permission',
      UnauthorizedOperation: 'permission',
      UnsupportedRegion: 'region',
      'InvalidParameterValue.InvalidRegion': 'region',
      InternalError: 'server',
    },
    prefixes: [
      ['RequestLimitExceeded', 'throttling'],
      ['AuthFailure', 'credentials'],
      ['InternalError', 'server'],
      ['ServiceUnavailable', 'server'],
      ['InvalidParameter', 'invalidParameter'],
      ['MissingParameter', 'invalidParameter'],
      ['UnknownParameter', 'invalidParameter'],
    ],
    words: { clockSkew: 'Tencent accepts 5 minutes of skew', policy: 'a CAM policy' },
  },
  async create(ctx) {
    const { TencentKmsProvider } = await import('./index.js');
    return new TencentKmsProvider(cloudOptions(ctx));
  },
};
