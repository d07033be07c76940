/**
 * AWS KMS (AWS JSON 1.1, `X-Amz-Target: TrentService.<Operation>`) front end of the emulator,
 * written from PROTOCOLS-aws-kms.md.
 *
 * Authentication is SigV4 as the service verifies it (sigv4.ts): the canonical request over the
 * headers the client listed (host WITH its port), the credential scope `<date>/<region>/kms/aws4_request`
 * whose date must be X-Amz-Date's, |now − X-Amz-Date| ≤ 5 min, x-amz-content-sha256 (when sent) equal to
 * the body's hash, and the session token of STS credentials. The region of a request is its scope's
 * region (on loopback there is no kms.<region>.amazonaws.com host to take it from); keys live per
 * account and region. Errors are HTTP 400 (500/503 for server faults, 412 for DryRun) with
 * `{"__type":"<Code>","message":"…"}`; every answer carries x-amzn-RequestId and a Date header from the
 * emulator's clock (the SDK corrects its clock offset from it).
 *
 * Choices where the sheet is unsure ([U]/[K]):
 * - status 400 for NotFound/Disabled/KMSInvalidState/AlreadyExists and for the authentication codes
 *   (the live service's, not the model's 404/409; the SDK does not look at it);
 * - a "key only" operation (EnableKey, DisableKey, ScheduleKeyDeletion, …) given an alias →
 *   NotFoundException "Invalid keyId alias/…";
 * - a malformed key ARN → NotFoundException "Invalid arn …"; a key ARN of another region →
 *   NotFoundException; of another account → AccessDeniedException (no key policy grants it here);
 * - a ciphertext from another region → InvalidCiphertextException; from another account → AccessDeniedException;
 * - mutating an AWS managed key (alias/aws/…), or using it directly for Encrypt / Decrypt /
 *   GenerateDataKey → AccessDeniedException, as its key policy refuses both (kms:ViaService);
 * - a ciphertext whose header names no known account, region or key (changed, or the key deleted
 *   since) → InvalidCiphertextException;
 * - an x-amz-security-token that is not signed → InvalidSignatureException.
 * Not emulated: asymmetric, HMAC, multi-Region and imported-material keys (UnsupportedOperationException
 * at CreateKey; Origin EXTERNAL gives a key stuck in PendingImport), grants, key policies, Recipient.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { canonicalContext, openBlob, parseBlob, sealBlob } from './blob';
import { header, isBase64, isUuid, type HandlerEnv, type RawRequest, type Reply } from './common';
import type { FaultKind } from './faults';
import { signaturesEqual } from './signatures';
import { formatAmzDate, parseAmzDate, parseSigV4Authorization, sigv4Signature } from './sigv4';
import type { StoredAccount, StoredKey } from './state';

export const AWS_TARGET_PREFIX = 'TrentService.';
export const AWS_CONTENT_TYPE = 'application/x-amz-json-1.1';
export const AWS_MAX_SKEW_MS = 5 * 60_000;

/** Regions of the AWS partitions (aws, aws-cn, aws-us-gov), as in the AWS SDK's partition data of 2026 (written out: no SDK code here). */
export const AWS_REGIONS: readonly string[] = [
  'us-east-1',
  'us-east-2',
  'us-west-1',
  'us-west-2',
  'af-south-1',
  'ap-east-1',
  'ap-east-2',
  'ap-south-1',
  'ap-south-2',
  'ap-southeast-1',
  'ap-southeast-2',
  'ap-southeast-3',
  'ap-southeast-4',
  'ap-southeast-5',
  'ap-southeast-6',
  'ap-southeast-7',
  'ap-northeast-1',
  'ap-northeast-2',
  'ap-northeast-3',
  'ca-central-1',
  'ca-west-1',
  'eu-central-1',
  'eu-central-2',
  'eu-west-1',
  'eu-west-2',
  'eu-west-3',
  'eu-south-1',
  'eu-south-2',
  'eu-north-1',
  'il-central-1',
  'me-south-1',
  'me-central-1',
  'me-west-1',
  'mx-central-1',
  'sa-east-1',
  'sa-west-1',
  'cn-north-1',
  'cn-northwest-1',
  'us-gov-west-1',
  'us-gov-east-1',
];

export const awsPartition = (region: string) => (region.startsWith('cn-') ? 'aws-cn' : region.startsWith('us-gov-') ? 'aws-us-gov' : 'aws');

const MAX_DESCRIPTION = 8192;
const ALIAS_PATTERN = /^[a-zA-Z0-9:/_-]+$/;
const DATA_KEY_SPECS: Record<string, number> = { AES_256: 32, AES_128: 16 };
const ENCRYPTION_ALGORITHMS = ['SYMMETRIC_DEFAULT', 'RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256', 'SM2PKE'];

export class AwsError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

function replyHeaders(env: HandlerEnv, requestId: string): Record<string, string> {
  return { 'content-type': AWS_CONTENT_TYPE, 'x-amzn-requestid': requestId, date: new Date(env.now()).toUTCString() };
}

