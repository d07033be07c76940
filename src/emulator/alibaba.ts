/**
 * Alibaba Cloud KMS (OpenAPI 2016-01-20, RPC style) front end of the emulator.
 *
 * Authentication, as the cloud does it:
 * - V3 ACS3-HMAC-SHA256 (the default of @alicloud/openapi-client): Action/Version in the
 *   x-acs-action / x-acs-version headers, parameters in the query (and/or a form body); the query
 *   is decoded and re-encoded canonically (PROTOCOLS.md trap 4); host (WITH port) and every x-acs-*
 *   header must be signed (trap 3); x-acs-content-sha256 must match the body; x-acs-date within
 *   ±15 min; x-acs-signature-nonce never reused.
 * - V2 HMAC-SHA1 (`signatureAlgorithm: 'v2'`): every parameter of query and form body is signed;
 *   Timestamp within ±15 min (a 31-minute validity window); SignatureNonce never reused.
 * Errors: HTTP 4xx/5xx with {"RequestId","HostId","Code","Message","Recommend"}.
 *
 * Region: the real cloud picks the region by endpoint host (kms.<region>.aliyuncs.com). On
 * 127.0.0.1 there is no such host, so the emulator takes, in order: the `RegionId` parameter
 * (query or form body; signed like every parameter), then a Host header of the form
 * `kms.<region>.aliyuncs.com` / `kms-vpc.<region>.aliyuncs.com`, then cn-hangzhou.
 *
 * Error codes where PROTOCOLS.md leaves the choice open ("map sensibly"):
 * - any CiphertextBlob that does not decrypt here (not an emulator blob, another region or
 *   account, another EncryptionContext, a changed byte) → 400 InvalidCiphertext
 * - unknown action → 404 InvalidAction.NotFound; wrong version → 400 InvalidVersion;
 *   unknown region → 400 InvalidRegionId
 * - a missing signature → 400 IncompleteSignature; STS token missing, wrong, or sent with
 *   permanent credentials → 400 InvalidSecurityToken.MismatchWithAccessKey
 * - CancelKeyDeletion on a key not pending deletion, Enable/Disable on a key pending deletion or
 *   import, ScheduleKeyDeletion twice → 409 Rejected.StateModifiedFailed
 * - CancelKeyDeletion returns the key to Enabled (Alibaba's documented behaviour; Tencent: Disabled)
 *
 * Keys of a KMS 3.0 instance (CreateKey with DKMSInstanceId; instance.ts serves them on its own
 * HTTPS gateway) carry DKMSInstanceId in their metadata, and their ciphertexts take the KMS 1.0
 * form the TransferClient produces (instance-blob.ts), so either gateway opens what the other made.
 * An unknown DKMSInstanceId → 404 Forbidden.DKMSInstanceNotFound [U].
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { parse as parseQuery } from 'node:querystring';
import { canonicalContext, openBlob, parseBlob, sealBlob } from './blob';
import { header, isBase64, parseContextJson, type HandlerEnv, type RawRequest, type Reply } from './common';
import { contextAad, gcmOpen, gcmSeal, kms1Blob, parseKms1Blob } from './instance-blob';
import { newInstanceKeyId } from './instance-pki';
import type { FaultKind } from './faults';
import { ALIBABA_DEFAULT_REGION, ALIBABA_REGIONS } from './regions';
import { acs3Signature, acsV2Signature, parseAcs3Authorization, signaturesEqual } from './signatures';
import type { StoredAccount, StoredKey } from './state';

export const ALIBABA_VERSION = '2016-01-20';
export const ALIBABA_V3_SKEW_MS = 15 * 60_000;
export const ALIBABA_V2_SKEW_MS = 15 * 60_000;
const NONCE_TTL_MS = 31 * 60_000;
const MAX_PAGE = 100;
const ALIAS = /^alias\/[a-zA-Z0-9:/_-]{1,255}$/;
const SYMMETRIC_SPECS = new Set(['Aliyun_AES_256', 'Aliyun_AES_128', 'Aliyun_AES_192', 'Aliyun_SM4']);

export class AliError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function hostIdFor(region: string): string {
  return `kms.${region}.aliyuncs.com`;
}

export function alibabaReply(body: Record<string, unknown>, requestId = randomUUID()): Reply {
  return {
    status: 200,
    headers: { 'content-type': 'application/json;charset=utf-8', 'x-acs-request-id': requestId },
    body: JSON.stringify({ RequestId: requestId, ...body }),
  };
}

export function alibabaError(status: number, code: string, message: string, region: string, requestId = randomUUID()): Reply {
  return {
    status,
    headers: { 'content-type': 'application/json;charset=utf-8', 'x-acs-request-id': requestId },
    body: JSON.stringify({
      RequestId: requestId,
      HostId: hostIdFor(region),
      Code: code,
      Message: message,
      Recommend: `https://api.aliyun.com/troubleshoot?q=${encodeURIComponent(code)}&product=Kms`,
    }),
  };
}

export function alibabaFault(kind: Exclude<FaultKind, 'drop'>, raw: RawRequest): Reply {
  const region = regionOf(raw, mergedParams(raw).params) ?? ALIBABA_DEFAULT_REGION;
  switch (kind) {
    case 'throttle':
      return alibabaError(400, 'Throttling', 'Request was denied due to request throttling (injected by the emulator).', region);
    case 'error':
      return alibabaError(
        500,
        'InternalFailure',
        'The request processing has failed due to some unknown error (injected by the emulator).',
        region,
      );
    case 'unavailable':
      return alibabaError(503, 'ServiceUnavailableTemporary', 'The service is temporarily unavailable (injected by the emulator).', region);
  }
}

// ---------------------------------------------------------------- request parsing and authentication

function flatten(q: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(q)) if (v !== undefined) out[k] = Array.isArray(v) ? v[0] : v;
  return out;
}

function mergedParams(raw: RawRequest): { query: Record<string, string>; form: Record<string, string>; params: Record<string, string> } {
  const query = flatten(parseQuery(raw.query));
  const ct = header(raw, 'content-type') ?? '';
  const form = ct.startsWith('application/x-www-form-urlencoded') && raw.body.length ? flatten(parseQuery(raw.body.toString('utf8'))) : {};
  return { query, form, params: { ...query, ...form } };
}

function regionOf(raw: RawRequest, params: Record<string, string>): string | undefined {
  if (params.RegionId) return params.RegionId;
  const host = (header(raw, 'host') ?? '').toLowerCase();
  const m = /^kms(?:-vpc)?\.([a-z0-9-]+)\.aliyuncs\.com(?::\d+)?$/.exec(host);
  return m?.[1];
}

function parseTimestamp(v: string, name: string): number {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(v) || Number.isNaN(Date.parse(v))) {
    throw new AliError(400, 'InvalidTimeStamp.Format', `Specified ${name} "${v}" is not valid: use the UTC format yyyy-MM-ddTHH:mm:ssZ.`);
  }
  return Date.parse(v);
}

function checkSkew(env: HandlerEnv, ts: number, windowMs: number, name: string): void {
  if (Math.abs(env.now() - ts) > windowMs) {
    throw new AliError(
      400,
      'InvalidTimeStamp.Expired',
      `Specified ${name} is expired: it is more than ${windowMs / 60_000} minutes away from the server time ${new Date(env.now()).toISOString()}.`,
    );
  }
}

function useNonce(env: HandlerEnv, accessKeyId: string, nonce: string): void {
  const k = `${accessKeyId}|${nonce}`;
  const exp = env.nonces.get(k);
  if (exp !== undefined && exp > env.now()) throw new AliError(400, 'SignatureNonceUsed', 'Specified signature nonce was used already.');
  env.nonces.set(k, env.now() + NONCE_TTL_MS);
}

function checkToken(account: StoredAccount, token: string | undefined): void {
  if ((account.alibaba.securityToken ?? '') !== (token ?? '')) {
    throw new AliError(
      400,
      'InvalidSecurityToken.MismatchWithAccessKey',
      account.alibaba.securityToken
        ? 'The security token is missing or does not belong to this AccessKey ID.'
        : 'A security token was sent with a permanent AccessKey ID.',
    );
  }
}

const notFoundAk = () => new AliError(404, 'InvalidAccessKeyId.NotFound', 'Specified access key is not found.');
const mismatch = (why: string) =>
  new AliError(400, 'SignatureDoesNotMatch', `Specified signature does not match our calculation (${why}).`);

function authenticateV3(env: HandlerEnv, raw: RawRequest, query: Record<string, string>): StoredAccount {
  const authHeader = header(raw, 'authorization') ?? '';
  const auth = parseAcs3Authorization(authHeader);
  if (!auth) {
    throw new AliError(
      400,
      'IncompleteSignature',
      'The request signature does not conform to Aliyun standards: the emulator verifies ACS3-HMAC-SHA256 (Authorization: ACS3-HMAC-SHA256 Credential=...,SignedHeaders=...,Signature=...) or V2 HMAC-SHA1.',
    );
  }
  const date = header(raw, 'x-acs-date');
  if (!date) throw new AliError(400, 'MissingParameter', 'The header x-acs-date is required.');
  checkSkew(env, parseTimestamp(date, 'x-acs-date'), ALIBABA_V3_SKEW_MS, 'x-acs-date');
  const nonce = header(raw, 'x-acs-signature-nonce');
  if (!nonce) throw new AliError(400, 'MissingParameter', 'The header x-acs-signature-nonce is required.');
  const account = env.store.accountByAlibabaId(auth.accessKeyId);
  if (!account) throw notFoundAk();
  const must = ['host', ...Object.keys(raw.headers).filter((h) => h.startsWith('x-acs-'))];
  for (const h of must) {
    if (!auth.signedHeaders.includes(h))
      throw new AliError(
        400,
        'IncompleteSignature',
        `The request signature does not conform to Aliyun standards: header ${h} must be signed.`,
      );
  }
  const headers: Record<string, string> = {};
  for (const name of auth.signedHeaders) {
    const v = header(raw, name);
    if (v === undefined) throw new AliError(400, 'IncompleteSignature', `The signed header ${name} is not in the request.`);
    headers[name] = v;
  }
  const bodyHash = createHash('sha256').update(raw.body).digest('hex');
  const claimed = header(raw, 'x-acs-content-sha256');
  if (claimed !== undefined && claimed.toLowerCase() !== bodyHash) throw mismatch('x-acs-content-sha256 does not match the body');
  const expected = acs3Signature({
    method: raw.method,
    path: raw.path,
    query,
    headers,
    signedHeaders: auth.signedHeaders,
    payloadHash: bodyHash,
    secret: account.alibaba.accessKeySecret,
  });
  if (!signaturesEqual(expected, auth.signature)) throw mismatch('ACS3-HMAC-SHA256');
  const akHeader = header(raw, 'x-acs-accesskey-id');
  if (akHeader !== undefined && akHeader !== auth.accessKeyId)
    throw new AliError(400, 'IncompleteSignature', 'x-acs-accesskey-id does not match the Credential of the Authorization header.');
  checkToken(account, header(raw, 'x-acs-security-token'));
  useNonce(env, auth.accessKeyId, nonce);
  return account;
}

function authenticateV2(env: HandlerEnv, raw: RawRequest, params: Record<string, string>): StoredAccount {
  for (const p of ['AccessKeyId', 'SignatureMethod', 'SignatureVersion', 'SignatureNonce', 'Timestamp']) {
    if (!params[p])
      throw new AliError(
        400,
        'MissingParameter',
        `The input parameter "${p}" that is mandatory for processing this request is not supplied.`,
      );
  }
  if (params.SignatureMethod !== 'HMAC-SHA1')
    throw new AliError(400, 'InvalidParameter', `SignatureMethod ${params.SignatureMethod} is not supported; use HMAC-SHA1.`);
  if (params.SignatureVersion !== '1.0')
    throw new AliError(400, 'InvalidParameter', `SignatureVersion ${params.SignatureVersion} is not supported; use 1.0.`);
  checkSkew(env, parseTimestamp(params.Timestamp, 'Timestamp'), ALIBABA_V2_SKEW_MS, 'Timestamp');
  const account = env.store.accountByAlibabaId(params.AccessKeyId);
  if (!account) throw notFoundAk();
  const expected = acsV2Signature(raw.method, params, account.alibaba.accessKeySecret);
  if (!signaturesEqual(expected, params.Signature)) throw mismatch('HMAC-SHA1');
  checkToken(account, params.SecurityToken);
  useNonce(env, params.AccessKeyId, params.SignatureNonce);
  return account;
}

// ---------------------------------------------------------------- parameters

type Params = Record<string, string>;
interface Ctx {
  env: HandlerEnv;
  account: StoredAccount;
  region: string;
}

const invalid = (message: string) => new AliError(400, 'InvalidParameter', message);

function str(p: Params, name: string, required: true): string;
function str(p: Params, name: string, required?: false): string | undefined;
function str(p: Params, name: string, required = false): string | undefined {
  const v = p[name];
  if ((v === undefined || v === '') && required)
    throw new AliError(
      400,
      'MissingParameter',
      `The input parameter "${name}" that is mandatory for processing this request is not supplied.`,
    );
  return v;
}

function intParam(p: Params, name: string, dflt: number | undefined, min: number, max: number): number | undefined {
  const v = p[name];
  if (v === undefined || v === '') return dflt;
  if (!/^-?\d+$/.test(v)) throw invalid(`The specified parameter "${name}" is not valid: an integer is expected.`);
  const n = Number(v);
  if (n < min || n > max) throw invalid(`The specified parameter "${name}" is not valid: it must be from ${min} to ${max}.`);
  return n;
}

function contextParam(p: Params, name = 'EncryptionContext'): string {
  const raw = p[name];
  if (raw !== undefined && raw.length > 8192) throw invalid(`The specified parameter "${name}" is longer than 8192 characters.`);
  const c = parseContextJson(raw);
  if (c === 'invalid')
    throw invalid(`The specified parameter "${name}" is not valid: a JSON object of string keys and values is expected.`);
  return canonicalContext(c);
}

const iso = (ms: number | undefined) => (ms === undefined ? '' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z'));
const keyArn = (ctx: Ctx, keyId: string) => `acs:kms:${ctx.region}:${ctx.account.aliUid}:key/${keyId}`;
const aliasArn = (ctx: Ctx, alias: string) => `acs:kms:${ctx.region}:${ctx.account.aliUid}:${alias}`;

function allKeys(ctx: Ctx): StoredKey[] {
  return ctx.env.store.keys('alibaba', ctx.account.name, ctx.region);
}

function keyByAlias(ctx: Ctx, alias: string): StoredKey | undefined {
  return allKeys(ctx).find((k) => k.aliases?.includes(alias));
}

/** Resolves a KeyId parameter: key id, alias/<name>, or an ARN of a key or alias. */
function resolveKey(ctx: Ctx, ref: string): StoredKey {
  let r = ref;
  const arn = /^acs:kms:([^:]*):([^:]*):(.+)$/.exec(ref);
  if (arn) {
    if (arn[1] !== ctx.region || arn[2] !== ctx.account.aliUid)
      throw new AliError(404, 'Forbidden.KeyNotFound', `The specified Key ${ref} is not found in region ${ctx.region} of this account.`);
    r = arn[3].startsWith('key/') ? arn[3].slice(4) : arn[3];
  }
  if (r.startsWith('alias/')) {
    const k = keyByAlias(ctx, r);
    if (!k) throw new AliError(404, 'Forbidden.AliasNotFound', `The specified Alias ${r} is not found in region ${ctx.region}.`);
    return k;
  }
  const k = ctx.env.store.key('alibaba', ctx.account.name, ctx.region, r);
  if (!k) throw new AliError(404, 'Forbidden.KeyNotFound', `The specified Key ${r} is not found in region ${ctx.region}.`);
  return k;
}

