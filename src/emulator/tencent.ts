/**
 * Tencent Cloud KMS (API 3.0, version 2019-01-18) front end of the emulator.
 *
 * Authentication is TC3-HMAC-SHA256 exactly as the cloud verifies it: the host is compared
 * without its port (PROTOCOLS.md trap 1), the service comes from the credential scope (trap 2),
 * the raw body bytes are hashed, |now − X-TC-Timestamp| ≤ 300 s. Errors travel in the HTTP 200
 * envelope `{"Response":{"Error":{"Code","Message"},"RequestId"}}`.
 *
 * Error codes where PROTOCOLS.md leaves the choice open ("map sensibly"):
 * - missing / malformed Authorization → AuthFailure.InvalidAuthorization
 * - an unknown region → UnsupportedRegion; no X-TC-Region → MissingParameter (GetRegions and
 *   GetServiceStatus accept none)
 * - KeyId that is not a UUID → InvalidParameterValue.InvalidKeyId; unknown → ResourceUnavailable.CmkNotFound
 * - a CiphertextBlob that is not an emulator blob → InvalidParameterValue.InvalidCiphertext;
 *   a well-formed blob that does not open here (other region or account, another context,
 *   a changed byte) → FailedOperation.DecryptError
 * - Enable/Disable/rotation on a key pending deletion → ResourceUnavailable.KeyPendingDelete;
 *   data-key operations on Disabled → CmkDisabled, PendingDelete → KeyPendingDelete,
 *   Archived → CmkArchived (Decrypt stays allowed), PendingImport → CmkStateNotSupport
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { canonicalContext, openBlob, parseBlob, sealBlob } from './blob';
import { header, hostWithoutPort, isBase64, isUuid, parseContextJson, type HandlerEnv, type RawRequest, type Reply } from './common';
import { TENCENT_DEFAULT_REGION, TENCENT_REGIONS } from './regions';
import { parseTc3Authorization, signaturesEqual, tc3Date, tc3Signature } from './signatures';
import type { StoredAccount, StoredKey } from './state';

export const TENCENT_VERSION = '2019-01-18';
export const TENCENT_MAX_SKEW_S = 300;
const MAX_LIMIT = 200;
const ALIAS = /^[A-Za-z0-9_-]{1,60}$/;

export class TcError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function tencentReply(body: Record<string, unknown>, requestId = randomUUID()): Reply {
  return {
    status: 200,
    headers: { 'content-type': 'application/json', 'x-tc-requestid': requestId },
    body: JSON.stringify({ Response: { ...body, RequestId: requestId } }),
  };
}

export function tencentError(code: string, message: string, requestId = randomUUID()): Reply {
  return tencentReply({ Error: { Code: code, Message: message } }, requestId);
}

interface Ctx {
  env: HandlerEnv;
  account: StoredAccount;
  region: string;
}

/** Verifies the TC3 signature; returns the account or throws TcError. */
function authenticate(env: HandlerEnv, req: RawRequest): StoredAccount {
  const auth = parseTc3Authorization(header(req, 'authorization'));
  if (!auth) {
    throw new TcError(
      'AuthFailure.InvalidAuthorization',
      'The Authorization header is missing or is not a TC3-HMAC-SHA256 authorization (Credential=<SecretId>/<date>/<service>/tc3_request, SignedHeaders=..., Signature=...).',
    );
  }
  const tsRaw = header(req, 'x-tc-timestamp');
  if (!tsRaw || !/^\d+$/.test(tsRaw))
    throw new TcError('MissingParameter', 'The request is missing a valid X-TC-Timestamp header (unix seconds).');
  const ts = Number(tsRaw);
  const nowS = Math.floor(env.now() / 1000);
  if (Math.abs(nowS - ts) > TENCENT_MAX_SKEW_S) {
    throw new TcError(
      'AuthFailure.SignatureExpire',
      `Signature expired: X-TC-Timestamp ${ts} is more than ${TENCENT_MAX_SKEW_S} s away from the server time ${nowS}.`,
    );
  }
  const account = env.store.accountByTencentId(auth.secretId);
  if (!account)
    throw new TcError('AuthFailure.SecretIdNotFound', 'The SecretId is not found, please ensure that your SecretId is correct.');
  for (const required of ['content-type', 'host']) {
    if (!auth.signedHeaders.includes(required))
      throw new TcError(
        'AuthFailure.SignatureFailure',
        `The header ${required} must be signed (SignedHeaders=${auth.signedHeaders.join(';')}).`,
      );
  }
  const headers: Record<string, string> = {};
  for (const name of auth.signedHeaders) {
    const v = header(req, name);
    if (v === undefined) throw new TcError('AuthFailure.SignatureFailure', `The signed header ${name} is not in the request.`);
    headers[name] = name === 'host' ? hostWithoutPort(v) : v;
  }
  const expected = tc3Signature({
    method: req.method,
    path: req.path,
    query: req.query,
    headers,
    signedHeaders: auth.signedHeaders,
    body: req.body,
    timestamp: ts,
    service: auth.service,
    secretKey: account.tencent.secretKey,
  });
  if (auth.date !== tc3Date(ts) || !signaturesEqual(expected, auth.signature)) {
    throw new TcError(
      'AuthFailure.SignatureFailure',
      'The provided credentials could not be validated. Please check your signature is correct.',
    );
  }
  const token = header(req, 'x-tc-token');
  if ((account.tencent.token ?? '') !== (token ?? '')) {
    throw new TcError(
      'AuthFailure.TokenFailure',
      account.tencent.token
        ? 'The X-TC-Token is missing or does not belong to this SecretId.'
        : 'An X-TC-Token was sent with permanent credentials (this SecretId has no session token).',
    );
  }
  return account;
}

