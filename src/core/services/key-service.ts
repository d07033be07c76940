/**
 * KeyService: the extension's view of every KMS it can reach, without vscode.
 *
 * - one provider instance per provider/profile, built on first use and cached (dropped when the
 *   credentials service reports a change);
 * - the regions shown per profile: the user's choice (settings), else the profile's default
 *   regions, else every region the provider lists;
 * - a key cache per provider/profile/region holding the pages loaded so far ("Load more" appends
 *   the next page), the last error of that region, and the in-flight load, so concurrent callers
 *   share one request;
 * - change events so the tree refreshes exactly the part that changed.
 *
 * Nothing here calls a KMS until a caller asks for a region (the tree expands it, the key picker
 * lists keys, an action runs): activation stays free of network calls.
 */
import { CancelledError, KmsEnvelopeError, isCancelled, providerError } from '../errors';
import type { Logger } from '../log';
import { nullLogger } from '../log';
import type { CredentialsProvider, ProfileInfo } from '../credentials/types';
import { findProvider, providers, type CreateProvider } from '../kms/registry';
import type { KeyMetadata, KmsProvider, ProviderName } from '../kms/types';

export interface ProfileRef {
  provider: ProviderName;
  profile: string;
}

export interface RegionRef extends ProfileRef {
  region: string;
}

export interface KeyNodeRef extends RegionRef {
  keyId: string;
}

/** A profile as the tree shows it (no secret). A provider without credentials (local) has exactly one, `default`. */
export interface ProfileEntry {
  provider: ProviderName;
  name: string;
  /** keychain, env, or a discovery source (tccli, aliyun-cli, ...); `local` for a provider without credentials. */
  source: string;
  endpoint?: string;
  regions?: string[];
  kind?: 'long-term' | 'sts';
  keyIdHint?: string;
  expiration?: string;
}

/** The part of CredentialService (src/core/credentials/service.ts) this service uses. */
export interface CredentialSource {
  listProfiles(provider?: ProviderName): Promise<ProfileInfo[]>;
  resolve(provider: ProviderName, name?: string): Promise<{ profile: ProfileInfo; credentials: CredentialsProvider }>;
  onDidChange(listener: (e: unknown) => void): { dispose(): void };
}

/** The shape of createProvider in src/core/kms/registry.ts. */
export type ProviderFactory = CreateProvider;

export interface KeyServiceOptions {
  credentials?: CredentialSource;
  createProvider: ProviderFactory;
  /** Whether providers without credentials (local keys) are shown; those with credentials show when they have a profile. */
  showLocal: () => boolean | Promise<boolean>;
  /** The user's region choice for a profile (settings), or undefined for the default. */
  regionChoice?: (ref: ProfileRef) => string[] | undefined;
  /** Keys per page in the tree (default 100; providers clamp to what the cloud allows). */
  pageSize?: () => number;
  logger?: Logger;
}

export interface RegionState {
  keys: KeyMetadata[];
  /** Token of the next page; undefined when everything is loaded. */
  nextToken?: string;
  /** Total the cloud reported for the region. */
  total?: number;
  /** The last load of this region failed (keys then holds what was loaded before, if anything). */
  error?: KmsEnvelopeError;
  loaded: boolean;
  loading?: Promise<void>;
  /** Monotonic: bumped whenever the state is replaced, so late answers of an old load are dropped. */
  generation: number;
}

export type KeyServiceChange =
  | { scope: 'all' }
  | { scope: 'provider'; provider: ProviderName }
  | { scope: 'profile'; ref: ProfileRef }
  | { scope: 'region'; ref: RegionRef };

/** The one profile of a provider without credentials. */
export const LOCAL_PROFILE = 'default';

/** Whether a provider takes credentials (has profiles); unknown names count as not. */
const hasProfiles = (provider: ProviderName) => !!findProvider(provider)?.credentials;
/** The fixed regions of a provider (local), or undefined when it lists them. */
const fixedRegions = (provider: ProviderName) => findProvider(provider)?.regions.fixed;

