/**
 * Alibaba Cloud KMS (OpenAPI 2016-01-20, RPC style) on the official `@alicloud/openapi-client`
 * (generic client, ACS3-HMAC-SHA256 "V3" signing, its default). The SDK is loaded on first use.
 *
 * Notes on the cloud's rules this provider applies:
 * - The region is chosen by the endpoint `kms.<region>.aliyuncs.com`. An endpoint override may
 *   contain `{region}` (e.g. `https://kms-vpc.{region}.aliyuncs.com`); an override without it (the
 *   emulator on 127.0.0.1) serves every region, and the region travels as the RegionId parameter.
 * - ListKeys returns ids only: each listed page is filled in with DescribeKey, at most
 *   `describeConcurrency` (8) calls in flight, and the aliases of the region come from ListAliases
 *   (paged, cached 30 s), i.e. ~1 call per 100 aliases instead of one ListAliasesByKeyId per key.
 * - Aliases are `alias/<name>`; a bare name in a keyref that does not look like a key id is
 *   taken as an alias. A key may carry several aliases; KeyMetadata.alias shows the first.
 * - setAlias replaces the key's alias, as Alibaba documents it (aliases cannot be renamed): the new
 *   alias is pointed at the key first (UpdateAlias when it exists, else CreateAlias), then the key's
 *   previous aliases are deleted (DeleteAlias), so the key is named by the new alias alone.
 * - Encrypt's Plaintext is an opaque string to Alibaba: the data key goes as base64 and the same
 *   string comes back from Decrypt. CiphertextBlob is kept verbatim (its UTF-8 bytes are the EDK).
 */
import type * as OpenApi from '@alicloud/openapi-client';
import { hintParts, KmsEnvelopeError, usageError } from '../../errors';
import { TtlCache } from '../cache';
import type { CloudProviderOptions } from '../cloud-call';
import type { CallFlags } from '../cloud-provider';
import { CloudCallError, findNetworkCode } from '../cloud-errors';
import { resolveEndpoint, type ResolvedEndpoint } from '../endpoint';
import { clampPageSize, decodePageToken, encodePageToken, type PageTokenPlanner } from '../paging';
import { JsonApiProvider } from '../json-api';
import { isoDate, keyMetadata } from '../wire-values';
import { mapLimit } from '../retry';
import type {
  AliasChange,
  CallOptions,
  CloudCredentials,
  CreateKeyOptions,
  KeyMetadata,
  KeyState,
  KmsProvider,
  ListKeysOptions,
  ListKeysPage,
} from '../types';
import { alibabaProvider } from './descriptor';

export const ALIBABA_API_VERSION = '2016-01-20';
export const ALIBABA_ENDPOINT_TEMPLATE = alibabaProvider.endpoint!.template;
export const ALIBABA_DEFAULT_REGION = alibabaProvider.regions.default!;
export const ALIBABA_MAX_PAGE = 100;