// ---------------------------------------------------------------- parameter helpers

type Params = Record<string, unknown>;

function str(p: Params, name: string, required: true): string;
function str(p: Params, name: string, required?: false): string | undefined;
function str(p: Params, name: string, required = false): string | undefined {
  const v = p[name];
  if (v === undefined || v === null) {
    if (required) throw new TcError('MissingParameter', `The request is missing a required parameter \`${name}\`.`);
    return undefined;
  }
  if (typeof v !== 'string') throw new TcError('InvalidParameter', `The parameter \`${name}\` must be a string.`);
  if (required && v === '') throw new TcError('MissingParameter', `The request is missing a required parameter \`${name}\`.`);
  return v;
}

function int(
  p: Params,
  name: string,
  dflt: number | undefined,
  min: number,
  max: number,
  code = 'InvalidParameterValue',
): number | undefined {
  const v = p[name];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new TcError('InvalidParameter', `The parameter \`${name}\` must be an integer.`);
  if (v < min || v > max) throw new TcError(code, `The value of \`${name}\` must be between ${min} and ${max}.`);
  return v;
}

function contextParam(p: Params, name: string): string {
  const raw = p[name];
  if (typeof raw === 'string' && raw.length > 1024)
    throw new TcError('InvalidParameterValue', `\`${name}\` is longer than 1024 characters.`);
  const c = parseContextJson(raw);
  if (c === 'invalid')
    throw new TcError('InvalidParameterValue', `\`${name}\` must be a JSON string of string keys and values, e.g. {"purpose":"backup"}.`);
  return canonicalContext(c);
}

function keyOf(ctx: Ctx, keyId: string): StoredKey {
  if (!isUuid(keyId)) throw new TcError('InvalidParameterValue.InvalidKeyId', `KeyId ${keyId} is not a valid key id (a UUID).`);
  const k = ctx.env.store.key('tencent', ctx.account.name, ctx.region, keyId);
  if (!k) throw new TcError('ResourceUnavailable.CmkNotFound', `The CMK ${keyId} does not exist in region ${ctx.region}.`);
  return k;
}

