/**
 * Tencent Cloud KMS (API 3.0, version 2019-01-18) on the official `tencentcloud-sdk-nodejs-common`
 * (its CommonClient signs TC3-HMAC-SHA256 requests). The SDK is loaded on first use, so the CLI's
 * local-only path does not pay for it.
 *
 * Notes on the cloud's rules this provider applies:
 * - Keys are addressed by KeyId (a UUID). The API takes no alias in KeyId, so an alias given in a
 *   keyref is resolved with ListKeyDetail(SearchKeyAlias) and an exact match, cached for 60 s.
 * - CreateKey requires an Alias (1–60 of [A-Za-z0-9_-], unique per region, `kms-` reserved).
 *   When none is given, this provider derives one: `key-YYYYMMDD-HHMMSS-<6 hex>` (UTC).
 * - ScheduleKeyDeletion takes 7–30 days and only a Disabled key; the error says to disable first.
 * - Plaintext is base64 both ways; CiphertextBlob is kept verbatim (its UTF-8 bytes are the EDK).
 */
import { randomBytes } from 'node:crypto';
import type { CommonClient } from 'tencentcloud-sdk-nodejs-common';
import { usageError } from '../../errors';
import { TtlCache } from '../cache';
import type { CloudProviderOptions } from '../cloud-call';
import type { CallFlags } from '../cloud-provider';
import { CloudCallError, findNetworkCode, parseRetryAfter } from '../cloud-errors';
import { resolveEndpoint, type ResolvedEndpoint } from '../endpoint';
import { AgentPool } from '../http-agent';
import { clampPageSize, decodePageToken, encodePageToken, type PageTokenPlanner } from '../paging';
import { JsonApiProvider } from '../json-api';
import { keyMetadata, unixToIso } from '../wire-values';
import type {
  CallOptions,
  CloudCredentials,
  CreateKeyOptions,
  KeyMetadata,
  KeyState,
  KmsProvider,
  ListKeysOptions,
  ListKeysPage,
} from '../types';
import { TENCENT_ALIAS, tencentProvider } from './descriptor';

export const TENCENT_API_VERSION = '2019-01-18';
export const TENCENT_PUBLIC_ENDPOINT = tencentProvider.endpoint!.template;
export const TENCENT_DEFAULT_REGION = tencentProvider.regions.default!;
export const TENCENT_MAX_PAGE = 200;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type TencentKmsProviderOptions = CloudProviderOptions;

/** KeyMetadata as Tencent returns it (fields used here). */
interface TcKeyMetadata {
  KeyId: string;
  Alias?: string;
  CreateTime?: number;
  Description?: string;
  KeyState?: string;
  KeyUsage?: string;
  Type?: number;
  Origin?: string;
  DeletionDate?: number;
  KeyRotationEnabled?: boolean;
  ResourceId?: string;
}

const STATES: Record<string, KeyState> = {
  Enabled: 'Enabled',
  Disabled: 'Disabled',
  PendingDelete: 'PendingDeletion',
  PendingImport: 'PendingImport',
  Archived: 'Archived',
};

/** Validates a Tencent alias (before any call, so the user gets a usage error at once). */
export function validateTencentAlias(alias: string): void {
  const problem = tencentProvider.aliases.check(alias);
  if (problem) throw usageError(`"${alias}" is not a valid Tencent Cloud KMS alias.`, problem, { provider: 'tencent' });
}

/** The alias CreateKey uses when none is given: `key-YYYYMMDD-HHMMSS-<6 hex>` (UTC). */
export function deriveTencentAlias(now = new Date()): string {
  const iso = now.toISOString();
  return `key-${iso.slice(0, 10).replaceAll('-', '')}-${iso.slice(11, 19).replaceAll(':', '')}-${randomBytes(3).toString('hex')}`;
}

/** Normalises what the Tencent SDK throws into a CloudCallError. */
export function normalizeTencentError(err: unknown): unknown {
  if (err instanceof CloudCallError) return err;
  if (!(err instanceof Error)) return new CloudCallError(String(err), {});
  const e = err as Error & { code?: unknown; httpCode?: unknown; requestId?: unknown; type?: unknown; retryAfter?: unknown };
  if (e.name === 'AbortError' || e.name === 'KmsEnvelopeError' || e.name === 'CancelledError') return err;
  const requestId = typeof e.requestId === 'string' ? e.requestId : undefined;
  const retryAfterMs = parseRetryAfter(typeof e.retryAfter === 'string' ? e.retryAfter : undefined);
  // API errors arrive with HTTP 200 and Response.Error.Code (the SDK puts it in .code).
  if (typeof e.code === 'string' && e.code && !/^E[A-Z_]+$/.test(e.code)) {
    return new CloudCallError(e.message, { code: e.code, requestId, retryAfterMs, cause: err });
  }
  // Non-200: the SDK keeps only the status (message = status text) and, through keepRetryAfter, Retry-After.
  if (typeof e.httpCode === 'number') {
    return new CloudCallError(`HTTP ${e.httpCode} ${e.message}`.trim(), { status: e.httpCode, requestId, retryAfterMs, cause: err });
  }
  const net = findNetworkCode(err);
  if (net) return new CloudCallError(e.message, { networkCode: net, cause: err });
  // A 200 whose body is not the API's JSON (a proxy page, a truncated answer).
  if (e.type === 'invalid-json' || /invalid json|Unexpected token|Cannot read propert/i.test(e.message)) {
    return new CloudCallError(`unreadable answer: ${e.message}`, { code: 'InvalidResponse', cause: err });
  }
  return new CloudCallError(e.message, { cause: err });
}

