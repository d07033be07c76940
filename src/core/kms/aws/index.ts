/**
 * AWS KMS on the official `@aws-sdk/client-kms` (SigV4, AWS JSON 1.1).
 *
 * How it fits the house: every request goes through `cloudCall` (retries only when safe, per-attempt
 * timeout, cancellation, error mapping from the descriptor) with the SDK's own retries off
 * (`maxAttempts: 1`). The credentials handed to each attempt sign it: a KMSClient per region holds
 * them, and is replaced when they change (rotation, refreshed SSO credentials). One exception to
 * "no retry inside an attempt": when KMS refuses a signature as expired and the SDK corrected its
 * clock from the answer's Date header (its clock-skew correction), the request is sent once more,
 * as every AWS SDK and the AWS CLI do.
 *
 * The cloud's rules this provider applies:
 * - Regions: the SDK's partition data (./regions.ts) — the regions of the partition of the profile's
 *   first region — plus that region; the region list makes one ListKeys call to check the profile.
 * - Keys: ListKeys pages (Marker), each key filled in by DescribeKey and GetKeyRotationStatus (at most
 *   `describeConcurrency` keys in flight), aliases from ListAliases (all pages, cached 30 s). AWS
 *   managed keys (KeyManager AWS, alias/aws/...) are not listed: they only work through the AWS
 *   service that owns them.
 * - Identifiers: key id, key ARN, `alias/<name>` or alias ARN; a bare name is taken as `alias/<name>`.
 *   Operations that take a key only (enable, disable, alias target, deletion, description) resolve an
 *   alias to its key id with DescribeKey first (cached 60 s).
 * - CreateKey has no alias parameter: the alias is checked first, then created with CreateAlias.
 *   setAlias replaces the key's alias: it moves an existing alias (UpdateAlias) or creates it, then
 *   deletes the key's previous aliases, so the key is named by the new alias alone.
 * - ExpiredTokenException becomes one credentials error that says how to renew the session
 *   (`aws sso login --profile …` for SSO profiles; see ./discovery.ts).
 */
import { createHash } from 'node:crypto';
import {
  CancelKeyDeletionCommand,
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DeleteAliasCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GetKeyRotationStatusCommand,
  KMSClient,
  ListAliasesCommand,
  ListKeysCommand,
  ScheduleKeyDeletionCommand,
  UpdateAliasCommand,
  UpdateKeyDescriptionCommand,
  type AliasListEntry,
  type DecryptCommandInput,
  type DecryptCommandOutput,
  type EncryptCommandInput,
  type EncryptCommandOutput,
  type GenerateDataKeyCommandInput,
  type GenerateDataKeyCommandOutput,
  type KeyMetadata as AwsKeyMetadata,
} from '@aws-sdk/client-kms';
import { state as sdkNodeVersionWarning } from '@aws-sdk/core/client';
import { credentialsError, formatError, isCancelled, KmsEnvelopeError, usageError } from '../../errors';
import { TtlCache } from '../cache';
import type { CloudProviderOptions } from '../cloud-call';
import { CloudProvider, type CallFlags } from '../cloud-provider';
import { CloudCallError, findNetworkCode, parseRetryAfter } from '../cloud-errors';
import { checkDataKeySize, checkGenerated } from '../data-keys';
import { resolveEndpoint, type ResolvedEndpoint } from '../endpoint';
import { AgentPool } from '../http-agent';
import { clampPageSize } from '../paging';
import { mapLimit } from '../retry';
import { keyMetadata } from '../wire-values';
import type {
  AliasChange,
  CallOptions,
  CloudCredentials,
  CreateKeyOptions,
  DataKey,
  EncryptionContext,
  KeyMetadata,
  KeyState,
  KmsProvider,
  ListKeysOptions,
  ListKeysPage,
} from '../types';
import { AWS_KEY_ID, awsKeyParam, parseKeyArn } from './arn';
import { awsAliasProblem, awsProvider, RENEW_PART } from './descriptor';
import { publicKmsHost, regionsOfPartition } from './regions';