function requireEnabled(k: StoredKey): void {
  switch (k.state) {
    case 'Enabled':
      return;
    case 'Disabled':
      throw new AliError(409, 'Rejected.Disabled', `The request is rejected because the key ${k.keyId} is disabled.`);
    case 'PendingDeletion':
      throw new AliError(409, 'Rejected.PendingDeletion', `The request is rejected because the key ${k.keyId} is pending deletion.`);
    case 'PendingImport':
      throw new AliError(
        409,
        'Rejected.PendingImport',
        `The request is rejected because the key ${k.keyId} is pending import of key material.`,
      );
    default:
      throw new AliError(409, 'Rejected.StateModifiedFailed', `The key ${k.keyId} is in state ${k.state}.`);
  }
}

function metadata(ctx: Ctx, k: StoredKey): Record<string, unknown> {
  const last = k.lastRotation ?? k.createdAt;
  return {
    Arn: keyArn(ctx, k.keyId),
    AutomaticRotation: k.rotationEnabled ? 'Enabled' : 'Disabled',
    CreationDate: iso(k.createdAt),
    Creator: ctx.account.aliUid,
    DeleteDate: iso(k.deletionDate),
    Description: k.description,
    KeyId: k.keyId,
    KeySpec: k.spec,
    KeyState: k.state,
    KeyUsage: k.keyUsage,
    LastRotationDate: iso(last),
    MaterialExpireTime: '',
    NextRotationDate: k.rotationEnabled ? iso(last + k.rotateDays * 86_400_000) : '',
    Origin: k.origin,
    PrimaryKeyVersion: k.versionId,
    ProtectionLevel: k.protectionLevel ?? 'SOFTWARE',
    RotationInterval: k.rotationEnabled ? `${k.rotateDays * 86_400}s` : '',
    ...(k.instanceId ? { DKMSInstanceId: k.instanceId } : {}),
  };
}