export function awsReply(env: HandlerEnv, body: Record<string, unknown> | undefined, requestId = randomUUID()): Reply {
  return { status: 200, headers: replyHeaders(env, requestId), body: body === undefined ? '' : JSON.stringify(body) };
}

export function awsError(env: HandlerEnv, code: string, message: string, status = 400, requestId = randomUUID()): Reply {
  return {
    status,
    headers: { ...replyHeaders(env, requestId), 'x-amzn-errortype': code },
    body: JSON.stringify({ __type: code, message }),
  };
}

export function awsFault(env: HandlerEnv, kind: Exclude<FaultKind, 'drop'>): Reply {
  switch (kind) {
    case 'throttle':
      return awsError(
        env,
        'ThrottlingException',
        'You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls. (injected by the emulator)',
      );
    case 'error':
      return awsError(env, 'KMSInternalException', 'An internal error occurred. Retry your request. (injected by the emulator)', 500);
    case 'unavailable':
      return awsError(
        env,
        'DependencyTimeoutException',
        'The system timed out while trying to fulfill the request. You can retry the request. (injected by the emulator)',
        503,
      );
  }
}

// ---------------------------------------------------------------- authentication

const invalidSignature = (message: string) => new AwsError('InvalidSignatureException', message);
const invalidToken = () => new AwsError('UnrecognizedClientException', 'The security token included in the request is invalid.');