// The SDK warns once per process that its releases after January 2027 need Node 22. That notice is
// for whoever upgrades the SDK (package.json pins this one, which runs on Node 20 like VS Code 1.100);
// on stderr it would precede every CLI answer that touches AWS.
sdkNodeVersionWarning.warningEmitted = true;

export const AWS_DEFAULT_REGION = awsProvider.regions.default!;
export const AWS_MAX_PAGE = 1000;
const ALIAS_PAGE = 100;

export interface AwsKmsProviderOptions extends CloudProviderOptions {
  /** DescribeKey (+ GetKeyRotationStatus) calls in flight per listed page (default 10). */
  describeConcurrency?: number;
}

const STATES: Record<string, KeyState> = {
  Enabled: 'Enabled',
  Disabled: 'Disabled',
  PendingDeletion: 'PendingDeletion',
  PendingReplicaDeletion: 'PendingDeletion',
  PendingImport: 'PendingImport',
};

/** `name` or `alias/name` → `alias/name`, validated. */
export function normalizeAwsAlias(alias: string): string {
  const a = alias.trim();
  const problem = awsAliasProblem(a);
  if (problem) throw usageError(`"${alias}" is not a valid AWS KMS alias.`, problem, { provider: 'aws' });
  return a.startsWith('alias/') ? a : `alias/${a}`;
}

/** Whether KMS refused a signature as expired and the SDK has corrected its clock from the answer since. */
function isCorrectedSkew(err: unknown): boolean {
  const e = err as { name?: string; message?: string; $metadata?: { clockSkewCorrected?: boolean } };
  return (
    e?.name === 'InvalidSignatureException' &&
    /^Signature (expired|not yet current)/.test(e.message ?? '') &&
    !!e.$metadata?.clockSkewCorrected
  );
}

/** Normalises what `@aws-sdk/client-kms` throws into a CloudCallError. */
export function normalizeAwsError(err: unknown): unknown {
  if (err instanceof CloudCallError || err instanceof KmsEnvelopeError) return err;
  if (!(err instanceof Error)) return new CloudCallError(String(err), {});
  if (err.name === 'AbortError') return err;
  const e = err as Error & {
    $metadata?: { httpStatusCode?: number; requestId?: string };
    $fault?: string;
    $response?: { headers?: Record<string, string | undefined> };
  };
  if (e.name === 'TimeoutError') return new CloudCallError(e.message, { networkCode: 'ETIMEDOUT', cause: err });
  if (e.$metadata && (e.$fault || e.$metadata.httpStatusCode)) {
    const status = e.$metadata.httpStatusCode;
    // A 2xx/3xx/... answer that is not KMS's JSON: the SDK names the error after the status or "Unknown".
    const code = e.name && e.name !== 'Error' && e.name !== 'UnknownError' && e.name !== 'Unknown' ? e.name : undefined;
    // The raw answer's Retry-After, when KMS or a proxy sends one: cloudCall waits at least that long.
    const retryAfterMs = parseRetryAfter(e.$response?.headers?.['retry-after']);
    return new CloudCallError(e.message || `HTTP ${status}`, { code, status, requestId: e.$metadata.requestId, retryAfterMs, cause: err });
  }
  const net = findNetworkCode(err);
  if (net) return new CloudCallError(e.message, { networkCode: net, cause: err });
  if (err instanceof SyntaxError) return new CloudCallError(`unreadable answer: ${err.message}`, { code: 'InvalidResponse', cause: err });
  return new CloudCallError(e.message, { cause: err });
}

/** A key of the credentials (to notice a change) that does not keep the secret around in clear. */
function identityOf(c: CloudCredentials): string {
  return createHash('sha256')
    .update(`${c.accessKeyId}\0${c.accessKeySecret}\0${c.securityToken ?? ''}`)
    .digest('base64');
}

