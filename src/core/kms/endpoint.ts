/**
 * Endpoints, in one place: which override applies (--endpoint → the profile's endpoint → the
 * provider's environment variables → the public endpoint), how an override is checked when a user
 * types it, and how it becomes a host for one region.
 */
import { usageError } from '../errors';
import type { ProviderDescriptor } from './descriptor';
import type { Env } from './types';

export interface ResolvedEndpoint {
  protocol: 'http' | 'https';
  /** host[:port] */
  host: string;
  /** protocol://host[:port] (for messages). */
  url: string;
  overridden: boolean;
  loopback: boolean;
}

/**
 * The endpoint override of a provider: the explicit one (--endpoint), else the profile's, else the
 * first of the descriptor's environment variables that is set; undefined means the public endpoint.
 */
export function chooseEndpoint(d: ProviderDescriptor, o: { explicit?: string; profile?: string; env: Env }): string | undefined {
  const fromEnv = (d.endpoint?.env ?? []).map((n) => o.env[n]?.trim()).find((v) => !!v);
  return o.explicit?.trim() || o.profile?.trim() || fromEnv || undefined;
}

/**
 * Resolves the endpoint for one region. `template` is the cloud's public host, with `{region}`.
 * An override may also contain `{region}`; without it, every region goes to the same host and the
 * region travels in the request (Tencent: X-TC-Region header; Alibaba: see its provider).
 */
export function resolveEndpoint(override: string | undefined, region: string, template: string): ResolvedEndpoint {
  const raw = (override ?? '').trim();
  const overridden = raw !== '';
  const text = (overridden ? raw : `https://${template}`).replaceAll('{region}', region);
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `https://${text}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw usageError(
      `The endpoint "${raw}" is not a URL.`,
      'Write it as https://host[:port] or http://127.0.0.1:PORT (the emulator); {region} is replaced by the region.',
    );
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw usageError(
      `The endpoint "${raw}" uses ${u.protocol}; only http and https work.`,
      'Write it as https://host[:port] or http://127.0.0.1:PORT.',
    );
  }
  if (u.username || u.password) {
    throw usageError(
      'The endpoint must not contain a user name or password.',
      'Credentials come from the profile, the keychain or the environment, never from the endpoint URL.',
    );
  }
  if (u.pathname !== '/' || u.search || u.hash) {
    throw usageError(`The endpoint "${raw}" has a path or query; KMS endpoints are a host only.`, 'Write it as https://host[:port].');
  }
  const protocol = u.protocol === 'http:' ? 'http' : 'https';
  const host = u.host;
  const hostname = u.hostname.replace(/^\[|\]$/g, '');
  const loopback = hostname === 'localhost' || hostname === '::1' || /^127\./.test(hostname);
  return { protocol, host, url: `${protocol}://${host}`, overridden, loopback };
}

/** Checks an endpoint override a user typed (profile add, settings); returns it trimmed, or undefined when empty. */
export function checkEndpoint(endpoint: string | undefined): string | undefined {
  const e = endpoint?.trim();
  if (!e) return undefined;
  resolveEndpoint(e, 'region', 'kms.{region}.example'); // throws a usage error naming the problem
  return e;
}