function paging(p: Params): { pageNumber: number; pageSize: number } {
  return { pageNumber: intParam(p, 'PageNumber', 1, 1, Number.MAX_SAFE_INTEGER)!, pageSize: intParam(p, 'PageSize', 10, 1, MAX_PAGE)! };
}

function checkAliasName(alias: string): void {
  if (!ALIAS.test(alias) || alias.toLowerCase().startsWith('alias/acs')) {
    throw invalid(
      `The specified parameter "AliasName" ${alias} is not valid: alias/ followed by 1–255 of letters, digits, _, -, / and :, not alias/acs...`,
    );
  }
}

function checkDescription(d: string | undefined): void {
  if (d !== undefined && d.length > 8192) throw invalid('The specified parameter "Description" is longer than 8192 characters.');
}

function seal(ctx: Ctx, k: StoredKey, context: string, plaintext: Buffer): string {
  if (k.instanceId) {
    const { iv, sealed } = gcmSeal(k, plaintext, contextAad(context ? (JSON.parse(context) as Record<string, string>) : undefined));
    return kms1Blob(k.versionId, iv, sealed).toString('base64');
  }
  return sealBlob(
    { cloud: 'alibaba', keyId: k.keyId, region: ctx.region, accountId: ctx.account.aliUid },
    Buffer.from(k.material, 'base64'),
    context,
    plaintext,
  );
}