function requireUsable(k: StoredKey, op: 'encrypt' | 'decrypt'): void {
  switch (k.state) {
    case 'Enabled':
      return;
    case 'Disabled':
      throw new TcError('ResourceUnavailable.CmkDisabled', `The CMK ${k.keyId} is disabled.`);
    case 'PendingDelete':
      throw new TcError('ResourceUnavailable.KeyPendingDelete', `The CMK ${k.keyId} is pending deletion.`);
    case 'Archived':
      if (op === 'decrypt') return;
      throw new TcError('ResourceUnavailable.CmkArchived', `The CMK ${k.keyId} is archived; archived keys only decrypt.`);
    default:
      throw new TcError(
        'ResourceUnavailable.CmkStateNotSupport',
        `The CMK ${k.keyId} is in state ${k.state}, which does not allow this operation.`,
      );
  }
}

const unix = (ms: number | undefined) => (ms === undefined ? 0 : Math.floor(ms / 1000));

function metadata(ctx: Ctx, k: StoredKey): Record<string, unknown> {
  return {
    KeyId: k.keyId,
    Alias: k.alias ?? '',
    CreateTime: unix(k.createdAt),
    Description: k.description,
    KeyState: k.state,
    KeyUsage: k.keyUsage,
    Type: Number(k.spec),
    CreatorUin: Number(ctx.account.uin),
    KeyRotationEnabled: k.rotationEnabled,
    Owner: 'user',
    NextRotateTime: k.rotationEnabled ? unix((k.lastRotation ?? k.createdAt) + k.rotateDays * 86_400_000) : 0,
    DeletionDate: unix(k.deletionDate),
    Origin: k.origin,
    ValidTo: 0,
    ResourceId: `creatorUin/${ctx.account.uin}/${k.keyId}`,
    HsmClusterId: '',
    RotateDays: k.rotateDays,
    LastRotateTime: unix(k.lastRotation),
  };
}

function checkAlias(ctx: Ctx, alias: string, self?: StoredKey): void {
  if (!ALIAS.test(alias) || alias.toLowerCase().startsWith('kms-')) {
    throw new TcError(
      'InvalidParameterValue.InvalidAlias',
      `Alias "${alias}" is invalid: 1–60 characters of letters, digits, - and _, not starting with "kms-".`,
    );
  }
  const taken = ctx.env.store.keys('tencent', ctx.account.name, ctx.region).find((k) => k.alias === alias && k !== self);
  if (taken)
    throw new TcError(
      'InvalidParameterValue.AliasAlreadyExists',
      `Alias "${alias}" is already used by another key in region ${ctx.region}.`,
    );
}

function checkDescription(d: string | undefined): void {
  if (d !== undefined && Buffer.byteLength(d) > 1024) throw new TcError('InvalidParameterValue', 'Description is longer than 1024 bytes.');
}

function encryptWith(ctx: Ctx, k: StoredKey, context: string, plaintext: Buffer): string {
  return sealBlob(
    { cloud: 'tencent', keyId: k.keyId, region: ctx.region, accountId: ctx.account.uin },
    Buffer.from(k.material, 'base64'),
    context,
    plaintext,
  );
}

function decryptBlob(ctx: Ctx, blob: string, context: string): { key: StoredKey; plaintext: Buffer } {
  const p = parseBlob(blob);
  if (!p || p.cloud !== 'tencent')
    throw new TcError('InvalidParameterValue.InvalidCiphertext', 'CiphertextBlob is not a valid ciphertext of this KMS.');
  if (p.region !== ctx.region || p.accountId !== ctx.account.uin) {
    throw new TcError(
      'FailedOperation.DecryptError',
      `Decryption failed: the ciphertext was not produced in region ${ctx.region} of this account.`,
    );
  }
  const key = ctx.env.store.key('tencent', ctx.account.name, ctx.region, p.keyId);
  if (!key)
    throw new TcError(
      'ResourceUnavailable.CmkNotFound',
      `The CMK ${p.keyId} named by the ciphertext does not exist in region ${ctx.region}.`,
    );
  requireUsable(key, 'decrypt');
  const plaintext = openBlob(p, Buffer.from(key.material, 'base64'), context);
  if (!plaintext)
    throw new TcError(
      'FailedOperation.DecryptError',
      'Decryption failed: the ciphertext was altered or the EncryptionContext differs from the one used to encrypt.',
    );
  return { key, plaintext };
}