/**
 * The SDK keeps only the status of a non-200 answer, and a gateway in front of the API may say how
 * long to wait (429/503 with Retry-After): keep that header on the error (`retryAfter`) so the retry
 * honours it. Wraps the SDK's parseResponse; if a later SDK renames it, the hint is simply not seen.
 */
function keepRetryAfter(client: CommonClient): void {
  const c = client as unknown as { parseResponse?: (res: { headers?: { get(n: string): string | null } }) => Promise<unknown> };
  const parse = c.parseResponse;
  if (typeof parse !== 'function') return;
  c.parseResponse = async (res) => {
    try {
      return await parse.call(client, res);
    } catch (err) {
      const after = res?.headers?.get('retry-after');
      if (after && err && typeof err === 'object') (err as { retryAfter?: string }).retryAfter = after;
      throw err;
    }
  };
}

export class TencentKmsProvider extends JsonApiProvider implements KmsProvider, PageTokenPlanner {
  protected readonly keyIdPattern = UUID;
  protected readonly descriptionLimit = { max: 1024, unit: 'bytes' } as const;
  private readonly agents = new AgentPool();
  private sdk?: Promise<typeof import('tencentcloud-sdk-nodejs-common')>;
  private readonly aliasCache = new TtlCache<string>(60_000);

  constructor(opts: TencentKmsProviderOptions) {
    super(tencentProvider, opts, normalizeTencentError);
  }

  /** Closes idle keep-alive connections (tests, extension deactivate). */
  dispose(): void {
    this.agents.destroy();
  }

  endpointFor(region: string): ResolvedEndpoint {
    return resolveEndpoint(this.opts.endpoint, region, TENCENT_PUBLIC_ENDPOINT);
  }

  /**
   * A client for one attempt, signing with the credentials handed to that attempt (the client is a
   * plain object; connections live in the agent, which loopback endpoints share through the pool).
   */
  private async client(region: string, ep: ResolvedEndpoint, cr: CloudCredentials): Promise<CommonClient> {
    const sdk = await (this.sdk ??= import('tencentcloud-sdk-nodejs-common'));
    const timeoutMs = this.opts.timeoutMs ?? 15_000;
    const client = new sdk.CommonClient(ep.host, TENCENT_API_VERSION, {
      credential: { secretId: cr.accessKeyId, secretKey: cr.accessKeySecret, token: cr.securityToken },
      region,
      profile: {
        language: 'en-US',
        httpProfile: {
          endpoint: ep.host,
          protocol: `${ep.protocol}://`,
          // The SDK's own timeout (seconds) backs up the per-attempt timeout of retry.ts.
          reqTimeout: Math.max(1, Math.ceil(timeoutMs / 1000)),
          // Loopback endpoints get our agent, so http_proxy is never applied to 127.0.0.1;
          // public endpoints keep the SDK's default (which honours http_proxy).
          ...(ep.loopback ? { agent: this.agents.get(ep.protocol) } : {}),
        },
      },
    });
    keepRetryAfter(client);
    return client;
  }