/** Verifies the SigV4 signature; returns the account and the region of the credential scope. */
function authenticate(env: HandlerEnv, req: RawRequest): { account: StoredAccount; region: string } {
  const authz = header(req, 'authorization');
  if (!authz) throw new AwsError('MissingAuthenticationTokenException', 'Missing Authentication Token');
  const auth = parseSigV4Authorization(authz);
  if (typeof auth === 'string') throw new AwsError('IncompleteSignatureException', `${auth}.`);
  const amzDate = header(req, 'x-amz-date');
  if (!amzDate)
    throw new AwsError(
      'IncompleteSignatureException',
      "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header (the emulator takes X-Amz-Date).",
    );
  const ts = parseAmzDate(amzDate);
  if (ts === undefined)
    throw new AwsError(
      'IncompleteSignatureException',
      `X-Amz-Date must be in the ISO8601 basic format YYYYMMDD'T'HHMMSS'Z', not '${amzDate}'.`,
    );
  if (auth.terminator !== 'aws4_request')
    throw invalidSignature(`Credential should be scoped with a valid terminator: 'aws4_request', not '${auth.terminator}'.`);
  if (auth.service !== 'kms') throw invalidSignature(`Credential should be scoped to correct service: 'kms'.`);
  const hostRegion = /^kms(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?(?::\d+)?$/i.exec(header(req, 'host') ?? '')?.[1];
  if (!AWS_REGIONS.includes(auth.region) || (hostRegion !== undefined && hostRegion !== auth.region))
    throw invalidSignature(`Credential should be scoped to a valid region, not '${auth.region}'.`);
  if (auth.date !== amzDate.slice(0, 8))
    throw invalidSignature(
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${auth.date}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`,
    );
  for (const [name, label] of [
    ['host', "'Host' or ':authority'"],
    ['x-amz-date', "'X-Amz-Date'"],
  ]) {
    if (!auth.signedHeaders.includes(name)) throw invalidSignature(`${label} must be a 'SignedHeader' in the AWS Authorization.`);
  }
  const token = header(req, 'x-amz-security-token');
  if (token !== undefined && !auth.signedHeaders.includes('x-amz-security-token'))
    throw invalidSignature(`'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization.`);

  const now = env.now();
  if (ts < now - AWS_MAX_SKEW_MS)
    throw invalidSignature(
      `Signature expired: ${amzDate} is now earlier than ${formatAmzDate(now - AWS_MAX_SKEW_MS)} (${formatAmzDate(now)} - 5 min.)`,
    );
  if (ts > now + AWS_MAX_SKEW_MS)
    throw invalidSignature(
      `Signature not yet current: ${amzDate} is still later than ${formatAmzDate(now + AWS_MAX_SKEW_MS)} (${formatAmzDate(now)} + 5 min.)`,
    );

  const account = env.store.accountByAwsId(auth.accessKeyId);
  if (!account) throw invalidToken();
  const expired = account.aws.expired?.accessKeyId === auth.accessKeyId ? account.aws.expired : undefined;
  const cred = expired ?? account.aws;
  if ((cred.sessionToken ?? '') !== (token ?? '')) throw invalidToken();
  if (expired) throw new AwsError('ExpiredTokenException', 'The security token included in the request is expired');

  const bodyHash = createHash('sha256').update(req.body).digest('hex');
  const claimed = header(req, 'x-amz-content-sha256');
  if (claimed !== undefined && claimed.toLowerCase() !== bodyHash)
    throw invalidSignature("The provided 'x-amz-content-sha256' header does not match what was computed.");
  const headers: Record<string, string> = {};
  for (const name of auth.signedHeaders) headers[name] = header(req, name) ?? '';
  const expected = sigv4Signature(
    cred.secretAccessKey,
    amzDate,
    { date: auth.date, region: auth.region, service: auth.service },
    { method: req.method, path: req.path, query: req.query, headers, signedHeaders: auth.signedHeaders, payloadHash: bodyHash },
  );
  if (!signaturesEqual(expected, auth.signature))
    throw invalidSignature(
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
    );
  return { account, region: auth.region };
}

// ---------------------------------------------------------------- parameters

type Params = Record<string, unknown>;

interface Ctx {
  env: HandlerEnv;
  account: StoredAccount;
  region: string;
  /** The operation, for AccessDenied messages. */
  action: string;
}

/** AWS names members in camelCase in validation messages ("at 'pendingWindowInDays'"). */
const memberPath = (name: string) => name.charAt(0).toLowerCase() + name.slice(1);

const validation = (name: string, value: unknown, constraint: string) =>
  new AwsError(
    'ValidationException',
    `1 validation error detected: Value ${value === undefined || value === null ? 'null' : `'${String(value)}'`} at '${memberPath(name)}' failed to satisfy constraint: ${constraint}`,
  );

const serialization = (name: string, expected: string) =>
  new AwsError('SerializationException', `${name} must be ${expected} (AWS JSON 1.1 body of the request).`);

function str(p: Params, name: string, required: true, maxLen?: number, minLen?: number): string;
function str(p: Params, name: string, required?: false, maxLen?: number, minLen?: number): string | undefined;
function str(p: Params, name: string, required = false, maxLen = 2048, minLen = 1): string | undefined {
  const v = p[name];
  if (v === undefined || v === null) {
    if (required) throw validation(name, v, 'Member must not be null');
    return undefined;
  }
  if (typeof v !== 'string') throw serialization(name, 'a string');
  if (v.length < minLen) throw validation(name, v, `Member must have length greater than or equal to ${minLen}`);
  if (v.length > maxLen) throw validation(name, `${v.slice(0, 40)}…`, `Member must have length less than or equal to ${maxLen}`);
  return v;
}

function int(p: Params, name: string, min: number, max: number): number | undefined {
  const v = p[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw serialization(name, 'an integer');
  if (v < min) throw validation(name, v, `Member must have value greater than or equal to ${min}`);
  if (v > max) throw validation(name, v, `Member must have value less than or equal to ${max}`);
  return v;
}

function bool(p: Params, name: string): boolean {
  const v = p[name];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw serialization(name, 'a boolean');
  return v;
}

function oneOf(p: Params, name: string, values: readonly string[]): string | undefined {
  const v = str(p, name);
  if (v !== undefined && !values.includes(v)) throw validation(name, v, `Member must satisfy enum value set: [${values.join(', ')}]`);
  return v;
}

function blob(p: Params, name: string, min: number, max: number): Buffer {
  const v = p[name];
  if (v === undefined || v === null) throw validation(name, v, 'Member must not be null');
  if (typeof v !== 'string' || !isBase64(v)) throw serialization(name, 'a base64-encoded blob');
  const b = Buffer.from(v, 'base64');
  if (b.length < min) throw validation(name, 'java.nio.HeapByteBuffer', `Member must have length greater than or equal to ${min}`);
  if (b.length > max) throw validation(name, 'java.nio.HeapByteBuffer', `Member must have length less than or equal to ${max}`);
  return b;
}

/** EncryptionContext: a JSON map of string → string, compared as a map (canonical, sorted keys). */
function contextParam(p: Params): string {
  const v = p.EncryptionContext;
  if (v === undefined || v === null) return '';
  if (typeof v !== 'object' || Array.isArray(v)) throw serialization('EncryptionContext', 'a map of string to string');
  for (const x of Object.values(v as Record<string, unknown>))
    if (typeof x !== 'string') throw serialization('EncryptionContext', 'a map of string to string');
  return canonicalContext(v as Record<string, string>);
}

function grantTokens(p: Params): void {
  const v = p.GrantTokens;
  if (v === undefined || v === null) return;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw serialization('GrantTokens', 'a list of strings');
  if (v.length > 10) throw validation('GrantTokens', `[${v.length} tokens]`, 'Member must have length less than or equal to 10');
}

function dryRun(p: Params): void {
  if (bool(p, 'DryRun'))
    throw new AwsError('DryRunOperationException', 'The request would have succeeded, but the DryRun option is set.', 412);
}

// ---------------------------------------------------------------- keys and aliases

const epoch = (ms: number | undefined) => (ms === undefined ? undefined : ms / 1000);
const arnPrefix = (ctx: Ctx) => `arn:${awsPartition(ctx.region)}:kms:${ctx.region}:${ctx.account.awsAccountId}`;
const keyArn = (ctx: Ctx, keyId: string) => `${arnPrefix(ctx)}:key/${keyId}`;
const aliasArn = (ctx: Ctx, alias: string) => `${arnPrefix(ctx)}:${alias}`;
const isKeyId = (s: string) => isUuid(s) || /^mrk-[0-9a-f]{32}$/.test(s);

const allKeys = (ctx: Ctx) => ctx.env.store.keys('aws', ctx.account.name, ctx.region);
const keyByAlias = (ctx: Ctx, alias: string) => allKeys(ctx).find((k) => k.aliases?.includes(alias));

function accessDenied(ctx: Ctx, resource: string): AwsError {
  return new AwsError(
    'AccessDeniedException',
    `User: arn:${awsPartition(ctx.region)}:iam::${ctx.account.awsAccountId}:user/kms-envelope-emulator is not authorized to perform: kms:${ctx.action} on resource: ${resource} because no resource-based policy allows the kms:${ctx.action} action`,
  );
}

/**
 * Resolves a KeyId member: key id, key ARN and — unless `keyOnly` — alias name and alias ARN.
 * The ESDK's ARN rules (arn_parsing.ts): `arn:<partition>:kms:<region>:<account>:<key|alias>/<id>`.
 */
function resolveKey(ctx: Ctx, ref: string, keyOnly = false): StoredKey {
  let id = ref;
  if (ref.startsWith('arn:')) {
    const parts = ref.split(':');
    const resource = parts.slice(5).join(':');
    const slash = resource.indexOf('/');
    const type = slash > 0 ? resource.slice(0, slash) : '';
    if (
      parts.length < 6 ||
      !parts[1] ||
      parts[2] !== 'kms' ||
      !parts[3] ||
      !parts[4] ||
      (type !== 'key' && type !== 'alias') ||
      slash === resource.length - 1
    )
      throw new AwsError('NotFoundException', `Invalid arn ${ref}`);
    if (parts[4] !== ctx.account.awsAccountId) throw accessDenied(ctx, ref);
    if (parts[3] !== ctx.region || parts[1] !== awsPartition(ctx.region))
      throw new AwsError('NotFoundException', `Invalid arn ${ref}: it names region ${parts[3]}, this request went to ${ctx.region}.`);
    id = type === 'key' ? resource.slice(slash + 1) : resource;
  }
  if (id.startsWith('alias/')) {
    if (keyOnly) throw new AwsError('NotFoundException', `Invalid keyId ${ref}: ${ctx.action} takes a key id or key ARN, not an alias.`);
    const k = keyByAlias(ctx, id);
    if (!k) throw new AwsError('NotFoundException', `Alias ${aliasArn(ctx, id)} is not found.`);
    return k;
  }
  if (!isKeyId(id)) throw new AwsError('NotFoundException', `Invalid keyId ${ref}`);
  const k = ctx.env.store.key('aws', ctx.account.name, ctx.region, id);
  if (!k) throw new AwsError('NotFoundException', `Key '${keyArn(ctx, id)}' does not exist`);
  return k;
}

const keyParam = (ctx: Ctx, p: Params, name = 'KeyId', keyOnly = false) => resolveKey(ctx, str(p, name, true), keyOnly);

function stateText(state: string): string {
  switch (state) {
    case 'PendingDeletion':
      return 'pending deletion';
    case 'PendingImport':
      return 'pending import';
    default:
      return state.toLowerCase();
  }
}

const invalidState = (ctx: Ctx, k: StoredKey) =>
  new AwsError('KMSInvalidStateException', `${keyArn(ctx, k.keyId)} is ${stateText(k.state)}.`);

/**
 * Encrypt / Decrypt / GenerateDataKey need an Enabled key (PROTOCOLS-aws-kms.md §7), and a customer
 * managed one: an AWS managed key's policy allows it only through its service (kms:ViaService).
 */
function requireUsable(ctx: Ctx, k: StoredKey): void {
  if (k.manager === 'AWS') throw accessDenied(ctx, keyArn(ctx, k.keyId));
  if (k.state === 'Enabled') return;
  if (k.state === 'Disabled') throw new AwsError('DisabledException', `${keyArn(ctx, k.keyId)} is disabled.`);
  throw invalidState(ctx, k);
}

/** Key management operations: not on a key pending deletion (or import), not on AWS managed keys. */
function requireManageable(ctx: Ctx, k: StoredKey, also: string[] = []): void {
  if (k.manager === 'AWS') throw accessDenied(ctx, keyArn(ctx, k.keyId));
  if (k.state === 'PendingDeletion' || also.includes(k.state)) throw invalidState(ctx, k);
}

function requireEncryptDecrypt(ctx: Ctx, k: StoredKey, algorithm: string | undefined): void {
  if (k.keyUsage !== 'ENCRYPT_DECRYPT')
    throw new AwsError(
      'InvalidKeyUsageException',
      `${keyArn(ctx, k.keyId)} key usage is ${k.keyUsage} which is not valid for ${ctx.action}.`,
    );
  if (algorithm !== undefined && algorithm !== 'SYMMETRIC_DEFAULT')
    throw new AwsError(
      'InvalidKeyUsageException',
      `The encryption algorithm ${algorithm} is not compatible with the type of key ${keyArn(ctx, k.keyId)} (SYMMETRIC_DEFAULT).`,
    );
}

function metadata(ctx: Ctx, k: StoredKey): Record<string, unknown> {
  const spec = k.spec || 'SYMMETRIC_DEFAULT';
  return {
    AWSAccountId: ctx.account.awsAccountId,
    KeyId: k.keyId,
    Arn: keyArn(ctx, k.keyId),
    CreationDate: epoch(k.createdAt),
    Enabled: k.state === 'Enabled',
    Description: k.description,
    KeyUsage: k.keyUsage,
    KeyState: k.state,
    ...(k.deletionDate !== undefined ? { DeletionDate: epoch(k.deletionDate) } : {}),
    Origin: k.origin,
    ...(k.origin === 'EXTERNAL' ? { ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' } : {}),
    KeyManager: k.manager ?? 'CUSTOMER',
    CustomerMasterKeySpec: spec,
    KeySpec: spec,
    EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
    MultiRegion: false,
  };
}

function checkAliasName(ctx: Ctx, name: string): void {
  if (!ALIAS_PATTERN.test(name)) throw validation('AliasName', name, 'Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$');
  if (!name.startsWith('alias/') || name.length === 'alias/'.length)
    throw new AwsError('InvalidAliasNameException', `Alias must start with the prefix "alias/" followed by a name: ${name}`);
  if (name.startsWith('alias/aws/'))
    throw new AwsError('InvalidAliasNameException', `Alias ${aliasArn(ctx, name)} uses the reserved prefix alias/aws/ (AWS managed keys).`);
}

function encryptWith(ctx: Ctx, k: StoredKey, context: string, plaintext: Buffer): string {
  return sealBlob(
    { cloud: 'aws', keyId: k.keyId, region: ctx.region, accountId: ctx.account.awsAccountId },
    Buffer.from(k.material, 'base64'),
    context,
    plaintext,
  );
}

// ---------------------------------------------------------------- paging (opaque markers)

/** A marker names the last item returned ("k" for keys, "a" for aliases), base64url. */
const makeMarker = (kind: 'k' | 'a', last: string) => Buffer.from(`${kind}1\n${last}`, 'utf8').toString('base64url');

function readMarker(kind: 'k' | 'a', marker: string): string {
  const text = /^[A-Za-z0-9_-]+$/.test(marker) ? Buffer.from(marker, 'base64url').toString('utf8') : '';
  if (!text.startsWith(`${kind}1\n`)) throw new AwsError('InvalidMarkerException', `The marker ${marker} is not valid for this operation.`);
  return text.slice(3);
}

function page<T>(items: T[], nameOf: (x: T) => string, kind: 'k' | 'a', p: Params, dflt: number, max: number) {
  const limit = int(p, 'Limit', 1, max) ?? dflt;
  const marker = str(p, 'Marker', false, 1024);
  let start = 0;
  if (marker !== undefined) {
    const after = readMarker(kind, marker);
    start = items.findIndex((x) => nameOf(x) > after);
    if (start < 0) start = items.length;
  }
  const slice = items.slice(start, start + limit);
  const truncated = start + limit < items.length;
  return { slice, truncated, next: truncated ? makeMarker(kind, nameOf(slice[slice.length - 1])) : undefined };
}

/** Keys in a stable order the markers can point into: creation time, creation order, id. */
const keySortName = (k: StoredKey) => `${String(k.createdAt).padStart(15, '0')}.${String(k.seq ?? 0).padStart(10, '0')}.${k.keyId}`;

// ---------------------------------------------------------------- actions

type Action = (ctx: Ctx, p: Params) => Record<string, unknown> | undefined;

const actions: Record<string, Action> = {
  CreateKey(ctx, p) {
    const description = str(p, 'Description', false, MAX_DESCRIPTION, 0) ?? '';
    const usage = oneOf(p, 'KeyUsage', ['ENCRYPT_DECRYPT', 'SIGN_VERIFY', 'GENERATE_VERIFY_MAC', 'KEY_AGREEMENT']) ?? 'ENCRYPT_DECRYPT';
    const specs = [
      'SYMMETRIC_DEFAULT',
      'RSA_2048',
      'RSA_3072',
      'RSA_4096',
      'ECC_NIST_P256',
      'ECC_NIST_P384',
      'ECC_NIST_P521',
      'ECC_SECG_P256K1',
      'HMAC_224',
      'HMAC_256',
      'HMAC_384',
      'HMAC_512',
      'SM2',
    ];
    const spec = oneOf(p, 'KeySpec', specs) ?? oneOf(p, 'CustomerMasterKeySpec', specs) ?? 'SYMMETRIC_DEFAULT';
    const origin = oneOf(p, 'Origin', ['AWS_KMS', 'EXTERNAL', 'AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE']) ?? 'AWS_KMS';
    str(p, 'Policy', false, 32768);
    str(p, 'CustomKeyStoreId', false, 64);
    bool(p, 'BypassPolicyLockoutSafetyCheck');
    const tags = p.Tags;
    if (tags !== undefined && tags !== null) {
      if (
        !Array.isArray(tags) ||
        tags.some((t) => !t || typeof t !== 'object' || typeof t.TagKey !== 'string' || typeof t.TagValue !== 'string')
      )
        throw serialization('Tags', 'a list of {TagKey, TagValue}');
    }
    if (usage !== 'ENCRYPT_DECRYPT' || spec !== 'SYMMETRIC_DEFAULT')
      throw new AwsError(
        'UnsupportedOperationException',
        `KeyUsage ${usage} / KeySpec ${spec}: the emulator has symmetric ENCRYPT_DECRYPT keys only.`,
      );
    if (origin !== 'AWS_KMS' && origin !== 'EXTERNAL')
      throw new AwsError('UnsupportedOperationException', `Origin ${origin}: the emulator has no custom key stores.`);
    if (bool(p, 'MultiRegion')) throw new AwsError('UnsupportedOperationException', 'The emulator has no multi-Region keys.');
    const k = ctx.env.store.createKey({
      cloud: 'aws',
      account: ctx.account.name,
      region: ctx.region,
      description,
      state: origin === 'EXTERNAL' ? 'PendingImport' : 'Enabled',
      keyUsage: usage,
      spec,
      origin,
      manager: 'CUSTOMER',
      rotationEnabled: false,
      rotateDays: 365,
      aliases: [],
      tags: tags ?? undefined,
    });
    return { KeyMetadata: metadata(ctx, k) };
  },

  DescribeKey(ctx, p) {
    grantTokens(p);
    return { KeyMetadata: metadata(ctx, keyParam(ctx, p)) };
  },

  ListKeys(ctx, p) {
    const { slice, truncated, next } = page(allKeys(ctx), keySortName, 'k', p, 100, 1000);
    return {
      Keys: slice.map((k) => ({ KeyId: k.keyId, KeyArn: keyArn(ctx, k.keyId) })),
      Truncated: truncated,
      ...(next ? { NextMarker: next } : {}),
    };
  },

  ListAliases(ctx, p) {
    const filterId = str(p, 'KeyId');
    const keys = filterId === undefined ? allKeys(ctx) : [resolveKey(ctx, filterId, true)];
    const aliases = keys
      .flatMap((k) =>
        (k.aliases ?? []).map((name) => {
          const d = k.aliasDates?.[name];
          return {
            AliasName: name,
            AliasArn: aliasArn(ctx, name),
            TargetKeyId: k.keyId,
            CreationDate: epoch(d?.created ?? k.createdAt),
            LastUpdatedDate: epoch(d?.updated ?? k.createdAt),
          };
        }),
      )
      .sort((a, b) => (a.AliasName < b.AliasName ? -1 : a.AliasName > b.AliasName ? 1 : 0));
    const { slice, truncated, next } = page(aliases, (a) => a.AliasName, 'a', p, 50, 100);
    return { Aliases: slice, Truncated: truncated, ...(next ? { NextMarker: next } : {}) };
  },

  EnableKey(ctx, p) {
    const k = keyParam(ctx, p, 'KeyId', true);
    requireManageable(ctx, k, ['PendingImport']);
    if (k.state !== 'Enabled') {
      k.state = 'Enabled';
      ctx.env.store.changed();
    }
    return undefined;
  },

  DisableKey(ctx, p) {
    const k = keyParam(ctx, p, 'KeyId', true);
    requireManageable(ctx, k, ['PendingImport']);
    if (k.state !== 'Disabled') {
      k.state = 'Disabled';
      ctx.env.store.changed();
    }
    return undefined;
  },

  UpdateKeyDescription(ctx, p) {
    const k = keyParam(ctx, p, 'KeyId', true);
    const description = str(p, 'Description', true, MAX_DESCRIPTION, 0);
    requireManageable(ctx, k);
    k.description = description;
    ctx.env.store.changed();
    return undefined;
  },

  CreateAlias(ctx, p) {
    const name = str(p, 'AliasName', true, 256);
    const k = keyParam(ctx, p, 'TargetKeyId', true);
    checkAliasName(ctx, name);
    if (keyByAlias(ctx, name)) throw new AwsError('AlreadyExistsException', `An alias with the name ${aliasArn(ctx, name)} already exists`);
    requireManageable(ctx, k);
    const now = ctx.env.now();
    k.aliases = [...(k.aliases ?? []), name];
    k.aliasDates = { ...(k.aliasDates ?? {}), [name]: { created: now, updated: now } };
    ctx.env.store.changed();
    return undefined;
  },

  UpdateAlias(ctx, p) {
    const name = str(p, 'AliasName', true, 256);
    const target = keyParam(ctx, p, 'TargetKeyId', true);
    checkAliasName(ctx, name);
    const current = keyByAlias(ctx, name);
    if (!current) throw new AwsError('NotFoundException', `Alias ${aliasArn(ctx, name)} is not found.`);
    requireManageable(ctx, target);
    if (current !== target) {
      const created = current.aliasDates?.[name]?.created ?? current.createdAt;
      current.aliases = (current.aliases ?? []).filter((a) => a !== name);
      if (current.aliasDates) delete current.aliasDates[name];
      target.aliases = [...(target.aliases ?? []), name];
      target.aliasDates = { ...(target.aliasDates ?? {}), [name]: { created, updated: ctx.env.now() } };
      ctx.env.store.changed();
    }
    return undefined;
  },

  DeleteAlias(ctx, p) {
    const name = str(p, 'AliasName', true, 256);
    checkAliasName(ctx, name);
    const k = keyByAlias(ctx, name);
    if (!k) throw new AwsError('NotFoundException', `Alias ${aliasArn(ctx, name)} is not found.`);
    k.aliases = (k.aliases ?? []).filter((a) => a !== name);
    if (k.aliasDates) delete k.aliasDates[name];
    ctx.env.store.changed();
    return undefined;
  },

  ScheduleKeyDeletion(ctx, p) {
    const k = keyParam(ctx, p, 'KeyId', true);
    const days = int(p, 'PendingWindowInDays', 7, 30) ?? 30;
    requireManageable(ctx, k);
    k.state = 'PendingDeletion';
    k.deletionDate = ctx.env.now() + days * 86_400_000;
    ctx.env.store.changed();
    return { KeyId: keyArn(ctx, k.keyId), DeletionDate: epoch(k.deletionDate), KeyState: k.state, PendingWindowInDays: days };
  },

  CancelKeyDeletion(ctx, p) {
    const k = keyParam(ctx, p, 'KeyId', true);
    if (k.manager === 'AWS') throw accessDenied(ctx, keyArn(ctx, k.keyId));
    if (k.state !== 'PendingDeletion') throw invalidState(ctx, k);
    k.state = 'Disabled';
    k.deletionDate = undefined;
    ctx.env.store.changed();
    return { KeyId: keyArn(ctx, k.keyId) };
  },

  GetKeyRotationStatus(ctx, p) {
    const k = keyParam(ctx, p, 'KeyId', true);
    if (k.state === 'PendingDeletion') throw invalidState(ctx, k);
    if (k.origin !== 'AWS_KMS')
      throw new AwsError(
        'UnsupportedOperationException',
        `${keyArn(ctx, k.keyId)} has imported key material; it does not rotate automatically.`,
      );
    const next = k.rotationEnabled ? (k.lastRotation ?? k.createdAt) + k.rotateDays * 86_400_000 : undefined;
    return {
      KeyRotationEnabled: k.rotationEnabled,
      KeyId: keyArn(ctx, k.keyId),
      ...(k.rotationEnabled ? { RotationPeriodInDays: k.rotateDays, NextRotationDate: epoch(next) } : {}),
    };
  },

  EnableKeyRotation(ctx, p) {
    const k = keyParam(ctx, p, 'KeyId', true);
    const days = int(p, 'RotationPeriodInDays', 90, 2560) ?? 365;
    requireManageable(ctx, k, ['PendingImport']);
    if (k.state === 'Disabled') throw new AwsError('DisabledException', `${keyArn(ctx, k.keyId)} is disabled.`);
    if (k.origin !== 'AWS_KMS')
      throw new AwsError(
        'UnsupportedOperationException',
        `${keyArn(ctx, k.keyId)} has imported key material; it does not rotate automatically.`,
      );
    k.rotationEnabled = true;
    k.rotateDays = days;
    ctx.env.store.changed();
    return undefined;
  },

  DisableKeyRotation(ctx, p) {
    const k = keyParam(ctx, p, 'KeyId', true);
    requireManageable(ctx, k, ['PendingImport']);
    if (k.state === 'Disabled') throw new AwsError('DisabledException', `${keyArn(ctx, k.keyId)} is disabled.`);
    k.rotationEnabled = false;
    ctx.env.store.changed();
    return undefined;
  },

  Encrypt(ctx, p) {
    const k = keyParam(ctx, p);
    const plaintext = blob(p, 'Plaintext', 1, 4096);
    const context = contextParam(p);
    grantTokens(p);
    const algorithm = oneOf(p, 'EncryptionAlgorithm', ENCRYPTION_ALGORITHMS);
    requireUsable(ctx, k);
    requireEncryptDecrypt(ctx, k, algorithm);
    dryRun(p);
    return {
      CiphertextBlob: encryptWith(ctx, k, context, plaintext),
      KeyId: keyArn(ctx, k.keyId),
      EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
    };
  },

  GenerateDataKey(ctx, p) {
    const k = keyParam(ctx, p);
    const context = contextParam(p);
    grantTokens(p);
    const n = int(p, 'NumberOfBytes', 1, 1024);
    const spec = oneOf(p, 'KeySpec', Object.keys(DATA_KEY_SPECS));
    if ((n === undefined) === (spec === undefined))
      throw new AwsError(
        'ValidationException',
        'Please specify either number of bytes or key spec (exactly one of NumberOfBytes and KeySpec).',
      );
    if (p.Recipient !== undefined && p.Recipient !== null)
      throw new AwsError('UnsupportedOperationException', 'Recipient (Nitro Enclaves attestation) is not emulated.');
    requireUsable(ctx, k);
    requireEncryptDecrypt(ctx, k, undefined);
    dryRun(p);
    const plaintext = randomBytes(n ?? DATA_KEY_SPECS[spec!]);
    return {
      CiphertextBlob: encryptWith(ctx, k, context, plaintext),
      Plaintext: plaintext.toString('base64'),
      KeyId: keyArn(ctx, k.keyId),
    };
  },

  Decrypt(ctx, p) {
    const raw = blob(p, 'CiphertextBlob', 1, 6144);
    const context = contextParam(p);
    grantTokens(p);
    const algorithm = oneOf(p, 'EncryptionAlgorithm', ENCRYPTION_ALGORITHMS);
    const wanted = str(p, 'KeyId');
    if (p.Recipient !== undefined && p.Recipient !== null)
      throw new AwsError('UnsupportedOperationException', 'Recipient (Nitro Enclaves attestation) is not emulated.');
    const parsed = parseBlob(raw.toString('base64'));
    if (!parsed || parsed.cloud !== 'aws')
      throw new AwsError('InvalidCiphertextException', 'The ciphertext is not a ciphertext of AWS KMS (it does not parse).');
    const blobArn = `arn:${awsPartition(parsed.region)}:kms:${parsed.region}:${parsed.accountId}:key/${parsed.keyId}`;
    const notOurs = () => new AwsError('InvalidCiphertextException', 'The ciphertext was altered: it names no key this service has.');
    if (!isKeyId(parsed.keyId) || !AWS_REGIONS.includes(parsed.region)) throw notOurs();
    if (parsed.accountId !== ctx.account.awsAccountId) {
      // Another account's key (no key policy here grants it), or a header changed in transit.
      if (ctx.env.store.accounts.some((a) => a.awsAccountId === parsed.accountId)) throw accessDenied(ctx, blobArn);
      throw notOurs();
    }
    if (parsed.region !== ctx.region)
      throw new AwsError(
        'InvalidCiphertextException',
        `The ciphertext was not produced in region ${ctx.region} (send it to the region of its key).`,
      );
    if (wanted !== undefined) {
      const w = resolveKey(ctx, wanted);
      if (w.keyId !== parsed.keyId)
        throw new AwsError(
          'IncorrectKeyException',
          'The key ID in the request does not identify a KMS key that can perform this operation.',
        );
    }
    const k = ctx.env.store.key('aws', ctx.account.name, ctx.region, parsed.keyId);
    if (!k) throw notOurs(); // a changed key id, or a key deleted since
    requireUsable(ctx, k);
    requireEncryptDecrypt(ctx, k, algorithm);
    dryRun(p);
    const plaintext = openBlob(parsed, Buffer.from(k.material, 'base64'), context);
    if (!plaintext)
      throw new AwsError(
        'InvalidCiphertextException',
        'The ciphertext was altered, or the EncryptionContext differs from the one it was encrypted with.',
      );
    return { KeyId: keyArn(ctx, k.keyId), Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
  },
};

export const AWS_ACTIONS = Object.keys(actions);

/** The operation named by an X-Amz-Target header (`TrentService.Encrypt` → `Encrypt`). */
export const awsAction = (target: string) => (target.startsWith(AWS_TARGET_PREFIX) ? target.slice(AWS_TARGET_PREFIX.length) : target);

/** Handles one AWS KMS request (the X-Amz-Target header is present). */
export function handleAws(env: HandlerEnv, req: RawRequest, target: string): Reply {
  const requestId = randomUUID();
  const action = awsAction(target);
  try {
    const { account, region } = authenticate(env, req);
    const fn = target.startsWith(AWS_TARGET_PREFIX) && Object.prototype.hasOwnProperty.call(actions, action) ? actions[action] : undefined;
    if (req.method !== 'POST' || req.path !== '/' || !fn)
      throw new AwsError(
        'UnknownOperationException',
        `${req.method} ${req.path} ${target}: the emulator answers POST / with X-Amz-Target TrentService.<Operation> (${AWS_ACTIONS.join(', ')}).`,
      );
    const ct = (header(req, 'content-type') ?? '').split(';')[0].trim().toLowerCase();
    if (ct !== AWS_CONTENT_TYPE) throw new AwsError('SerializationException', `Content-Type must be ${AWS_CONTENT_TYPE}, not "${ct}".`);
    let params: unknown;
    try {
      params = req.body.length ? JSON.parse(req.body.toString('utf8')) : {};
    } catch {
      throw new AwsError('SerializationException', 'The request body is not valid JSON.');
    }
    if (params === null || typeof params !== 'object' || Array.isArray(params))
      throw new AwsError('SerializationException', 'The request body must be a JSON object.');
    return awsReply(env, fn({ env, account, region, action }, params as Params), requestId);
  } catch (err) {
    if (err instanceof AwsError) return awsError(env, err.code, err.message, err.status, requestId);
    env.log.error(`emulator: aws ${action} failed: ${(err as Error).message}`);
    return awsError(env, 'KMSInternalException', 'An internal error occurred in the emulator.', 500, requestId);
  }
}