function page<T>(items: T[], p: Params): T[] {
  const offset = int(p, 'Offset', 0, 0, Number.MAX_SAFE_INTEGER)!;
  const limit = int(p, 'Limit', 10, 1, MAX_LIMIT)!;
  return items.slice(offset, offset + limit);
}

const KEY_STATE_FILTER: Record<number, string | undefined> = {
  0: undefined,
  1: 'Enabled',
  2: 'Disabled',
  3: 'PendingDelete',
  4: 'PendingImport',
  5: 'Archived',
};

// ---------------------------------------------------------------- actions

type Action = (ctx: Ctx, p: Params) => Record<string, unknown>;

const actions: Record<string, Action> = {
  CreateKey(ctx, p) {
    const alias = str(p, 'Alias', true);
    const description = str(p, 'Description') ?? '';
    checkDescription(description);
    const usage = str(p, 'KeyUsage') ?? 'ENCRYPT_DECRYPT';
    if (usage !== 'ENCRYPT_DECRYPT')
      throw new TcError('UnsupportedOperation', `KeyUsage ${usage}: the emulator supports symmetric ENCRYPT_DECRYPT keys only.`);
    const type = int(p, 'Type', 1, 1, 2)!;
    checkAlias(ctx, alias);
    if (ctx.env.store.count('tencent', ctx.account.name, ctx.region) >= 10_000)
      throw new TcError('LimitExceeded.CmkLimitExceeded', 'The number of CMKs in this region exceeds the limit.');
    const k = ctx.env.store.createKey({
      cloud: 'tencent',
      account: ctx.account.name,
      region: ctx.region,
      description,
      state: type === 2 ? 'PendingImport' : 'Enabled',
      keyUsage: usage,
      spec: String(type),
      origin: type === 2 ? 'EXTERNAL' : 'TENCENT_KMS',
      alias,
      rotationEnabled: false,
      rotateDays: 365,
      tags: p.Tags,
    });
    return {
      KeyId: k.keyId,
      Alias: alias,
      CreateTime: unix(k.createdAt),
      Description: description,
      KeyState: k.state,
      KeyUsage: usage,
      TagCode: 0,
      TagMsg: '',
    };
  },

  ListKeys(ctx, p) {
    const role = int(p, 'Role', 0, 0, 1);
    const all = role === 1 ? [] : ctx.env.store.keys('tencent', ctx.account.name, ctx.region);
    return { Keys: page(all, p).map((k) => ({ KeyId: k.keyId })), TotalCount: all.length };
  },

  ListKeyDetail(ctx, p) {
    const role = int(p, 'Role', 0, 0, 1);
    const order = int(p, 'OrderType', 0, 0, 1);
    const stateNum = int(p, 'KeyState', 0, 0, 5)!;
    const search = str(p, 'SearchKeyAlias');
    const origin = str(p, 'Origin');
    const usage = str(p, 'KeyUsage');
    let keys = role === 1 ? [] : ctx.env.store.keys('tencent', ctx.account.name, ctx.region);
    const wanted = KEY_STATE_FILTER[stateNum];
    if (wanted) keys = keys.filter((k) => k.state === wanted);
    if (search) keys = keys.filter((k) => (k.alias ?? '').includes(search) || k.keyId.includes(search));
    if (origin && origin !== 'ALL') keys = keys.filter((k) => k.origin === origin);
    if (usage && usage !== 'ALL') keys = keys.filter((k) => k.keyUsage === usage);
    if (order === 0) keys = keys.reverse();
    return { TotalCount: keys.length, KeyMetadatas: page(keys, p).map((k) => metadata(ctx, k)) };
  },

  DescribeKey(ctx, p) {
    return { KeyMetadata: metadata(ctx, keyOf(ctx, str(p, 'KeyId', true))) };
  },

  DescribeKeys(ctx, p) {
    const ids = p.KeyIds;
    if (ids === undefined || ids === null) throw new TcError('MissingParameter', 'The request is missing a required parameter `KeyIds`.');
    if (!Array.isArray(ids) || ids.some((x) => typeof x !== 'string'))
      throw new TcError('InvalidParameter', '`KeyIds` must be an array of key ids.');
    if (ids.length < 1 || ids.length > 100) throw new TcError('InvalidParameterValue', '`KeyIds` must hold 1 to 100 key ids.');
    const found: Record<string, unknown>[] = [];
    for (const id of ids as string[]) {
      if (!isUuid(id)) throw new TcError('InvalidParameterValue.InvalidKeyId', `KeyId ${id} is not a valid key id (a UUID).`);
      const k = ctx.env.store.key('tencent', ctx.account.name, ctx.region, id);
      if (k) found.push(metadata(ctx, k));
    }
    return { KeyMetadatas: found };
  },

  Encrypt(ctx, p) {
    const k = keyOf(ctx, str(p, 'KeyId', true));
    const pt = str(p, 'Plaintext', true);
    const context = contextParam(p, 'EncryptionContext');
    if (!isBase64(pt)) throw new TcError('InvalidParameterValue.InvalidPlaintext', 'Plaintext must be base64.');
    const raw = Buffer.from(pt, 'base64');
    if (raw.length > 4096)
      throw new TcError(
        'InvalidParameterValue.InvalidPlaintext',
        `Plaintext is ${raw.length} bytes after base64 decoding; the limit is 4096.`,
      );
    requireUsable(k, 'encrypt');
    return { CiphertextBlob: encryptWith(ctx, k, context, raw), KeyId: k.keyId };
  },

  Decrypt(ctx, p) {
    const blob = str(p, 'CiphertextBlob', true);
    const { key, plaintext } = decryptBlob(ctx, blob, contextParam(p, 'EncryptionContext'));
    return { KeyId: key.keyId, Plaintext: plaintext.toString('base64') };
  },

  GenerateDataKey(ctx, p) {
    const k = keyOf(ctx, str(p, 'KeyId', true));
    const spec = str(p, 'KeySpec');
    const nob = int(p, 'NumberOfBytes', undefined, 1, 1024);
    if (spec !== undefined && nob !== undefined) throw new TcError('InvalidParameter', 'Give KeySpec or NumberOfBytes, not both.');
    if (spec !== undefined && spec !== 'AES_128' && spec !== 'AES_256')
      throw new TcError('InvalidParameterValue', 'KeySpec must be AES_128 or AES_256.');
    if (spec === undefined && nob === undefined) throw new TcError('InvalidParameter', 'One of KeySpec or NumberOfBytes is required.');
    const context = contextParam(p, 'EncryptionContext');
    requireUsable(k, 'encrypt');
    const dk = randomBytes(nob ?? (spec === 'AES_128' ? 16 : 32));
    return { KeyId: k.keyId, Plaintext: dk.toString('base64'), CiphertextBlob: encryptWith(ctx, k, context, dk) };
  },

  ReEncrypt(ctx, p) {
    const blob = str(p, 'CiphertextBlob', true);
    const src = decryptBlob(ctx, blob, contextParam(p, 'SourceEncryptionContext'));
    const destId = str(p, 'DestinationKeyId');
    const dest = destId ? keyOf(ctx, destId) : src.key;
    requireUsable(dest, 'encrypt');
    const out = encryptWith(ctx, dest, contextParam(p, 'DestinationEncryptionContext'), src.plaintext);
    return { CiphertextBlob: out, KeyId: dest.keyId, SourceKeyId: src.key.keyId, ReEncrypted: true };
  },

  EnableKey(ctx, p) {
    const k = keyOf(ctx, str(p, 'KeyId', true));
    if (k.state === 'PendingDelete')
      throw new TcError('ResourceUnavailable.KeyPendingDelete', `The CMK ${k.keyId} is pending deletion; cancel the deletion first.`);
    if (k.state === 'Archived')
      throw new TcError('ResourceUnavailable.CmkArchived', `The CMK ${k.keyId} is archived; cancel the archive instead.`);
    if (k.state === 'PendingImport')
      throw new TcError('ResourceUnavailable.CmkStateNotSupport', `The CMK ${k.keyId} has no key material yet.`);
    k.state = 'Enabled';
    ctx.env.store.changed();
    return {};
  },

  DisableKey(ctx, p) {
    const k = keyOf(ctx, str(p, 'KeyId', true));
    if (k.state === 'PendingDelete') throw new TcError('ResourceUnavailable.KeyPendingDelete', `The CMK ${k.keyId} is pending deletion.`);
    if (k.state === 'Archived' || k.state === 'PendingImport')
      throw new TcError('ResourceUnavailable.CmkStateNotSupport', `The CMK ${k.keyId} is ${k.state} and cannot be disabled.`);
    k.state = 'Disabled';
    ctx.env.store.changed();
    return {};
  },

  ArchiveKey(ctx, p) {
    const k = keyOf(ctx, str(p, 'KeyId', true));
    if (k.state !== 'Enabled' && k.state !== 'Archived')
      throw new TcError('ResourceUnavailable.CmkStateNotSupport', `Only an enabled CMK can be archived; ${k.keyId} is ${k.state}.`);
    k.state = 'Archived';
    ctx.env.store.changed();
    return {};
  },

  CancelKeyArchive(ctx, p) {
    const k = keyOf(ctx, str(p, 'KeyId', true));
    if (k.state !== 'Archived')
      throw new TcError('ResourceUnavailable.CmkStateNotSupport', `The CMK ${k.keyId} is not archived (it is ${k.state}).`);
    k.state = 'Enabled';
    ctx.env.store.changed();
    return {};
  },

  UpdateAlias(ctx, p) {
    const alias = str(p, 'Alias', true);
    const k = keyOf(ctx, str(p, 'KeyId', true));
    checkAlias(ctx, alias, k);
    k.alias = alias;
    ctx.env.store.changed();
    return {};
  },

  UpdateKeyDescription(ctx, p) {
    const d = str(p, 'Description', true);
    const k = keyOf(ctx, str(p, 'KeyId', true));
    checkDescription(d);
    k.description = d;
    ctx.env.store.changed();
    return {};
  },

  ScheduleKeyDeletion(ctx, p) {
    const k = keyOf(ctx, str(p, 'KeyId', true));
    const days = p.PendingWindowInDays;
    if (days === undefined || days === null)
      throw new TcError('MissingParameter', 'The request is missing a required parameter `PendingWindowInDays`.');
    if (typeof days !== 'number' || !Number.isInteger(days) || days < 7 || days > 30) {
      throw new TcError('InvalidParameter.InvalidPendingWindowInDays', 'PendingWindowInDays must be an integer from 7 to 30.');
    }
    if (k.state === 'PendingDelete')
      throw new TcError('ResourceUnavailable.KeyPendingDelete', `The CMK ${k.keyId} is already pending deletion.`);
    if (k.state !== 'Disabled')
      throw new TcError(
        'ResourceUnavailable.CmkShouldBeDisabled',
        `The CMK ${k.keyId} must be disabled before its deletion can be scheduled (it is ${k.state}).`,
      );
    k.state = 'PendingDelete';
    k.deletionDate = ctx.env.now() + days * 86_400_000;
    ctx.env.store.changed();
    return { DeletionDate: unix(k.deletionDate), KeyId: k.keyId };
  },

  CancelKeyDeletion(ctx, p) {
    const k = keyOf(ctx, str(p, 'KeyId', true));
    if (k.state !== 'PendingDelete')
      throw new TcError('ResourceUnavailable.CmkNotPendingDelete', `The CMK ${k.keyId} is not pending deletion (it is ${k.state}).`);
    k.state = 'Disabled';
    k.deletionDate = undefined;
    ctx.env.store.changed();
    return { KeyId: k.keyId };
  },

  GetRegions() {
    return { Regions: [...TENCENT_REGIONS] };
  },

  GetServiceStatus() {
    return {
      ServiceEnabled: true,
      InvalidType: 0,
      UserLevel: 0,
      ProExpireTime: null,
      ProRenewFlag: null,
      ProResourceId: null,
      ExclusiveVSMEnabled: false,
      ExclusiveHSMEnabled: false,
      SubscriptionInfo: null,
      CmkUserCount: 0,
      CmkLimit: 10000,
      ExclusiveHSMList: [],
      IsAllowedDataKeyHosted: false,
      DataKeyLimit: 0,
      DataKeyUsedCount: 0,
    };
  },

  EnableKeyRotation(ctx, p) {
    const k = keyOf(ctx, str(p, 'KeyId', true));
    const days = int(p, 'RotateDays', 365, 7, 365)!;
    if (k.state === 'PendingDelete') throw new TcError('ResourceUnavailable.KeyPendingDelete', `The CMK ${k.keyId} is pending deletion.`);
    if (k.state !== 'Enabled')
      throw new TcError('ResourceUnavailable.CmkStateNotSupport', `Rotation needs an enabled CMK; ${k.keyId} is ${k.state}.`);
    k.rotationEnabled = true;
    k.rotateDays = days;
    k.lastRotation ??= k.createdAt;
    ctx.env.store.changed();
    return {};
  },

  DisableKeyRotation(ctx, p) {
    const k = keyOf(ctx, str(p, 'KeyId', true));
    if (k.state === 'PendingDelete') throw new TcError('ResourceUnavailable.KeyPendingDelete', `The CMK ${k.keyId} is pending deletion.`);
    k.rotationEnabled = false;
    ctx.env.store.changed();
    return {};
  },

  GetKeyRotationStatus(ctx, p) {
    const k = keyOf(ctx, str(p, 'KeyId', true));
    const m = metadata(ctx, k);
    return {
      KeyRotationEnabled: k.rotationEnabled,
      RotateDays: k.rotateDays,
      LastRotateTime: m.LastRotateTime,
      NextRotateTime: m.NextRotateTime,
    };
  },
};

