/**
 * Lists every key of several regions at once, for the CLI (`keys list` over all regions) and the
 * extension's tree. Regions run in parallel, and within a region, once the first page reports the
 * total (Tencent TotalCount, Alibaba TotalCount), the remaining pages run in parallel too. A shared
 * limit bounds the page requests in flight across all regions.
 *
 * A failing region does not sink the others: its entry carries the error (the tree shows an error
 * node with retry). Cancellation aborts everything and rejects with CancelledError.
 */
import { setMaxListeners } from 'node:events';
import { CancelledError, KmsEnvelopeError, isCancelled, providerError } from '../errors';
import { isPageTokenPlanner } from './paging';
import type { KeyMetadata, KmsProvider, ListKeysPage } from './types';

export interface RegionListing {
  region: string;
  keys: KeyMetadata[];
  /** Total the cloud reported (may differ from keys.length if keys changed while listing). */
  total?: number;
  pages: number;
  error?: KmsEnvelopeError;
}

export interface ListAllKeysOptions {
  /** Page requests in flight across all regions (default 8). */
  concurrency?: number;
  /** Page size asked of the provider (it clamps to the cloud's maximum; default: the maximum). */
  pageSize?: number;
  signal?: AbortSignal;
  /** Called as each page arrives (pages of one region may arrive out of order). */
  onPage?(region: string, page: ListKeysPage, index: number): void;
}

/** A counting semaphore. */
export class Limiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly limit: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active < this.limit) this.active++;
    // A finishing task hands its slot straight to the next waiter (so `active` never overshoots).
    else await new Promise<void>((r) => this.waiting.push(r));
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

export async function listAllKeys(
  provider: KmsProvider,
  regions: readonly string[],
  opts: ListAllKeysOptions = {},
): Promise<RegionListing[]> {
  const limiter = new Limiter(Math.max(1, Math.floor(opts.concurrency ?? 8)));
  // One controller for the whole listing, so a cancellation stops every region.
  const ctl = new AbortController();
  // Every page request in flight (and each of its attempts) listens on this one signal.
  setMaxListeners(0, ctl.signal);
  const onAbort = () => ctl.abort(new CancelledError());
  if (opts.signal?.aborted) throw new CancelledError();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const signal = ctl.signal;
  const page = (region: string, nextToken?: string) =>
    limiter.run(() => {
      if (signal.aborted) throw new CancelledError();
      return provider.listKeys(region, { nextToken, pageSize: opts.pageSize, signal });
    });

  const one = async (region: string): Promise<RegionListing> => {
    try {
      const first = await page(region);
      opts.onPage?.(region, first, 0);
      const pages: ListKeysPage[] = [first];
      const planned = isPageTokenPlanner(provider) ? provider.remainingPageTokens(first) : undefined;
      if (planned) {
        const rest = await Promise.all(
          planned.map(async (token, i) => {
            const p = await page(region, token);
            opts.onPage?.(region, p, i + 1);
            return p;
          }),
        );
        pages.push(...rest);
      } else {
        let token = first.nextToken;
        const seen = new Set<string>();
        while (token) {
          if (seen.has(token))
            throw providerError(
              `${provider.name} returned the same page token twice for region ${region}.`,
              'This is a bug in the endpoint; retry later.',
              { provider: provider.name, region },
            );
          seen.add(token);
          const p = await page(region, token);
          opts.onPage?.(region, p, pages.length);
          pages.push(p);
          token = p.nextToken;
        }
      }
      // Offset paging can repeat a key when keys are created while listing: keep the first.
      const byId = new Map<string, KeyMetadata>();
      for (const p of pages) for (const k of p.keys) if (!byId.has(k.keyId)) byId.set(k.keyId, k);
      return { region, keys: [...byId.values()], total: first.total, pages: pages.length };
    } catch (err) {
      if (isCancelled(err) || signal.aborted) throw err instanceof CancelledError ? err : new CancelledError();
      const e =
        err instanceof KmsEnvelopeError
          ? err
          : providerError(
              `Listing keys of ${provider.name} region ${region} failed: ${err instanceof Error ? err.message : String(err)}`,
              undefined,
              { provider: provider.name, region },
              err,
            );
      return { region, keys: [], pages: 0, error: e };
    }
  };

  try {
    return await Promise.all(regions.map(one));
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    if (!signal.aborted) ctl.abort();
  }
}