/** The key id in a key ARN KMS returned (KeyMetadata and keyrefs use key ids). */
const idOf = (keyArnOrId: string) => parseKeyArn(keyArnOrId)?.id ?? keyArnOrId;
const iso = (d: Date | undefined) => (d instanceof Date && !Number.isNaN(d.getTime()) ? d.toISOString() : undefined);
const shortAlias = (name: string) => name.replace(/^alias\//, '');
const isAwsManagedAlias = (name: string | undefined) => !!name && name.startsWith('alias/aws/');

type Send = (command: unknown, opts: { abortSignal: AbortSignal }) => Promise<{ $metadata: { requestId?: string } }>;

export class AwsKmsProvider extends CloudProvider<AwsKmsProviderOptions> implements KmsProvider {
  protected readonly descriptionLimit = { max: 8192, unit: 'characters' } as const;
  private readonly agents = new AgentPool();
  private readonly clients = new Map<string, { id: string; client: KMSClient }>();
  private readonly aliasMaps = new TtlCache<Map<string, string[]>>(30_000);
  private readonly keyIds = new TtlCache<string>(60_000);

  constructor(opts: AwsKmsProviderOptions) {
    super(awsProvider, opts, normalizeAwsError);
  }

  /** Closes the clients and their keep-alive connections (tests, extension deactivate). */
  dispose(): void {
    for (const { client } of this.clients.values()) client.destroy();
    this.clients.clear();
    this.agents.destroy();
  }

  endpointFor(region: string): ResolvedEndpoint {
    return resolveEndpoint(this.opts.endpoint, region, publicKmsHost(region));
  }

  /** The client of a region, signing with these credentials (a new one when they changed). */
  private client(region: string, ep: ResolvedEndpoint, cr: CloudCredentials): KMSClient {
    const key = `${region}|${ep.url}`;
    const id = identityOf(cr);
    const hit = this.clients.get(key);
    if (hit?.id === id) return hit.client;
    // Clients on loopback share this provider's agents, which must outlive a replaced client.
    if (hit && !ep.loopback) hit.client.destroy();
    const client = new KMSClient({
      region,
      // Without an override the SDK derives the endpoint from the region (partition, FIPS, dual-stack rules).
      ...(ep.overridden ? { endpoint: ep.url } : {}),
      credentials: {
        accessKeyId: cr.accessKeyId ?? '',
        secretAccessKey: cr.accessKeySecret ?? '',
        ...(cr.securityToken ? { sessionToken: cr.securityToken } : {}),
      },
      maxAttempts: 1,
      customUserAgent: 'kms-envelope',
      requestHandler: {
        requestTimeout: this.opts.timeoutMs ?? 15_000,
        // Loopback endpoints get our agents, so http_proxy never applies to 127.0.0.1.
        ...(ep.loopback ? { httpAgent: this.agents.get('http'), httpsAgent: this.agents.get('https') } : {}),
      },
    });
    this.clients.set(key, { id, client });
    return client;
  }

  /**
   * One KMS request through cloudCall. `command` builds the SDK command; the answer's request id
   * goes to the debug log. An ExpiredTokenException becomes a credentials error naming the renewal.
   */
  async call<O>(region: string, action: string, command: () => unknown, o: CallFlags): Promise<O> {
    let renew: string | undefined;
    try {
      return await this.cloudCall<O>(region, action, o, async ({ signal, credentials }, ep) => {
        renew = credentials[RENEW_PART];
        const client = this.client(region, ep, credentials);
        const send = client.send.bind(client) as unknown as Send;
        let out;
        try {
          out = await send(command(), { abortSignal: signal });
        } catch (err) {
          if (!isCorrectedSkew(err)) throw err;
          this.log.info(`aws ${action} ${region}: the local clock is off; the SDK corrected it from the answer, sending again`);
          out = await send(command(), { abortSignal: signal });
        }
        return { result: out as O, requestId: out.$metadata?.requestId };
      });
    } catch (err) {
      if (err instanceof KmsEnvelopeError && err.details.providerCode === 'ExpiredTokenException') throw this.expired(err, renew);
      throw err;
    }
  }

  private expired(err: KmsEnvelopeError, renew: string | undefined): KmsEnvelopeError {
    const p = this.profile;
    const hint = renew
      ? renew
      : p === 'env'
        ? 'Export new AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN values (or log in again where they come from), then retry.'
        : [
            'Get new session credentials and store them: ',
            { action: 'rotateSecret', provider: 'aws', name: p, sts: true } as const,
            ', then retry.',
          ];
    return credentialsError(
      `The AWS session of profile ${p} has expired (ExpiredTokenException${err.details.requestId ? `, request ${err.details.requestId}` : ''}).`,
      hint,
      { ...err.details },
      err,
    );
  }

  private toMeta(region: string, m: AwsKeyMetadata, aliases: string[] | undefined, rotation?: boolean): KeyMetadata {
    const alias = aliases?.length ? shortAlias([...aliases].sort()[0]) : undefined;
    return keyMetadata(this.name, region, m, STATES, {
      alias,
      createdAt: iso(m.CreationDate),
      deletionDate: iso(m.DeletionDate),
      rotationEnabled: rotation,
    });
  }

  /** key id → its alias names (customer aliases only), for a region; every ListAliases page, cached 30 s. */
  private aliasMap(region: string, signal?: AbortSignal): Promise<Map<string, string[]>> {
    return this.aliasMaps.get(region, async () => {
      const map = new Map<string, string[]>();
      let marker: string | undefined;
      do {
        const res = await this.call<{ Aliases?: AliasListEntry[]; NextMarker?: string; Truncated?: boolean }>(
          region,
          'ListAliases',
          () => new ListAliasesCommand({ Limit: ALIAS_PAGE, Marker: marker }),
          { idempotent: true, signal },
        );
        for (const a of res.Aliases ?? []) {
          if (!a.AliasName || !a.TargetKeyId || isAwsManagedAlias(a.AliasName)) continue;
          map.set(a.TargetKeyId, [...(map.get(a.TargetKeyId) ?? []), a.AliasName]);
        }
        marker = res.Truncated ? res.NextMarker : undefined;
      } while (marker);
      return map;
    });
  }

  private async describeRaw(region: string, keyIdOrAlias: string, signal?: AbortSignal): Promise<AwsKeyMetadata> {
    const res = await this.call<{ KeyMetadata?: AwsKeyMetadata }>(
      region,
      'DescribeKey',
      () => new DescribeKeyCommand({ KeyId: keyIdOrAlias }),
      { idempotent: true, keyId: keyIdOrAlias, signal },
    );
    if (!res.KeyMetadata?.KeyId) {
      throw formatError(
        `AWS KMS DescribeKey of ${keyIdOrAlias} in ${region} returned no key.`,
        'Check the endpoint: it did not answer like AWS KMS.',
        {
          provider: this.name,
          region,
          keyId: keyIdOrAlias,
        },
      );
    }
    return res.KeyMetadata;
  }

  /**
   * Rotation status, or undefined where there is none to show: KMS has none (pending deletion,
   * imported material), or the profile may not read it (kms:GetKeyRotationStatus is often not granted).
   */
  private async rotation(region: string, keyId: string, signal?: AbortSignal): Promise<boolean | undefined> {
    try {
      const r = await this.call<{ KeyRotationEnabled?: boolean }>(
        region,
        'GetKeyRotationStatus',
        () => new GetKeyRotationStatusCommand({ KeyId: keyId }),
        { idempotent: true, keyId, signal },
      );
      return r.KeyRotationEnabled;
    } catch (err) {
      if (isCancelled(err)) throw err;
      this.log.debug(`aws GetKeyRotationStatus ${region} ${keyId}: ${(err as Error).message}`);
      return undefined;
    }
  }

  /** The key id behind a key id, key ARN, alias or alias ARN (DescribeKey for aliases, cached 60 s). */
  async resolveKeyId(region: string, keyIdOrAlias: string, signal?: AbortSignal): Promise<string> {
    const k = awsKeyParam(keyIdOrAlias);
    if (!k) throw usageError('No key given.', 'Pass a key id, key ARN or alias/<name>.', { provider: this.name, region });
    if (AWS_KEY_ID.test(k)) return k;
    const arn = parseKeyArn(k);
    if (arn?.type === 'key') return arn.id;
    return this.keyIds.get(`${region}|${k}`, async () => (await this.describeRaw(region, k, signal)).KeyId!);
  }

  async listRegions(opts?: CallOptions): Promise<string[]> {
    const region = this.opts.defaultRegion || AWS_DEFAULT_REGION;
    // KMS has no region list: this one cheap call checks the profile's credentials and endpoint.
    await this.call(region, 'ListKeys', () => new ListKeysCommand({ Limit: 1 }), { idempotent: true, signal: opts?.signal });
    return [...new Set([...regionsOfPartition(region), region])].sort();
  }

  async listKeys(region: string, opts?: ListKeysOptions): Promise<ListKeysPage> {
    const limit = clampPageSize(opts?.pageSize, AWS_MAX_PAGE, 100);
    const signal = opts?.signal;
    const res = await this.call<{ Keys?: Array<{ KeyId?: string }>; NextMarker?: string; Truncated?: boolean }>(
      region,
      'ListKeys',
      () => new ListKeysCommand({ Limit: limit, Marker: opts?.nextToken }),
      { idempotent: true, signal },
    );
    const ids = (res.Keys ?? []).map((k) => k.KeyId).filter((id): id is string => !!id);
    const aliasMap = ids.length ? this.aliasMap(region, signal) : Promise.resolve(new Map<string, string[]>());
    const described = await mapLimit(
      ids,
      this.opts.describeConcurrency ?? 10,
      async (id) => {
        const [m, rotation, aliases] = await Promise.all([
          this.describeRaw(region, id, signal),
          this.rotation(region, id, signal),
          aliasMap,
        ]);
        return m.KeyManager === 'AWS' ? undefined : this.toMeta(region, m, aliases.get(id), rotation);
      },
      signal,
    );
    return {
      keys: described.filter((k): k is KeyMetadata => !!k),
      nextToken: res.Truncated && res.NextMarker ? res.NextMarker : undefined,
    };
  }

  async describeKey(region: string, keyIdOrAlias: string, opts?: CallOptions): Promise<KeyMetadata> {
    const k = awsKeyParam(keyIdOrAlias);
    const m = await this.describeRaw(region, k, opts?.signal);
    const [names, rotation] = await Promise.all([
      this.aliasesOf(region, m.KeyId!, keyIdOrAlias, opts?.signal),
      this.rotation(region, m.KeyId!, opts?.signal),
    ]);
    return this.toMeta(region, m, names, rotation);
  }

  /** The customer aliases (alias/…) of one key: ListAliases filtered by key id. */
  private async aliasesOf(region: string, id: string, keyLabel: string, signal?: AbortSignal): Promise<string[]> {
    const res = await this.call<{ Aliases?: AliasListEntry[] }>(
      region,
      'ListAliases',
      () => new ListAliasesCommand({ KeyId: id, Limit: ALIAS_PAGE }),
      { idempotent: true, keyId: keyLabel, signal },
    );
    return (res.Aliases ?? []).map((a) => a.AliasName).filter((n): n is string => !!n && !isAwsManagedAlias(n));
  }

  async createKey(region: string, opts?: CreateKeyOptions): Promise<KeyMetadata> {
    const alias = opts?.alias?.trim() ? normalizeAwsAlias(opts.alias) : undefined;
    const description = opts?.description ?? '';
    this.checkDescription(description, region);
    if (alias) await this.refuseTakenAlias(region, alias, opts?.signal);
    const res = await this.call<{ KeyMetadata?: AwsKeyMetadata }>(
      region,
      'CreateKey',
      () => new CreateKeyCommand({ Description: description || undefined, KeyUsage: 'ENCRYPT_DECRYPT', KeySpec: 'SYMMETRIC_DEFAULT' }),
      // Not idempotent: repeating it after an ambiguous failure could create a second key.
      { idempotent: false, signal: opts?.signal },
    );
    const m = res.KeyMetadata;
    if (!m?.KeyId) {
      throw formatError(`AWS KMS CreateKey in ${region} returned no key.`, 'Check the endpoint: it did not answer like AWS KMS.', {
        provider: this.name,
        region,
      });
    }
    if (alias) {
      try {
        await this.call(region, 'CreateAlias', () => new CreateAliasCommand({ AliasName: alias, TargetKeyId: m.KeyId }), {
          idempotent: false,
          keyId: m.KeyId,
          alias,
          signal: opts?.signal,
        });
      } catch (err) {
        const e = err instanceof KmsEnvelopeError ? err : undefined;
        throw new KmsEnvelopeError(
          e?.kind ?? 'provider',
          `Key ${m.KeyId} was created in ${region}, but its alias ${alias} was not set: ${(err as Error).message}`,
          {
            hint: [
              'Set the alias on the new key: ',
              { action: 'setAlias', key: { provider: this.name, region, keyId: m.KeyId!, profile: this.profile }, alias },
              '.',
            ],
            details: { ...(e?.details ?? {}), provider: this.name, region, keyId: m.KeyId },
            cause: err,
          },
        );
      } finally {
        this.aliasMaps.delete(region);
      }
    }
    return this.toMeta(region, m, alias ? [alias] : [], false);
  }

  private async refuseTakenAlias(region: string, alias: string, signal?: AbortSignal): Promise<void> {
    let taken: AwsKeyMetadata | undefined;
    try {
      taken = await this.describeRaw(region, alias, signal);
    } catch (err) {
      if (err instanceof KmsEnvelopeError && err.details.providerCode === 'NotFoundException') return;
      throw err;
    }
    throw new KmsEnvelopeError('provider', `AWS KMS: the alias ${alias} is already used by key ${taken.KeyId} in region ${region}.`, {
      hint: [
        'Aliases are unique per account and region: pick another alias, or later move it (',
        { action: 'moveAlias', provider: this.name, region, profile: this.profile, alias },
        ').',
      ],
      details: { provider: this.name, region, keyId: taken.KeyId, profile: this.profile, providerCode: 'AlreadyExistsException' },
    });
  }

  async enableKey(region: string, keyId: string, opts?: CallOptions): Promise<void> {
    const id = await this.resolveKeyId(region, keyId, opts?.signal);
    await this.call(region, 'EnableKey', () => new EnableKeyCommand({ KeyId: id }), { idempotent: true, keyId, signal: opts?.signal });
  }

  async disableKey(region: string, keyId: string, opts?: CallOptions): Promise<void> {
    const id = await this.resolveKeyId(region, keyId, opts?.signal);
    await this.call(region, 'DisableKey', () => new DisableKeyCommand({ KeyId: id }), { idempotent: true, keyId, signal: opts?.signal });
  }

  async setAlias(region: string, keyId: string, alias: string, opts?: CallOptions): Promise<AliasChange> {
    const a = normalizeAwsAlias(alias);
    const id = await this.resolveKeyId(region, keyId, opts?.signal);
    const o = { idempotent: true, keyId, alias: a, signal: opts?.signal };
    let previous: string[] = [];
    try {
      previous = (await this.aliasesOf(region, id, keyId, opts?.signal)).filter((n) => n !== a);
      try {
        await this.call(region, 'UpdateAlias', () => new UpdateAliasCommand({ AliasName: a, TargetKeyId: id }), o);
      } catch (err) {
        if (!(err instanceof KmsEnvelopeError && err.details.providerCode === 'NotFoundException')) throw err;
        await this.call(region, 'CreateAlias', () => new CreateAliasCommand({ AliasName: a, TargetKeyId: id }), {
          ...o,
          idempotent: false,
        });
      }
      // The key is named by the new alias now; its previous aliases go.
      for (const old of previous)
        await this.call(region, 'DeleteAlias', () => new DeleteAliasCommand({ AliasName: old }), { ...o, idempotent: false, alias: old });
      return { removed: previous.map(shortAlias) };
    } finally {
      this.aliasMaps.delete(region);
      for (const n of [a, ...previous]) this.keyIds.delete(`${region}|${n}`);
    }
  }

  async setDescription(region: string, keyId: string, description: string, opts?: CallOptions): Promise<void> {
    this.checkDescription(description, region, keyId);
    const id = await this.resolveKeyId(region, keyId, opts?.signal);
    await this.call(region, 'UpdateKeyDescription', () => new UpdateKeyDescriptionCommand({ KeyId: id, Description: description }), {
      idempotent: true,
      keyId,
      signal: opts?.signal,
    });
  }

  /** ScheduleKeyDeletion (CloudProvider.scheduleDeletion checked the window). */
  protected async scheduleKeyDeletion(region: string, keyId: string, days: number, signal?: AbortSignal) {
    const id = await this.resolveKeyId(region, keyId, signal);
    const res = await this.call<{ DeletionDate?: Date }>(
      region,
      'ScheduleKeyDeletion',
      () => new ScheduleKeyDeletionCommand({ KeyId: id, PendingWindowInDays: days }),
      // A repeat after success fails (the key is already pending deletion): retried only when unsent.
      { idempotent: false, keyId, signal },
    );
    return { deletionDate: iso(res.DeletionDate) };
  }

  async cancelDeletion(region: string, keyId: string, opts?: CallOptions): Promise<void> {
    const id = await this.resolveKeyId(region, keyId, opts?.signal);
    await this.call(region, 'CancelKeyDeletion', () => new CancelKeyDeletionCommand({ KeyId: id }), {
      idempotent: false,
      keyId,
      signal: opts?.signal,
    });
  }

  // ---------------------------------------------------------------- data keys

  /**
   * The three calls of the stock ESDK KMS keyring, in the SDK's own shapes, through cloudCall
   * (./keyrings.ts hands this to KmsKeyringNode as its KMS client for `region`).
   */
  keyringClient(region: string, signal?: AbortSignal) {
    const o = (keyId: string | undefined, idempotent = true) => ({ idempotent, keyId, signal });
    return {
      generateDataKey: (input: GenerateDataKeyCommandInput) =>
        this.call<GenerateDataKeyCommandOutput>(region, 'GenerateDataKey', () => new GenerateDataKeyCommand(input), o(input.KeyId)),
      encrypt: (input: EncryptCommandInput) =>
        this.call<EncryptCommandOutput>(region, 'Encrypt', () => new EncryptCommand(input), o(input.KeyId)),
      decrypt: (input: DecryptCommandInput) =>
        this.call<DecryptCommandOutput>(region, 'Decrypt', () => new DecryptCommand(input), o(input.KeyId)),
    };
  }

  async generateDataKey(region: string, keyIdOrAlias: string, context: EncryptionContext, opts?: CallOptions): Promise<DataKey> {
    const res = await this.keyringClient(region, opts?.signal).generateDataKey({
      KeyId: awsKeyParam(keyIdOrAlias),
      NumberOfBytes: 32,
      EncryptionContext: Object.keys(context).length ? context : undefined,
    });
    const plaintext = Buffer.from(res.Plaintext ?? new Uint8Array());
    res.Plaintext?.fill(0);
    checkGenerated(awsProvider.label, plaintext, res.CiphertextBlob && res.KeyId, { provider: this.name, region, keyId: keyIdOrAlias });
    return { plaintext, ciphertext: Buffer.from(res.CiphertextBlob!), keyId: idOf(res.KeyId!) };
  }

  async encryptDataKey(
    region: string,
    keyIdOrAlias: string,
    plaintext: Buffer,
    context: EncryptionContext,
    opts?: CallOptions,
  ): Promise<{ ciphertext: Buffer; keyId: string }> {
    checkDataKeySize(awsProvider.label, plaintext, { provider: this.name, region, keyId: keyIdOrAlias });
    const res = await this.keyringClient(region, opts?.signal).encrypt({
      KeyId: awsKeyParam(keyIdOrAlias),
      Plaintext: plaintext,
      EncryptionContext: Object.keys(context).length ? context : undefined,
    });
    return { ciphertext: Buffer.from(res.CiphertextBlob ?? new Uint8Array()), keyId: idOf(res.KeyId ?? keyIdOrAlias) };
  }

  async decryptDataKey(
    region: string,
    keyId: string,
    ciphertext: Buffer,
    context: EncryptionContext,
    opts?: CallOptions,
  ): Promise<{ plaintext: Buffer; keyId: string }> {
    const res = await this.keyringClient(region, opts?.signal).decrypt({
      CiphertextBlob: ciphertext,
      EncryptionContext: Object.keys(context).length ? context : undefined,
      // With the key named, KMS refuses a ciphertext of another key (IncorrectKeyException).
      ...(keyId ? { KeyId: awsKeyParam(keyId) } : {}),
    });
    const plaintext = Buffer.from(res.Plaintext ?? new Uint8Array());
    res.Plaintext?.fill(0);
    return { plaintext, keyId: idOf(res.KeyId ?? keyId) };
  }
}