export const profileKey = (r: ProfileRef) => `${r.provider}/${r.profile}`;
export const regionKey = (r: RegionRef) => `${r.provider}/${r.profile}/${r.region}`;

function toError(err: unknown, ref: RegionRef): KmsEnvelopeError {
  if (err instanceof KmsEnvelopeError) return err;
  return providerError(
    `Listing keys of ${ref.provider} (profile ${ref.profile}) in ${ref.region} failed: ${err instanceof Error ? err.message : String(err)}`,
    'Check the endpoint and the network, then retry.',
    { provider: ref.provider, profile: ref.profile, region: ref.region },
    err,
  );
}

export class KeyService {
  private readonly providers = new Map<string, Promise<KmsProvider>>();
  private readonly regions = new Map<string, RegionState>();
  private readonly regionLists = new Map<string, Promise<string[]>>();
  private readonly listeners = new Set<(e: KeyServiceChange) => void>();
  private readonly loadListeners = new Set<(ref: RegionRef) => void>();
  private readonly log: Logger;
  private readonly subscription?: { dispose(): void };
  private generation = 0;

  constructor(private readonly opts: KeyServiceOptions) {
    this.log = opts.logger ?? nullLogger;
    this.subscription = opts.credentials?.onDidChange(() => this.reset());
  }

  dispose(): void {
    this.subscription?.dispose();
    this.listeners.clear();
    this.loadListeners.clear();
    for (const p of this.providers.values())
      p.then(
        (k) => (k as { dispose?: () => void }).dispose?.(),
        () => undefined,
      );
    this.providers.clear();
  }