function rotationDays(p: Params): { enabled: boolean; days: number } {
  const e = str(p, 'EnableAutomaticRotation');
  if (e !== undefined && e !== 'true' && e !== 'false')
    throw invalid('The specified parameter "EnableAutomaticRotation" must be true or false.');
  const interval = str(p, 'RotationInterval');
  let days = 365;
  if (interval !== undefined) {
    const m = /^(\d+)([smhd]?)$/.exec(interval);
    const mult = { s: 1, m: 60, h: 3600, d: 86_400, '': 1 } as const;
    const seconds = m ? Number(m[1]) * mult[m[2] as keyof typeof mult] : NaN;
    if (!(seconds >= 7 * 86_400 && seconds <= 730 * 86_400))
      throw invalid('The specified parameter "RotationInterval" must be 7 to 730 days, e.g. 604800s.');
    days = Math.round(seconds / 86_400);
  }
  return { enabled: e === 'true', days };
}

// ---------------------------------------------------------------- actions

type Action = (ctx: Ctx, p: Params) => Record<string, unknown>;

const actions: Record<string, Action> = {
  CreateKey(ctx, p) {
    const spec = str(p, 'KeySpec') ?? 'Aliyun_AES_256';
    if (!SYMMETRIC_SPECS.has(spec))
      throw invalid(
        `The specified parameter "KeySpec" ${spec} is not supported by the emulator (symmetric Aliyun_AES_256, Aliyun_AES_128, Aliyun_AES_192, Aliyun_SM4).`,
      );
    const usage = str(p, 'KeyUsage') ?? 'ENCRYPT/DECRYPT';
    if (usage !== 'ENCRYPT/DECRYPT')
      throw invalid(`The specified parameter "KeyUsage" ${usage} is not valid for a symmetric key (ENCRYPT/DECRYPT).`);
    const origin = str(p, 'Origin') ?? 'Aliyun_KMS';
    if (origin !== 'Aliyun_KMS' && origin !== 'EXTERNAL') throw invalid('The specified parameter "Origin" must be Aliyun_KMS or EXTERNAL.');
    const level = str(p, 'ProtectionLevel') ?? 'SOFTWARE';
    if (level !== 'SOFTWARE' && level !== 'HSM') throw invalid('The specified parameter "ProtectionLevel" must be SOFTWARE or HSM.');
    const description = str(p, 'Description') ?? '';
    checkDescription(description);
    const rot = rotationDays(p);
    let tags: unknown;
    if (p.Tags !== undefined) {
      try {
        tags = JSON.parse(p.Tags);
      } catch {
        throw invalid('The specified parameter "Tags" is not valid JSON.');
      }
    }
    const instanceId = str(p, 'DKMSInstanceId') || undefined;
    if (
      instanceId &&
      !ctx.env.store.instances.some((i) => i.id === instanceId && i.account === ctx.account.name && i.region === ctx.region)
    )
      throw new AliError(
        404,
        'Forbidden.DKMSInstanceNotFound',
        `The specified DKMSInstanceId ${instanceId} is not found in region ${ctx.region} of this account.`,
      );
    const k = ctx.env.store.createKey({
      ...(instanceId ? { keyId: newInstanceKeyId(), instanceId } : {}),
      cloud: 'alibaba',
      account: ctx.account.name,
      region: ctx.region,
      description,
      state: origin === 'EXTERNAL' ? 'PendingImport' : 'Enabled',
      keyUsage: usage,
      spec,
      origin,
      protectionLevel: level,
      aliases: [],
      rotationEnabled: rot.enabled,
      rotateDays: rot.days,
      tags,
    });
    return { KeyMetadata: metadata(ctx, k) };
  },

  ListKeys(ctx, p) {
    const { pageNumber, pageSize } = paging(p);
    let keys = allKeys(ctx);
    if (p.Filters) {
      let filters: unknown;
      try {
        filters = JSON.parse(p.Filters);
      } catch {
        throw invalid('The specified parameter "Filters" is not valid JSON.');
      }
      if (!Array.isArray(filters)) throw invalid('The specified parameter "Filters" must be a JSON array of {"Key","Values"}.');
      const field: Record<string, (k: StoredKey) => string> = {
        KeyState: (k) => k.state,
        KeySpec: (k) => k.spec,
        KeyUsage: (k) => k.keyUsage,
        ProtectionLevel: (k) => k.protectionLevel ?? 'SOFTWARE',
        CreatorType: () => 'User',
      };
      for (const f of filters as Array<{ Key?: unknown; Values?: unknown }>) {
        const get = typeof f?.Key === 'string' ? field[f.Key] : undefined;
        if (!get || !Array.isArray(f.Values))
          throw invalid(
            `The specified parameter "Filters" is not valid: Key must be one of ${Object.keys(field).join(', ')} with a Values array.`,
          );
        const values = f.Values as unknown[];
        keys = keys.filter((k) => values.includes(get(k)));
      }
    }
    const slice = keys.slice((pageNumber - 1) * pageSize, pageNumber * pageSize);
    return {
      Keys: { Key: slice.map((k) => ({ KeyId: k.keyId, KeyArn: keyArn(ctx, k.keyId) })) },
      TotalCount: keys.length,
      PageNumber: pageNumber,
      PageSize: pageSize,
    };
  },

  DescribeKey(ctx, p) {
    return { KeyMetadata: metadata(ctx, resolveKey(ctx, str(p, 'KeyId', true))) };
  },

  Encrypt(ctx, p) {
    const k = resolveKey(ctx, str(p, 'KeyId', true));
    const pt = str(p, 'Plaintext', true);
    if (Buffer.byteLength(pt) > 6144)
      throw invalid(`The specified parameter "Plaintext" is ${Buffer.byteLength(pt)} bytes; the limit is 6 KB (6144 bytes).`);
    const context = contextParam(p);
    requireEnabled(k);
    // The plaintext string is stored as given (opaque) and Decrypt returns it byte-identical.
    return { CiphertextBlob: seal(ctx, k, context, Buffer.from(pt, 'utf8')), KeyId: k.keyId, KeyVersionId: k.versionId };
  },

  Decrypt(ctx, p) {
    const blob = str(p, 'CiphertextBlob', true);
    const context = contextParam(p);
    const bad = (why: string) => new AliError(400, 'InvalidCiphertext', `The specified CiphertextBlob is not valid: ${why}.`);
    const parsed = parseBlob(blob);
    if (!parsed) {
      const inst = isBase64(blob) ? parseKms1Blob(Buffer.from(blob, 'base64')) : undefined;
      const k = inst && allKeys(ctx).find((x) => x.instanceId && x.versionId === inst.versionId);
      if (!inst || !k) throw bad('it was not produced by this KMS');
      requireEnabled(k);
      const plaintext = gcmOpen(k, inst.iv, inst.sealed, contextAad(context ? (JSON.parse(context) as Record<string, string>) : undefined));
      if (!plaintext) throw bad('it was altered, or the EncryptionContext differs from the one used to encrypt');
      return { Plaintext: plaintext.toString('utf8'), KeyId: k.keyId, KeyVersionId: k.versionId };
    }
    if (parsed.cloud !== 'alibaba') throw bad('it was not produced by this KMS');
    if (parsed.region !== ctx.region || parsed.accountId !== ctx.account.aliUid)
      throw bad(`it was not produced in region ${ctx.region} of this account`);
    const k = ctx.env.store.key('alibaba', ctx.account.name, ctx.region, parsed.keyId);
    if (!k)
      throw new AliError(
        404,
        'Forbidden.KeyNotFound',
        `The key ${parsed.keyId} named by the CiphertextBlob is not found in region ${ctx.region}.`,
      );
    requireEnabled(k);
    const plaintext = openBlob(parsed, Buffer.from(k.material, 'base64'), context);
    if (!plaintext) throw bad('it was altered, or the EncryptionContext differs from the one used to encrypt');
    return { Plaintext: plaintext.toString('utf8'), KeyId: k.keyId, KeyVersionId: k.versionId };
  },

  GenerateDataKey(ctx, p) {
    return generateDataKey(ctx, p, true);
  },

  GenerateDataKeyWithoutPlaintext(ctx, p) {
    return generateDataKey(ctx, p, false);
  },

  EnableKey(ctx, p) {
    const k = resolveKey(ctx, str(p, 'KeyId', true));
    if (k.state !== 'Enabled' && k.state !== 'Disabled')
      throw new AliError(409, 'Rejected.StateModifiedFailed', `The key ${k.keyId} is ${k.state} and cannot be enabled.`);
    k.state = 'Enabled';
    ctx.env.store.changed();
    return {};
  },

  DisableKey(ctx, p) {
    const k = resolveKey(ctx, str(p, 'KeyId', true));
    if (k.state !== 'Enabled' && k.state !== 'Disabled')
      throw new AliError(409, 'Rejected.StateModifiedFailed', `The key ${k.keyId} is ${k.state} and cannot be disabled.`);
    k.state = 'Disabled';
    ctx.env.store.changed();
    return {};
  },

  ScheduleKeyDeletion(ctx, p) {
    const k = resolveKey(ctx, str(p, 'KeyId', true));
    const days = intParam(p, 'PendingWindowInDays', undefined, 7, 366);
    if (days === undefined)
      throw new AliError(
        400,
        'MissingParameter',
        'The input parameter "PendingWindowInDays" that is mandatory for processing this request is not supplied.',
      );
    if (k.state === 'PendingDeletion')
      throw new AliError(409, 'Rejected.StateModifiedFailed', `The key ${k.keyId} is already pending deletion.`);
    k.state = 'PendingDeletion';
    k.deletionDate = ctx.env.now() + days * 86_400_000;
    ctx.env.store.changed();
    return {};
  },

  CancelKeyDeletion(ctx, p) {
    const k = resolveKey(ctx, str(p, 'KeyId', true));
    if (k.state !== 'PendingDeletion')
      throw new AliError(409, 'Rejected.StateModifiedFailed', `The key ${k.keyId} is not pending deletion (it is ${k.state}).`);
    k.state = k.origin === 'EXTERNAL' ? 'PendingImport' : 'Enabled';
    k.deletionDate = undefined;
    ctx.env.store.changed();
    return {};
  },

  UpdateKeyDescription(ctx, p) {
    const k = resolveKey(ctx, str(p, 'KeyId', true));
    const d = str(p, 'Description') ?? '';
    checkDescription(d);
    k.description = d;
    ctx.env.store.changed();
    return {};
  },

  CreateAlias(ctx, p) {
    const alias = str(p, 'AliasName', true);
    const k = resolveKey(ctx, str(p, 'KeyId', true));
    checkAliasName(alias);
    if (keyByAlias(ctx, alias))
      throw new AliError(400, 'AliasAlreadyExists', `The specified alias ${alias} already exists in region ${ctx.region}.`);
    k.aliases = [...(k.aliases ?? []), alias];
    ctx.env.store.changed();
    return {};
  },

  UpdateAlias(ctx, p) {
    const alias = str(p, 'AliasName', true);
    const target = resolveKey(ctx, str(p, 'KeyId', true));
    const current = keyByAlias(ctx, alias);
    if (!current) throw new AliError(404, 'Forbidden.AliasNotFound', `The specified Alias ${alias} is not found in region ${ctx.region}.`);
    current.aliases = (current.aliases ?? []).filter((a) => a !== alias);
    target.aliases = [...(target.aliases ?? []), alias];
    ctx.env.store.changed();
    return {};
  },

  DeleteAlias(ctx, p) {
    const alias = str(p, 'AliasName', true);
    const current = keyByAlias(ctx, alias);
    if (!current) throw new AliError(404, 'Forbidden.AliasNotFound', `The specified Alias ${alias} is not found in region ${ctx.region}.`);
    current.aliases = (current.aliases ?? []).filter((a) => a !== alias);
    ctx.env.store.changed();
    return {};
  },

  ListAliases(ctx, p) {
    const { pageNumber, pageSize } = paging(p);
    const all = allKeys(ctx).flatMap((k) => (k.aliases ?? []).map((a) => ({ AliasName: a, AliasArn: aliasArn(ctx, a), KeyId: k.keyId })));
    all.sort((a, b) => (a.AliasName < b.AliasName ? -1 : a.AliasName > b.AliasName ? 1 : 0));
    const slice = all.slice((pageNumber - 1) * pageSize, pageNumber * pageSize);
    return { Aliases: { Alias: slice }, TotalCount: all.length, PageNumber: pageNumber, PageSize: pageSize };
  },

  ListAliasesByKeyId(ctx, p) {
    const { pageNumber, pageSize } = paging(p);
    const k = resolveKey(ctx, str(p, 'KeyId', true));
    const all = [...(k.aliases ?? [])].sort().map((a) => ({ AliasName: a, AliasArn: aliasArn(ctx, a), KeyId: k.keyId }));
    const slice = all.slice((pageNumber - 1) * pageSize, pageNumber * pageSize);
    return { Aliases: { Alias: slice }, TotalCount: all.length, PageNumber: pageNumber, PageSize: pageSize };
  },

  DescribeRegions() {
    return { Regions: { Region: ALIBABA_REGIONS.map((r) => ({ RegionId: r })) } };
  },
};

