/**
 * Alibaba Cloud KMS through its public gateway (OpenAPI 2016-01-20): everything shared code needs to
 * know about it. The implementation (./index.ts, with the Alibaba SDK) is imported only when a
 * provider is built.
 */
import { accessKeyCredentials } from '../access-key';
import { cloudOptions, type ProviderDescriptor } from '../descriptor';

/** Aliases: `alias/<name>`, 1–255 of [A-Za-z0-9_/-]; `alias/acs/` is reserved for cloud services. */
export const ALIBABA_ALIAS_NAME = /^alias\/[A-Za-z0-9_/-]{1,255}$/;

export const alibabaProvider: ProviderDescriptor = {
  name: 'alibaba',
  label: 'Alibaba Cloud KMS',
  vendor: 'Alibaba Cloud',
  keyring: { providerId: 'alibaba-kms' },
  regions: { default: 'cn-hangzhou', source: 'the DescribeRegions API' },
  aliases: {
    rule: 'Alibaba aliases are alias/<name> with 1–255 characters of letters, digits, _, - and /, not alias/acs/...',
    check: (alias) => {
      const full = alias.startsWith('alias/') ? alias : `alias/${alias}`;
      return ALIBABA_ALIAS_NAME.test(full) && !full.startsWith('alias/acs/')
        ? undefined
        : 'Use alias/<name> (or just <name>) with 1–255 characters of letters, digits, _, - and /; alias/acs/... is reserved for cloud services.';
    },
  },
  deletionWindow: { min: 7, max: 366, default: 7 },
  credentials: accessKeyCredentials(
    { id: 'AccessKey ID', secret: 'AccessKey secret', token: 'STS security token', console: 'Alibaba Cloud console → RAM → AccessKey' },
    {
      env: {
        parts: {
          accessKeyId: 'ALIBABA_CLOUD_ACCESS_KEY_ID',
          accessKeySecret: 'ALIBABA_CLOUD_ACCESS_KEY_SECRET',
          securityToken: 'ALIBABA_CLOUD_SECURITY_TOKEN',
        },
        region: 'ALIBABA_CLOUD_REGION_ID',
      },
      discover: async (o) => (await import('./discovery.js')).discoverAliyunCli(o),
      discoveryHint: 'the aliyun CLI file ~/.aliyun/config.json',
    },
  ),
  endpoint: { template: 'kms.{region}.aliyuncs.com', env: ['KMS_ENVELOPE_ENDPOINT'] },
  errors: {
    codes: {
      'Rejected.Disabled': 'disabled',
      'Rejected.PendingDeletion': 'pendingDeletion',
      'Rejected.PendingImport': 'pendingImport',
      'Rejected.StateModifiedFailed': 'stateConflict',
      'Forbidden.KeyNotFound': 'notFound',
      'Forbidden.AliasNotFound': 'notFound',
      'EntityNotExist.Key': 'notFound',
      AliasAlreadyExists: 'aliasExists',
      'EntityAlreadyExists.Alias': 'aliasExists',
      'InvalidTimeStamp.Expired': 'clockSkew',
      SignatureDoesNotMatch: 'credentials',
      IncompleteSignature: 'credentials',
      'InvalidAccessKeyId.NotFound': 'credentials',
      'InvalidAccessKeyId.Inactive': 'credentials',
      InvalidAccessKeyId: 'credentials',
      'InvalidSecurityToken.Expired': 'credentials',
      'InvalidSecurityToken.Malformed': 'credentials',
      'InvalidSecurityToken.MismatchWithAccessKey': 'credentials',
      SignatureNonceUsed: 'credentials',
      'Forbidden.NoPermission': 'permission',
      'Forbidden.RAM': 'permission',
      'Forbidden.KmsServiceNotEnabled': 'serviceNotEnabled',
      InvalidRegionId: 'region',
      InvalidRegion: 'region',
      InternalFailure: 'server',
      ServiceUnavailableTemporary: 'server',
      InvalidCiphertext: 'decryptRefused',
      'Rejected.InvalidCiphertext': 'decryptRefused',
    },
    prefixes: [
      ['Throttling', 'throttling'],
      ['InternalError', 'server'],
      ['ServiceUnavailable', 'server'],
      ['InvalidParameter', 'invalidParameter'],
      ['MissingParameter', 'invalidParameter'],
      ['Rejected.', 'stateConflict'],
    ],
    words: { clockSkew: 'Alibaba accepts 15 minutes of skew', policy: 'a RAM policy' },
  },
  async create(ctx) {
    const { AlibabaKmsProvider } = await import('./index.js');
    return new AlibabaKmsProvider(cloudOptions(ctx));
  },
};
