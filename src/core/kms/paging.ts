/**
 * Page tokens of clouds that page by number or offset with a fixed size, and the planner interface
 * `listAllKeys` (./list-all.ts) uses to fetch every page of a region in parallel once the first
 * page reported the total.
 */
import { usageError } from '../errors';
import type { ListKeysPage } from './types';

/** Providers that can name every page's token once the first page (with its total) is known. */
export interface PageTokenPlanner {
  remainingPageTokens(first: ListKeysPage): string[] | undefined;
}

export function isPageTokenPlanner(p: unknown): p is PageTokenPlanner {
  return typeof (p as PageTokenPlanner | undefined)?.remainingPageTokens === 'function';
}

/** Page tokens `<prefix>:<n>:<size>`. */
export function encodePageToken(prefix: string, n: number, size: number): string {
  return `${prefix}:${n}:${size}`;
}

export function decodePageToken(prefix: string, token: string, provider: string): { n: number; size: number } {
  const m = new RegExp(`^${prefix}:(\\d+):(\\d+)$`).exec(token);
  if (!m)
    throw usageError(
      `"${token}" is not a ${provider} page token.`,
      'Pass the nextToken of the previous page unchanged, or omit it for the first page.',
    );
  return { n: Number(m[1]), size: Number(m[2]) };
}

export function clampPageSize(size: number | undefined, max: number, dflt: number): number {
  if (size === undefined || !Number.isFinite(size)) return dflt;
  return Math.max(1, Math.min(max, Math.floor(size)));
}