  /** One API call with retries, timeouts, cancellation and error mapping. */
  protected async call<T>(region: string, action: string, params: Record<string, unknown>, o: CallFlags): Promise<T> {
    const body: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(params)) if (v !== undefined) body[k] = v;
    return this.cloudCall<T>(region, action, o, async ({ signal, credentials }, ep) => {
      const client = await this.client(region, ep, credentials);
      const res = (await client.request(action, body, { signal })) as T & { RequestId?: string };
      return { result: res, requestId: res?.RequestId };
    });
  }

  private toMeta(region: string, m: TcKeyMetadata): KeyMetadata {
    return keyMetadata('tencent', region, { ...m, Arn: m.ResourceId }, STATES, {
      alias: m.Alias || undefined,
      createdAt: unixToIso(m.CreateTime),
      deletionDate: unixToIso(m.DeletionDate),
      rotationEnabled: typeof m.KeyRotationEnabled === 'boolean' ? m.KeyRotationEnabled : undefined,
    });
  }

  protected keyParam(region: string, keyIdOrAlias: string, signal?: AbortSignal): Promise<string> {
    return this.resolveKeyId(region, keyIdOrAlias, signal);
  }

  /** Key id for a key id or alias (aliases resolved through ListKeyDetail, cached 60 s). */
  async resolveKeyId(region: string, keyIdOrAlias: string, signal?: AbortSignal): Promise<string> {
    const k = keyIdOrAlias.trim();
    if (!k) throw usageError('No key given.', 'Pass a key id or alias.', { provider: 'tencent', region });
    if (UUID.test(k) || !TENCENT_ALIAS.test(k)) return k;
    return this.aliasCache.get(`${region}|${k}`, async () => {
      const res = await this.call<{ KeyMetadatas?: TcKeyMetadata[] }>(
        region,
        'ListKeyDetail',
        { Offset: 0, Limit: TENCENT_MAX_PAGE, Role: 0, SearchKeyAlias: k },
        { idempotent: true, keyId: k, signal },
      );
      const hit = (res.KeyMetadatas ?? []).find((m) => m.Alias === k);
      // No key carries this alias: pass it on as a key id, so the cloud's own
      // "key not found" error (with its code and request id) reaches the user.
      return hit ? hit.KeyId : k;
    });
  }

  async listRegions(opts?: CallOptions): Promise<string[]> {
    const region = this.opts.defaultRegion || TENCENT_DEFAULT_REGION;
    const res = await this.call<{ Regions?: string[] }>(region, 'GetRegions', {}, { idempotent: true, signal: opts?.signal });
    return [...(res.Regions ?? [])].sort();
  }

  async listKeys(region: string, opts?: ListKeysOptions): Promise<ListKeysPage> {
    let offset = 0;
    let limit = clampPageSize(opts?.pageSize, TENCENT_MAX_PAGE, TENCENT_MAX_PAGE);
    if (opts?.nextToken) ({ n: offset, size: limit } = decodePageToken('o', opts.nextToken, 'Tencent'));
    const res = await this.call<{ TotalCount?: number; KeyMetadatas?: TcKeyMetadata[] }>(
      region,
      'ListKeyDetail',
      { Offset: offset, Limit: limit, Role: 0, KeyState: 0 },
      { idempotent: true, signal: opts?.signal },
    );
    const keys = (res.KeyMetadatas ?? []).map((m) => this.toMeta(region, m));
    const total = typeof res.TotalCount === 'number' ? res.TotalCount : undefined;
    const more = total !== undefined ? offset + limit < total : keys.length === limit;
    return { keys, total, nextToken: more && keys.length > 0 ? encodePageToken('o', offset + limit, limit) : undefined };
  }

  /** Tokens of every page after `first` (first page = offset 0), from its TotalCount. */
  remainingPageTokens(first: ListKeysPage): string[] | undefined {
    if (!first.nextToken || first.total === undefined) return undefined;
    const { n: offset, size } = decodePageToken('o', first.nextToken, 'Tencent');
    const out: string[] = [];
    for (let o = offset; o < first.total; o += size) out.push(encodePageToken('o', o, size));
    return out;
  }

  async describeKey(region: string, keyIdOrAlias: string, opts?: CallOptions): Promise<KeyMetadata> {
    const keyId = await this.resolveKeyId(region, keyIdOrAlias, opts?.signal);
    const res = await this.call<{ KeyMetadata: TcKeyMetadata }>(
      region,
      'DescribeKey',
      { KeyId: keyId },
      { idempotent: true, keyId: keyIdOrAlias, signal: opts?.signal },
    );
    return this.toMeta(region, res.KeyMetadata);
  }

  async createKey(region: string, opts?: CreateKeyOptions): Promise<KeyMetadata> {
    const alias = opts?.alias?.trim() || deriveTencentAlias();
    validateTencentAlias(alias);
    const res = await this.call<TcKeyMetadata>(
      region,
      'CreateKey',
      { Alias: alias, Description: opts?.description || undefined, KeyUsage: 'ENCRYPT_DECRYPT', Type: 1 },
      // Not idempotent: a repeated CreateKey after an ambiguous failure could make a second key.
      { idempotent: false, alias, signal: opts?.signal },
    );
    this.aliasCache.set(`${region}|${alias}`, res.KeyId);
    return this.toMeta(region, { ...res, Alias: res.Alias ?? alias });
  }

  async setAlias(region: string, keyId: string, alias: string, opts?: CallOptions): Promise<void> {
    const a = alias.trim();
    validateTencentAlias(a);
    const id = await this.resolveKeyId(region, keyId, opts?.signal);
    await this.call(region, 'UpdateAlias', { Alias: a, KeyId: id }, { idempotent: true, keyId, alias: a, signal: opts?.signal });
    this.aliasCache.delete(`${region}|`);
    this.aliasCache.set(`${region}|${a}`, id);
  }

  /** ScheduleKeyDeletion (CloudProvider.scheduleDeletion checked the window). */
  protected async scheduleKeyDeletion(region: string, keyId: string, days: number, signal?: AbortSignal) {
    const id = await this.resolveKeyId(region, keyId, signal);
    const res = await this.call<{ DeletionDate?: number }>(
      region,
      'ScheduleKeyDeletion',
      { KeyId: id, PendingWindowInDays: days },
      // A repeat after success fails (the key is already pending deletion): retried only when unsent.
      { idempotent: false, keyId, signal },
    );
    return { deletionDate: unixToIso(res.DeletionDate) };
  }
}