const KEY_ID = /^(key-[A-Za-z0-9]+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;

export type AlibabaKmsProviderOptions = CloudProviderOptions;

interface AliKeyMetadata {
  KeyId: string;
  Arn?: string;
  CreationDate?: string;
  Description?: string;
  KeyState?: string;
  KeyUsage?: string;
  KeySpec?: string;
  Origin?: string;
  DeleteDate?: string;
  AutomaticRotation?: string;
  /** The KMS 3.0 instance holding the key. */
  DKMSInstanceId?: string;
}

interface AliAlias {
  AliasName: string;
  KeyId: string;
}

const STATES: Record<string, KeyState> = {
  Enabled: 'Enabled',
  Disabled: 'Disabled',
  PendingDeletion: 'PendingDeletion',
  PendingImport: 'PendingImport',
};

/** Codes meaning "this alias does not exist" (UpdateAlias falls back to CreateAlias on them). */
const ALIAS_NOT_FOUND = new Set(['Forbidden.AliasNotFound', 'EntityNotExist.Alias']);

/** `name` or `alias/name` → `alias/name`, validated. */
export function normalizeAlibabaAlias(alias: string): string {
  const a = alias.trim();
  const problem = alibabaProvider.aliases.check(a);
  if (problem) throw usageError(`"${alias}" is not a valid Alibaba Cloud KMS alias.`, problem, { provider: 'alibaba' });
  return a.startsWith('alias/') ? a : `alias/${a}`;
}

/** What Alibaba's KeyId parameter gets for a keyref's key part: key id, ARN, or alias/... */
export function alibabaKeyParam(keyIdOrAlias: string): string {
  const k = keyIdOrAlias.trim();
  if (!k) throw usageError('No key given.', 'Pass a key id, alias/<name> or ARN.', { provider: 'alibaba' });
  if (k.startsWith('alias/') || k.startsWith('acs:') || KEY_ID.test(k)) return k;
  return `alias/${k}`;
}

/** Normalises what `@alicloud/openapi-client` throws into a CloudCallError. */
export function normalizeAlibabaError(err: unknown): unknown {
  if (err instanceof CloudCallError) return err;
  if (!(err instanceof Error)) return new CloudCallError(String(err), {});
  if (err.name === 'AbortError' || err instanceof KmsEnvelopeError) return err;
  const e = err as Error & { code?: unknown; statusCode?: unknown; data?: Record<string, unknown> };
  const data = e.data && typeof e.data === 'object' ? e.data : undefined;
  const status =
    typeof e.statusCode === 'number' ? e.statusCode : typeof data?.statusCode === 'number' ? (data.statusCode as number) : undefined;
  const net = findNetworkCode(err);
  if (net && status === undefined) return new CloudCallError(e.message, { networkCode: net, cause: err });
  if (status !== undefined || (typeof e.code === 'string' && e.code && e.code !== 'undefined')) {
    const code =
      typeof e.code === 'string' && e.code !== 'undefined' ? e.code : typeof data?.Code === 'string' ? (data.Code as string) : undefined;
    const requestId = typeof data?.RequestId === 'string' ? (data.RequestId as string) : undefined;
    const message = typeof data?.Message === 'string' ? (data.Message as string) : e.message;
    return new CloudCallError(message, { code, status, requestId, cause: err });
  }
  if (err instanceof SyntaxError) return new CloudCallError(`unreadable answer: ${err.message}`, { code: 'InvalidResponse', cause: err });
  return new CloudCallError(e.message, { cause: err });
}

/** Regions (and so clients) kept per provider; more than this starts over (there are ~30 regions). */
const MAX_CACHED_CLIENTS = 64;

interface CachedClient {
  accessKeyId?: string;
  accessKeySecret?: string;
  securityToken?: string;
  client: OpenApi.default;
}

export class AlibabaKmsProvider extends JsonApiProvider implements KmsProvider, PageTokenPlanner {
  protected readonly keyIdPattern = KEY_ID;
  protected readonly descriptionLimit = { max: 8192, unit: 'characters' } as const;
  private sdk?: Promise<typeof OpenApi>;
  private readonly aliasMaps = new TtlCache<Map<string, string[]>>(30_000);
  /** One client per region and endpoint, with the credentials it signs with (see client()). */
  private readonly clients = new Map<string, CachedClient>();
  private readonly endpoints = new Map<string, ResolvedEndpoint>();
  private readonly params = new Map<string, OpenApi.Params>();

  constructor(opts: AlibabaKmsProviderOptions) {
    super(alibabaProvider, opts, normalizeAlibabaError);
  }

  /** Forgets the cached clients; the SDK keeps its connections in its own keep-alive agent. */
  dispose(): void {
    this.clients.clear();
    this.endpoints.clear();
  }

  endpointFor(region: string): ResolvedEndpoint {
    let ep = this.endpoints.get(region);
    if (!ep) {
      ep = resolveEndpoint(this.opts.endpoint, region, ALIBABA_ENDPOINT_TEMPLATE);
      if (this.endpoints.size >= MAX_CACHED_CLIENTS) this.endpoints.clear();
      this.endpoints.set(region, ep);
    }
    return ep;
  }

  /** Whether the region must travel in the request (an override serving every region). */
  private regionInRequest(): boolean {
    return !!this.opts.endpoint && !this.opts.endpoint.includes('{region}');
  }

  /**
   * The client for one attempt: cached per region and endpoint for the credentials handed to that
   * attempt (cloudCall fetches them per attempt), so a rotated secret or a refreshed session token
   * gets a new client at the next attempt and an unchanged one reuses the client it signed with.
   */
  private async client(region: string, ep: ResolvedEndpoint, cr: CloudCredentials) {
    const sdk = await (this.sdk ??= import('@alicloud/openapi-client'));
    const slot = `${region}\n${ep.protocol}://${ep.host}`;
    const cached = this.clients.get(slot);
    if (
      cached &&
      cached.accessKeyId === cr.accessKeyId &&
      cached.accessKeySecret === cr.accessKeySecret &&
      cached.securityToken === cr.securityToken
    ) {
      return { client: cached.client, sdk };
    }
    const config = new sdk.Config({ endpoint: ep.host, protocol: ep.protocol, regionId: region });
    // The client asks this object for the credentials of each request it signs: always the ones
    // this client was cached for.
    const credential = {
      getCredential: async () => ({
        accessKeyId: cr.accessKeyId,
        accessKeySecret: cr.accessKeySecret,
        securityToken: cr.securityToken,
        type: cr.securityToken ? 'sts' : 'access_key',
      }),
    };
    // Typed as the credentials package's class; the client only calls getCredential().
    config.credential = credential as unknown as OpenApi.Config['credential'];
    const client = new sdk.default(config);
    if (!cached && this.clients.size >= MAX_CACHED_CLIENTS) this.clients.delete(this.clients.keys().next().value!);
    this.clients.set(slot, {
      accessKeyId: cr.accessKeyId,
      accessKeySecret: cr.accessKeySecret,
      securityToken: cr.securityToken,
      client,
    });
    return { client, sdk };
  }

  /** One API call with retries, timeouts, cancellation and error mapping. */
  protected async call<T>(region: string, action: string, params: Record<string, string | number | undefined>, o: CallFlags): Promise<T> {
    const query: Record<string, string> = {};
    for (const [k, v] of Object.entries(params)) if (v !== undefined) query[k] = String(v);
    if (this.regionInRequest()) query.RegionId = region;
    return this.cloudCall<T>(region, action, o, async ({ timeoutMs, credentials }, ep) => {
      const { client, sdk } = await this.client(region, ep, credentials);
      // The SDK only reads its Params: one per action and protocol serves every call.
      const paramsKey = `${action} ${ep.protocol}`;
      let apiParams = this.params.get(paramsKey);
      if (!apiParams) {
        apiParams = new sdk.Params({
          action,
          version: ALIBABA_API_VERSION,
          protocol: ep.protocol.toUpperCase(),
          pathname: '/',
          method: 'POST',
          authType: 'AK',
          style: 'RPC',
          reqBodyType: 'formData',
          bodyType: 'json',
        });
        this.params.set(paramsKey, apiParams);
      }
      // The client has no AbortSignal support: its socket timeouts are set to the attempt
      // timeout, and retry.ts stops waiting at once on timeout or cancellation.
      // RuntimeOptions is a plain field bag (a tea Model); built literally so this module does not
      // depend on @alicloud/tea-util, a transitive package of the client.
      const runtime = { autoretry: false, readTimeout: timeoutMs, connectTimeout: timeoutMs } as unknown as Parameters<
        OpenApi.default['callApi']
      >[2];
      const res = await client.callApi(apiParams, new sdk.OpenApiRequest({ query }), runtime);
      const body = (res?.body ?? {}) as T & { RequestId?: string };
      return { result: body, requestId: body.RequestId };
    });
  }

  protected async keyParam(_region: string, keyIdOrAlias: string): Promise<string> {
    return alibabaKeyParam(keyIdOrAlias);
  }

  private toMeta(region: string, m: AliKeyMetadata, aliases?: string[]): KeyMetadata {
    const alias = aliases && aliases.length > 0 ? [...aliases].sort()[0].replace(/^alias\//, '') : undefined;
    return keyMetadata('alibaba', region, m, STATES, {
      alias,
      createdAt: isoDate(m.CreationDate),
      deletionDate: isoDate(m.DeleteDate),
      rotationEnabled: m.AutomaticRotation ? m.AutomaticRotation === 'Enabled' : undefined,
      instanceId: m.DKMSInstanceId || undefined,
    });
  }

  /** All aliases of a region, keyId → alias names (ListAliases, every page; cached 30 s). */
  private aliasMap(region: string, signal?: AbortSignal): Promise<Map<string, string[]>> {
    return this.aliasMaps.get(region, async () => {
      const out = new Map<string, string[]>();
      for (let page = 1; ; page++) {
        const res = await this.call<{ Aliases?: { Alias?: AliAlias[] }; TotalCount?: number }>(
          region,
          'ListAliases',
          { PageNumber: page, PageSize: ALIBABA_MAX_PAGE },
          { idempotent: true, signal },
        );
        const list = res.Aliases?.Alias ?? [];
        for (const a of list) out.set(a.KeyId, [...(out.get(a.KeyId) ?? []), a.AliasName]);
        const total = Number(res.TotalCount ?? 0);
        if (list.length < ALIBABA_MAX_PAGE || page * ALIBABA_MAX_PAGE >= total) return out;
      }
    });
  }

  private async aliasesOf(region: string, keyId: string, signal?: AbortSignal): Promise<string[]> {
    const res = await this.call<{ Aliases?: { Alias?: AliAlias[] } }>(
      region,
      'ListAliasesByKeyId',
      { KeyId: keyId, PageNumber: 1, PageSize: ALIBABA_MAX_PAGE },
      { idempotent: true, keyId, signal },
    );
    return (res.Aliases?.Alias ?? []).map((a) => a.AliasName);
  }

  private async describeRaw(region: string, keyParam: string, keyLabel: string, signal?: AbortSignal): Promise<AliKeyMetadata> {
    const res = await this.call<{ KeyMetadata: AliKeyMetadata }>(
      region,
      'DescribeKey',
      { KeyId: keyParam },
      { idempotent: true, keyId: keyLabel, signal },
    );
    return res.KeyMetadata;
  }

  async listRegions(opts?: CallOptions): Promise<string[]> {
    const region = this.opts.defaultRegion || ALIBABA_DEFAULT_REGION;
    const res = await this.call<{ Regions?: { Region?: Array<{ RegionId: string }> } }>(
      region,
      'DescribeRegions',
      {},
      { idempotent: true, signal: opts?.signal },
    );
    return (res.Regions?.Region ?? []).map((r) => r.RegionId).sort();
  }

  async listKeys(region: string, opts?: ListKeysOptions): Promise<ListKeysPage> {
    let page = 1;
    let size = clampPageSize(opts?.pageSize, ALIBABA_MAX_PAGE, ALIBABA_MAX_PAGE);
    if (opts?.nextToken) ({ n: page, size } = decodePageToken('p', opts.nextToken, 'Alibaba'));
    const signal = opts?.signal;
    // The alias map is fetched alongside the page (single flight across parallel pages).
    const aliasesP = this.aliasMap(region, signal);
    aliasesP.catch(() => undefined);
    const res = await this.call<{ Keys?: { Key?: Array<{ KeyId: string; KeyArn?: string }> }; TotalCount?: number }>(
      region,
      'ListKeys',
      { PageNumber: page, PageSize: size },
      { idempotent: true, signal },
    );
    const ids = (res.Keys?.Key ?? []).map((k) => k.KeyId);
    const [metas, aliases] = await Promise.all([
      mapLimit(ids, this.opts.describeConcurrency ?? 8, (id) => this.describeRaw(region, id, id, signal), signal),
      aliasesP,
    ]);
    const keys = metas.map((m) => this.toMeta(region, m, aliases.get(m.KeyId)));
    const total = res.TotalCount !== undefined ? Number(res.TotalCount) : undefined;
    const more = total !== undefined ? page * size < total : ids.length === size;
    return { keys, total, nextToken: more && ids.length > 0 ? encodePageToken('p', page + 1, size) : undefined };
  }

  remainingPageTokens(first: ListKeysPage): string[] | undefined {
    if (!first.nextToken || first.total === undefined) return undefined;
    const { n: next, size } = decodePageToken('p', first.nextToken, 'Alibaba');
    const out: string[] = [];
    for (let p = next; (p - 1) * size < first.total; p++) out.push(encodePageToken('p', p, size));
    return out;
  }

  async describeKey(region: string, keyIdOrAlias: string, opts?: CallOptions): Promise<KeyMetadata> {
    const keyParam = alibabaKeyParam(keyIdOrAlias);
    const m = await this.describeRaw(region, keyParam, keyIdOrAlias, opts?.signal);
    const aliases = await this.aliasesOf(region, m.KeyId, opts?.signal);
    return this.toMeta(region, m, aliases);
  }

  async createKey(region: string, opts?: CreateKeyOptions): Promise<KeyMetadata> {
    return this.create(region, opts);
  }

  /** CreateKey placing the key in a KMS 3.0 instance (DKMSInstanceId); the instance provider's management. */
  async createKeyInInstance(region: string, instanceId: string, opts?: CreateKeyOptions): Promise<KeyMetadata> {
    return this.create(region, opts, instanceId);
  }

  private async create(region: string, opts?: CreateKeyOptions, instanceId?: string): Promise<KeyMetadata> {
    const alias = opts?.alias?.trim() ? normalizeAlibabaAlias(opts.alias) : undefined;
    if (alias) {
      // Refuse before creating a key whose alias could not be set.
      const taken = await this.describeRaw(region, alias, alias, opts?.signal).then(
        (m) => m,
        (err: unknown) => {
          if (err instanceof KmsEnvelopeError && err.details.providerCode && /NotFound|NotExist/.test(err.details.providerCode))
            return undefined;
          throw err;
        },
      );
      if (taken) {
        throw new KmsEnvelopeError(
          'provider',
          `Alibaba Cloud KMS: the alias ${alias} is already used by key ${taken.KeyId} in region ${region}.`,
          {
            hint: [
              'Aliases are unique per region: pick another alias, or later move it (',
              { action: 'moveAlias', provider: 'alibaba', region, profile: this.profile, alias },
              ').',
            ],
            details: { provider: 'alibaba', region, keyId: taken.KeyId, profile: this.profile, providerCode: 'AliasAlreadyExists' },
          },
        );
      }
    }
    const res = await this.call<{ KeyMetadata: AliKeyMetadata }>(
      region,
      'CreateKey',
      {
        KeySpec: 'Aliyun_AES_256',
        DKMSInstanceId: instanceId,
        KeyUsage: 'ENCRYPT/DECRYPT',
        ProtectionLevel: 'SOFTWARE',
        Description: opts?.description || undefined,
      },
      // Not idempotent: repeating it after an ambiguous failure could create a second key.
      { idempotent: false, signal: opts?.signal },
    );
    const m = res.KeyMetadata;
    if (alias) {
      try {
        await this.call(
          region,
          'CreateAlias',
          { AliasName: alias, KeyId: m.KeyId },
          { idempotent: false, keyId: m.KeyId, alias, signal: opts?.signal },
        );
      } catch (err) {
        const e = err instanceof KmsEnvelopeError ? err : undefined;
        throw new KmsEnvelopeError(
          e?.kind ?? 'provider',
          `Created key ${m.KeyId} in ${region}, but setting its alias ${alias} failed: ${e?.message ?? String(err)}`,
          {
            cause: err,
            hint: [
              'Set the alias later: ',
              { action: 'setAlias', key: { provider: 'alibaba', region, keyId: m.KeyId!, profile: this.profile }, alias },
              '.',
              ...(e?.hintParts ? [' ', ...hintParts(e.hintParts)] : []),
            ],
            details: { ...(e?.details ?? {}), provider: 'alibaba', region, keyId: m.KeyId, profile: this.profile },
          },
        );
      }
      this.aliasMaps.delete(region);
    }
    return this.toMeta(region, m, alias ? [alias] : []);
  }

  async setAlias(region: string, keyId: string, alias: string, opts?: CallOptions): Promise<AliasChange> {
    const name = normalizeAlibabaAlias(alias);
    let id = alibabaKeyParam(keyId);
    // Alias operations take the key id; resolve an alias or ARN first.
    if (!KEY_ID.test(id)) id = (await this.describeRaw(region, id, keyId, opts?.signal)).KeyId;
    try {
      const previous = (await this.aliasesOf(region, id, opts?.signal)).filter((a) => a !== name);
      await this.pointAlias(region, id, keyId, name, opts?.signal);
      // The key is named by the new alias now; its previous aliases go.
      for (const old of previous)
        await this.call(region, 'DeleteAlias', { AliasName: old }, { idempotent: false, keyId, alias: old, signal: opts?.signal });
      return { removed: previous.map((a) => a.replace(/^alias\//, '')) };
    } finally {
      this.aliasMaps.delete(region);
    }
  }

  /** Points `name` at key `id`: UpdateAlias moves an existing alias, CreateAlias makes a new one. */
  private async pointAlias(region: string, id: string, keyId: string, name: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.call(region, 'UpdateAlias', { AliasName: name, KeyId: id }, { idempotent: true, keyId, alias: name, signal });
    } catch (err) {
      if (!(err instanceof KmsEnvelopeError) || !ALIAS_NOT_FOUND.has(err.details.providerCode ?? '')) throw err;
      await this.call(region, 'CreateAlias', { AliasName: name, KeyId: id }, { idempotent: false, keyId, alias: name, signal });
    }
  }

  /** ScheduleKeyDeletion (CloudProvider.scheduleDeletion checked the window). */
  protected async scheduleKeyDeletion(region: string, keyId: string, days: number, signal?: AbortSignal) {
    const keyParam = alibabaKeyParam(keyId);
    await this.call(region, 'ScheduleKeyDeletion', { KeyId: keyParam, PendingWindowInDays: days }, { idempotent: false, keyId, signal });
    // The API answers without the date; read it back from the key.
    const m = await this.describeRaw(region, keyParam, keyId, signal);
    return { deletionDate: isoDate(m.DeleteDate) };
  }
}
