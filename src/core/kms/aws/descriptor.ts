/**
 * AWS KMS: everything shared code needs to know about it. The implementation (./index.ts, with
 * `@aws-sdk/client-kms`), the credential discovery (./discovery.ts) and the keyrings (./keyrings.ts,
 * the stock `@aws-crypto/kms-keyring-node`) are imported only when they are used.
 *
 * Blobs are what the AWS Encryption SDK writes: EDK providerId `aws-kms`, providerInfo the key ARN
 * KMS returned, so a blob sealed here opens with any AWS Encryption SDK and the reverse.
 */
import { accessKeyCredentials } from '../access-key';
import { cloudOptions, type ProviderDescriptor } from '../descriptor';
import { parseKeyArn } from './arn';

/**
 * A part of CloudCredentials a credential source may add: how to renew its session credentials
 * (``Renew it: `aws sso login --profile dev`, then retry.``), the hint when KMS answers ExpiredTokenException.
 */
export const RENEW_PART = 'renewHint';

/** `alias/<name>`: 1–256 characters in all of [A-Za-z0-9:/_-]; `alias/aws/` belongs to AWS managed keys. */
export const AWS_ALIAS_NAME = /^alias\/[A-Za-z0-9:/_-]{1,250}$/;

/** What is wrong with an alias (`name` or `alias/name`), or undefined when AWS accepts it. */
export function awsAliasProblem(alias: string): string | undefined {
  const full = alias.startsWith('alias/') ? alias : `alias/${alias}`;
  if (!AWS_ALIAS_NAME.test(full)) return 'Use alias/<name> (or just <name>) with 1–250 characters of letters, digits, /, _, - and :.';
  if (full.startsWith('alias/aws/')) return 'alias/aws/... is reserved for AWS managed keys; pick another name.';
  return undefined;
}

export const awsProvider: ProviderDescriptor = {
  name: 'aws',
  label: 'AWS KMS',
  vendor: 'AWS',
  keyring: {
    providerId: 'aws-kms',
    custom: {
      parseInfo(info) {
        const arn = parseKeyArn(Buffer.from(info).toString('utf8'));
        return arn?.type === 'key' ? { region: arn.region, keyId: arn.arn } : undefined;
      },
      load: async () => (await import('./keyrings.js')).awsKeyrings,
    },
  },
  regions: { default: 'us-east-1', source: "the AWS SDK's partition data" },
  aliases: {
    rule: 'AWS aliases are alias/<name> with 1–250 characters of letters, digits, /, _, - and :, not alias/aws/...',
    check: awsAliasProblem,
  },
  deletionWindow: { min: 7, max: 30, default: 30 },
  keyrefs: {
    example: 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    parse(text) {
      const arn = parseKeyArn(text);
      return arn ? { region: arn.region, key: arn.arn } : undefined;
    },
  },
  credentials: accessKeyCredentials(
    {
      id: 'Access key ID',
      secret: 'Secret access key',
      token: 'Session token',
      console: 'AWS console → IAM → Users → Security credentials → Access keys',
    },
    {
      env: {
        parts: { accessKeyId: 'AWS_ACCESS_KEY_ID', accessKeySecret: 'AWS_SECRET_ACCESS_KEY', securityToken: 'AWS_SESSION_TOKEN' },
        region: 'AWS_REGION',
      },
      discover: async (o) => (await import('./discovery.js')).discoverAwsConfig(o),
      discoveryHint: 'the AWS CLI files ~/.aws/config and ~/.aws/credentials (`aws configure`, `aws configure sso`)',
    },
  ),
  endpoint: {
    template: 'kms.{region}.amazonaws.com',
    env: ['AWS_ENDPOINT_URL_KMS', 'AWS_ENDPOINT_URL', 'KMS_ENVELOPE_ENDPOINT'],
  },
  errors: {
    codes: {
      DisabledException: 'disabled',
      KMSInvalidStateException: 'stateConflict',
      NotFoundException: 'notFound',
      InvalidArnException: 'notFound',
      AlreadyExistsException: 'aliasExists',
      InvalidAliasNameException: 'invalidAlias',
      InvalidCiphertextException: 'decryptRefused',
      IncorrectKeyException: 'decryptRefused',
      UnrecognizedClientException: 'credentials',
      InvalidSignatureException: 'credentials',
      IncompleteSignatureException: 'credentials',
      MissingAuthenticationTokenException: 'credentials',
      ExpiredTokenException: 'credentials',
      InvalidClientTokenId: 'credentials',
      AccessDeniedException: 'permission',
      OptInRequired: 'serviceNotEnabled',
      SubscriptionRequiredException: 'serviceNotEnabled',
      ThrottlingException: 'throttling',
      LimitExceededException: 'limit',
      KMSInternalException: 'server',
      DependencyTimeoutException: 'server',
      KeyUnavailableException: 'server',
      ServiceUnavailableException: 'server',
      InternalFailure: 'server',
      ValidationException: 'invalidParameter',
      SerializationException: 'invalidParameter',
      InvalidMarkerException: 'invalidParameter',
      InvalidKeyUsageException: 'invalidParameter',
      InvalidGrantTokenException: 'invalidParameter',
      UnsupportedOperationException: 'invalidParameter',
    },
    // AWS tells these apart only in the message (the live service's wording).
    messages: [
      ['InvalidSignatureException', /^Signature (expired|not yet current)/, 'clockSkew'],
      ['InvalidSignatureException', /scoped to a valid region/, 'region'],
      ['KMSInvalidStateException', /is pending deletion/, 'pendingDeletion'],
      ['KMSInvalidStateException', /is pending import/, 'pendingImport'],
      ['KMSInvalidStateException', /is not pending deletion|is (enabled|disabled)\.$/, 'notPendingDeletion'],
    ],
    words: {
      clockSkew: 'AWS accepts 5 minutes of skew (the SDK corrects its clock from the answer once)',
      policy: 'an IAM policy or the key policy',
    },
  },
  async create(ctx) {
    const { AwsKmsProvider } = await import('./index.js');
    return new AwsKmsProvider(cloudOptions(ctx));
  },
};