  onDidChange(listener: (e: KeyServiceChange) => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  /**
   * A region's listing arrived (first page, more, a refresh). Not a change event: the tree draws its
   * rows when it asks for them; this is for what names keys elsewhere (the status bar's default key).
   */
  onDidLoadRegion(listener: (ref: RegionRef) => void): { dispose(): void } {
    this.loadListeners.add(listener);
    return { dispose: () => this.loadListeners.delete(listener) };
  }

  private fire(e: KeyServiceChange): void {
    for (const l of [...this.listeners]) {
      try {
        l(e);
      } catch (err) {
        this.log.error(`KeyService listener failed: ${(err as Error).message}`);
      }
    }
  }

  /** Drops every cached provider, region list and key list (profiles changed, or "Refresh all"). */
  reset(): void {
    for (const p of this.providers.values())
      p.then(
        (k) => (k as { dispose?: () => void }).dispose?.(),
        () => undefined,
      );
    this.providers.clear();
    this.regions.clear();
    this.regionLists.clear();
    this.fire({ scope: 'all' });
  }

  // ---- profiles and providers ----------------------------------------------------------------

  /** Providers that have something to show, in registry order: those without credentials (when enabled), and those with a profile. */
  async listProviders(): Promise<ProviderName[]> {
    const out: ProviderName[] = [];
    const showKeyless = providers().some((d) => !d.credentials) ? await this.opts.showLocal() : false;
    for (const d of providers()) {
      if (d.credentials ? (await this.listProfiles(d.name)).length > 0 : showKeyless) out.push(d.name);
    }
    return out;
  }

  async listProfiles(provider: ProviderName): Promise<ProfileEntry[]> {
    if (!hasProfiles(provider)) return [{ provider, name: LOCAL_PROFILE, source: 'local' }];
    if (!this.opts.credentials) return [];
    const infos = await this.opts.credentials.listProfiles(provider);
    // A stored profile and a discovered one may share a name; resolution picks the stored one, so show that.
    const seen = new Set<string>();
    const out: ProfileEntry[] = [];
    for (const p of infos) {
      if (seen.has(p.name)) continue;
      seen.add(p.name);
      out.push({
        provider,
        name: p.name,
        source: p.source,
        endpoint: p.endpoint,
        regions: p.regions,
        kind: p.kind,
        keyIdHint: p.keyIdHint,
        expiration: p.expiration,
      });
    }
    return out;
  }

  async getProfile(ref: ProfileRef): Promise<ProfileEntry | undefined> {
    return (await this.listProfiles(ref.provider)).find((p) => p.name === ref.profile);
  }

  /**
   * The profile used for a provider when a blob or keyref does not name one: the credentials
   * service's default resolution (stored `default`, then environment, then the CLI's default),
   * else the first profile listed.
   */
  async defaultProfile(provider: ProviderName): Promise<string | undefined> {
    if (!hasProfiles(provider)) return LOCAL_PROFILE;
    if (!this.opts.credentials) return undefined;
    try {
      return (await this.opts.credentials.resolve(provider)).profile.name;
    } catch {
      return (await this.listProfiles(provider))[0]?.name;
    }
  }

  /** The provider instance for a profile, built once. A failed build is not cached (retry works). */
  getProvider(ref: ProfileRef): Promise<KmsProvider> {
    const key = profileKey(ref);
    let p = this.providers.get(key);
    if (!p) {
      p = this.build(ref);
      this.providers.set(key, p);
      p.catch(() => {
        if (this.providers.get(key) === p) this.providers.delete(key);
      });
    }
    return p;
  }

  private async build(ref: ProfileRef): Promise<KmsProvider> {
    if (!hasProfiles(ref.provider)) return this.opts.createProvider(ref.provider, { logger: this.log });
    if (!this.opts.credentials) throw providerError(`No credentials service: cannot use ${ref.provider}.`);
    const r = await this.opts.credentials.resolve(ref.provider, ref.profile);
    return this.opts.createProvider(ref.provider, {
      profile: r.profile.name,
      endpoint: r.profile.endpoint,
      region: r.profile.regions?.[0],
      credentials: r.credentials,
      settings: r.profile.settings,
      logger: this.log,
    });
  }

  // ---- regions -------------------------------------------------------------------------------

  /** Whether the regions shown for this profile were chosen (settings or the profile) rather than "all". */
  async hasRegionChoice(ref: ProfileRef): Promise<boolean> {
    if (fixedRegions(ref.provider)) return true;
    if (this.opts.regionChoice?.(ref)?.length) return true;
    return !!(await this.getProfile(ref))?.regions?.length;
  }

  /** Regions shown for a profile: the settings choice, else the profile's regions, else all the provider lists. */
  async listRegions(ref: ProfileRef, signal?: AbortSignal): Promise<string[]> {
    const fixed = fixedRegions(ref.provider);
    if (fixed) return [...fixed];
    const chosen = this.opts.regionChoice?.(ref);
    if (chosen?.length) return [...chosen];
    const profile = await this.getProfile(ref);
    if (profile?.regions?.length) return [...profile.regions];
    return this.allRegions(ref, signal);
  }

  /** Every region the provider lists (one call per profile, cached until a reset). */
  allRegions(ref: ProfileRef, signal?: AbortSignal): Promise<string[]> {
    const fixed = fixedRegions(ref.provider);
    if (fixed) return Promise.resolve([...fixed]);
    const key = profileKey(ref);
    let p = this.regionLists.get(key);
    if (!p) {
      p = this.getProvider(ref).then((k) => k.listRegions({ signal }));
      this.regionLists.set(key, p);
      p.catch(() => {
        if (this.regionLists.get(key) === p) this.regionLists.delete(key);
      });
    }
    return p;
  }

  // ---- keys ----------------------------------------------------------------------------------

  /** The cached state of a region (never triggers a load). */
  peekRegion(ref: RegionRef): RegionState | undefined {
    return this.regions.get(regionKey(ref));
  }

  /** Loads the first page of a region unless loaded or loading; resolves when done (errors are kept in the state). */
  async ensureLoaded(ref: RegionRef, signal?: AbortSignal): Promise<RegionState> {
    const key = regionKey(ref);
    // A reset or refresh may replace the state while we wait: then wait for (or start) the new load.
    for (let attempt = 0; ; attempt++) {
      let st = this.regions.get(key);
      if (st?.loaded && !st.loading) return st; // loaded, or failed: an error row stays until the user retries
      if (!st || (!st.loaded && !st.loading)) {
        st = { keys: [], loaded: false, generation: ++this.generation };
        this.regions.set(key, st);
        st.loading = this.fetchPages(ref, st.generation, undefined, 0, signal);
      }
      await st.loading;
      const now = this.regions.get(key);
      if (now?.loaded && !now.loading) return now;
      if (attempt > 5)
        throw providerError(`Listing keys of ${ref.provider} ${ref.region} kept being restarted.`, 'Refresh the view.', {
          provider: ref.provider,
          region: ref.region,
        });
    }
  }

  /** Appends the next page of a loaded region. */
  async loadMore(ref: RegionRef, signal?: AbortSignal): Promise<RegionState> {
    const key = regionKey(ref);
    const st = this.regions.get(key);
    if (!st?.loaded) return this.ensureLoaded(ref, signal);
    if (st.loading) {
      await st.loading;
      return this.regions.get(key)!;
    }
    if (!st.nextToken) return st;
    st.loading = this.fetchPages(ref, st.generation, st.nextToken, 0, signal, st);
    await st.loading;
    return this.regions.get(key)!;
  }

  /**
   * Reloads a region from the first page, loading as many keys as were shown before (so a key on
   * page 3 that an action just changed stays visible), then fires one change for that region.
   */
  async refreshRegion(ref: RegionRef, signal?: AbortSignal): Promise<RegionState> {
    const key = regionKey(ref);
    const before = this.regions.get(key);
    const want = before?.keys.length ?? 0;
    const st: RegionState = { keys: [], loaded: false, generation: ++this.generation };
    this.regions.set(key, st);
    this.fire({ scope: 'region', ref });
    st.loading = this.fetchPages(ref, st.generation, undefined, want, signal);
    await st.loading;
    this.fire({ scope: 'region', ref });
    return this.regions.get(key)!;
  }

  /**
   * Retry of an error row: a region whose first page failed is fetched again; one whose "Load
   * more" failed keeps its keys and asks for the next page again.
   */
  async retry(ref: RegionRef, signal?: AbortSignal): Promise<RegionState> {
    const st = this.peekRegion(ref);
    if (st?.error && st.keys.length > 0 && st.nextToken) {
      st.error = undefined;
      this.fire({ scope: 'region', ref });
      const out = await this.loadMore(ref, signal);
      this.fire({ scope: 'region', ref });
      return out;
    }
    this.regions.delete(regionKey(ref));
    this.fire({ scope: 'region', ref });
    const out = await this.ensureLoaded(ref, signal);
    this.fire({ scope: 'region', ref });
    return out;
  }

  /** Forgets a region so the next ensureLoaded fetches it. */
  invalidateRegion(ref: RegionRef): void {
    this.regions.delete(regionKey(ref));
    this.fire({ scope: 'region', ref });
  }

  /** Forgets a profile's region list and keys (regions chosen again, refresh of a profile node). */
  invalidateProfile(ref: ProfileRef): void {
    const prefix = profileKey(ref) + '/';
    for (const k of [...this.regions.keys()]) if (k.startsWith(prefix)) this.regions.delete(k);
    this.regionLists.delete(profileKey(ref));
    this.fire({ scope: 'profile', ref });
  }

  invalidateProvider(provider: ProviderName): void {
    for (const k of [...this.regions.keys()]) if (k.startsWith(provider + '/')) this.regions.delete(k);
    for (const k of [...this.regionLists.keys()]) if (k.startsWith(provider + '/')) this.regionLists.delete(k);
    this.fire({ scope: 'provider', provider });
  }

  private async fetchPages(
    ref: RegionRef,
    gen: number,
    token: string | undefined,
    atLeast: number,
    signal: AbortSignal | undefined,
    into?: RegionState,
  ): Promise<void> {
    const key = regionKey(ref);
    const keys = into ? [...into.keys] : [];
    let nextToken = token;
    let total = into?.total;
    let error: KmsEnvelopeError | undefined;
    try {
      const provider = await this.getProvider(ref);
      const size = this.opts.pageSize?.() ?? 100;
      const seen = new Set(keys.map((k) => k.keyId));
      for (;;) {
        const page = await provider.listKeys(ref.region, { nextToken, pageSize: size, signal });
        for (const k of page.keys) {
          if (seen.has(k.keyId)) continue;
          seen.add(k.keyId);
          keys.push(k);
        }
        if (page.total !== undefined) total = page.total;
        if (page.nextToken && page.nextToken === nextToken)
          throw providerError(`${ref.provider} returned the same page token twice for ${ref.region}.`, 'Retry later.', {
            provider: ref.provider,
            region: ref.region,
          });
        nextToken = page.nextToken;
        if (!nextToken || keys.length >= atLeast) break;
      }
    } catch (err) {
      if (isCancelled(err) || signal?.aborted) {
        // A cancelled load leaves the region as it was before (unloaded), so expanding again retries.
        const cur = this.regions.get(key);
        if (cur?.generation === gen) {
          if (into) into.loading = undefined;
          else this.regions.delete(key);
        }
        throw err instanceof CancelledError ? err : new CancelledError();
      }
      error = toError(err, ref);
      this.log.warn(`Listing keys failed: ${ref.provider}/${ref.profile}/${ref.region}: ${error.message}`);
    }
    const cur = this.regions.get(key);
    if (!cur || cur.generation !== gen) return; // replaced by a refresh meanwhile
    this.regions.set(key, {
      keys,
      nextToken: error ? (into?.nextToken ?? undefined) : nextToken,
      total,
      error,
      loaded: true,
      generation: gen,
    });
    for (const l of [...this.loadListeners]) {
      try {
        l(ref);
      } catch (err) {
        this.log.error(`KeyService listener failed: ${(err as Error).message}`);
      }
    }
  }

  /**
   * The alias of a key some loaded region of this provider holds (any profile), by key id or ARN;
   * undefined when no loaded listing names it. No KMS call: messages name keys by what is known.
   */
  aliasOf(provider: ProviderName, region: string, keyIdOrArn: string): string | undefined {
    return this.knownKey(provider, region, keyIdOrArn)?.alias;
  }

  /** A key some loaded region of this provider holds (any profile), by id, ARN or alias; no KMS call. */
  knownKey(provider: ProviderName, region: string, key: string): KeyMetadata | undefined {
    const bare = key.replace(/^alias\//, '');
    for (const [id, st] of this.regions) {
      if (!id.startsWith(`${provider}/`) || !id.endsWith(`/${region}`)) continue;
      const k = st.keys.find(
        (x) => x.keyId === key || (!!x.arn && x.arn === key) || (!!x.alias && x.alias.replace(/^alias\//, '') === bare),
      );
      if (k) return k;
    }
    return undefined;
  }

  /**
   * Names the error's key by its alias where one is known: "key 3f2a…" becomes "key team-key
   * (3f2a…)" in the message (the clouds' errors name the key id they were called with). The id stays,
   * in parentheses and in `details`.
   */
  nameKeyIn(err: unknown): void {
    if (!(err instanceof KmsEnvelopeError)) return;
    const { provider, region, keyId } = err.details;
    if (!provider || !region || !keyId || !findProvider(provider)) return;
    const alias = this.aliasOf(provider as ProviderName, region, keyId);
    if (!alias || err.message.includes(alias)) return;
    const named = err.message.split(`key ${keyId}`).join(`key ${alias} (${keyId})`);
    if (named !== err.message) err.message = named;
  }

  /** Finds a loaded key by id or alias in a region's cache. */
  findCachedKey(ref: RegionRef, keyIdOrAlias: string): KeyMetadata | undefined {
    return this.peekRegion(ref)?.keys.find((k) => k.keyId === keyIdOrAlias || k.alias === keyIdOrAlias);
  }
}