export const TENCENT_ACTIONS = Object.keys(actions);

const REGIONLESS = new Set(['GetRegions', 'GetServiceStatus']);

/** Handles one Tencent request (the X-TC-Action header is present). */
export function handleTencent(env: HandlerEnv, req: RawRequest, action: string): Reply {
  const requestId = randomUUID();
  try {
    if (req.method !== 'POST')
      throw new TcError('UnsupportedProtocol', `The emulator accepts API 3.0 requests as POST / with a JSON body, not ${req.method}.`);
    const account = authenticate(env, req);
    const version = header(req, 'x-tc-version');
    if (version !== TENCENT_VERSION)
      throw new TcError('NoSuchVersion', `Version ${version ?? '(none)'} of kms does not exist; use ${TENCENT_VERSION}.`);
    const fn = Object.prototype.hasOwnProperty.call(actions, action) ? actions[action] : undefined;
    if (!fn) throw new TcError('InvalidAction', `The action ${action} is not found in kms ${TENCENT_VERSION}.`);
    let region = header(req, 'x-tc-region');
    if (!region) {
      if (!REGIONLESS.has(action))
        throw new TcError('MissingParameter', 'The request is missing a required parameter `Region` (X-TC-Region).');
      region = TENCENT_DEFAULT_REGION;
    }
    if (!TENCENT_REGIONS.includes(region)) throw new TcError('UnsupportedRegion', `kms does not support region ${region}; see GetRegions.`);
    let params: unknown;
    try {
      params = req.body.length ? JSON.parse(req.body.toString('utf8')) : {};
    } catch {
      throw new TcError('InvalidParameter', 'The request body is not valid JSON.');
    }
    if (params === null || typeof params !== 'object' || Array.isArray(params))
      throw new TcError('InvalidParameter', 'The request body must be a JSON object.');
    return tencentReply(fn({ env, account, region }, params as Params), requestId);
  } catch (err) {
    if (err instanceof TcError) return tencentError(err.code, err.message, requestId);
    env.log.error(`emulator: tencent ${action} failed: ${(err as Error).message}`);
    return tencentError('InternalError', 'An internal error occurred in the emulator.', requestId);
  }
}