function generateDataKey(ctx: Ctx, p: Params, withPlaintext: boolean): Record<string, unknown> {
  const k = resolveKey(ctx, str(p, 'KeyId', true));
  const spec = str(p, 'KeySpec');
  if (spec !== undefined && spec !== 'AES_256' && spec !== 'AES_128')
    throw invalid('The specified parameter "KeySpec" must be AES_256 or AES_128.');
  const nob = intParam(p, 'NumberOfBytes', undefined, 1, 1024);
  const context = contextParam(p);
  requireEnabled(k);
  const dk = randomBytes(nob ?? (spec === 'AES_128' ? 16 : 32));
  const b64 = dk.toString('base64');
  // The data key is sealed as its base64 text, so Decrypt returns the same Plaintext string.
  const blob = seal(ctx, k, context, Buffer.from(b64, 'utf8'));
  return withPlaintext
    ? { CiphertextBlob: blob, Plaintext: b64, KeyId: k.keyId, KeyVersionId: k.versionId }
    : { CiphertextBlob: blob, KeyId: k.keyId, KeyVersionId: k.versionId };
}

export const ALIBABA_ACTIONS = Object.keys(actions);

/** Handles one Alibaba request (x-acs-action header or Action parameter present). */
export function handleAlibaba(env: HandlerEnv, raw: RawRequest, headerAction: string): Reply {
  const requestId = randomUUID();
  const { query, params } = mergedParams(raw);
  let region = regionOf(raw, params) ?? ALIBABA_DEFAULT_REGION;
  try {
    const authHeader = header(raw, 'authorization');
    let account: StoredAccount;
    let action: string;
    let version: string | undefined;
    if (authHeader !== undefined && /^ACS3-/i.test(authHeader)) {
      account = authenticateV3(env, raw, query);
      action = header(raw, 'x-acs-action') ?? headerAction;
      version = header(raw, 'x-acs-version');
    } else if (params.Signature !== undefined) {
      account = authenticateV2(env, raw, params);
      action = params.Action ?? headerAction;
      version = params.Version;
    } else {
      throw new AliError(
        400,
        'IncompleteSignature',
        'The request signature does not conform to Aliyun standards: no Authorization header (ACS3-HMAC-SHA256) and no Signature parameter (V2 HMAC-SHA1).',
      );
    }
    if (version !== ALIBABA_VERSION)
      throw new AliError(
        400,
        'InvalidVersion',
        `Specified parameter Version ${version ?? '(none)'} is not valid; Kms uses ${ALIBABA_VERSION}.`,
      );
    const fn = Object.prototype.hasOwnProperty.call(actions, action) ? actions[action] : undefined;
    if (!fn) throw new AliError(404, 'InvalidAction.NotFound', `Specified api ${action} is not found, please check your url and method.`);
    if (!ALIBABA_REGIONS.includes(region)) {
      const bad = region;
      region = ALIBABA_DEFAULT_REGION;
      throw new AliError(400, 'InvalidRegionId', `The specified region ${bad} does not exist; see DescribeRegions.`);
    }
    return alibabaReply(fn({ env, account, region }, params), requestId);
  } catch (err) {
    if (err instanceof AliError) return alibabaError(err.status, err.code, err.message, region, requestId);
    env.log.error(`emulator: alibaba ${headerAction} failed: ${(err as Error).message}`);
    return alibabaError(
      500,
      'InternalFailure',
      'The request processing has failed due to some unknown error in the emulator.',
      region,
      requestId,
    );
  }
}
