/**
 * Read-only discovery of credentials users already have (PROTOCOLS.md, "Credentials conventions"),
 * for any provider, from its descriptor:
 *
 * - environment variables (CredentialSpec.env) → a profile named `env` (source `env`), with the
 *   region variable as its default region and the provider's endpoint variable as its endpoint;
 *   e.g. Tencent TENCENTCLOUD_SECRET_ID / _SECRET_KEY / _SESSION_TOKEN (+ TENCENTCLOUD_REGION);
 * - the vendor's own CLI / SDK files (CredentialSpec.discover, in the provider's folder: tccli,
 *   aliyun CLI, ...).
 *
 * Discovery never writes anything and never puts file contents into messages.
 */
import { findProvider } from '../kms/registry';
import { maskKeyId, requiredParts, type CredentialSpec, type DiscoveredProfile, type DiscoveryOptions } from '../kms/descriptor';
import type { CloudCredentials, Env } from '../kms/types';

export type { DiscoveredProfile, DiscoveryOptions } from '../kms/descriptor';

/** Name of the profile made from environment variables. */
export const ENV_PROFILE = 'env';

function nonEmpty(v: string | undefined): string | undefined {
  const t = v?.trim();
  return t ? t : undefined;
}

/** The parts set in the environment, or undefined unless every required long-term part is. */
function readEnvParts(spec: CredentialSpec, env: Env): CloudCredentials | undefined {
  const vars = spec.env?.parts ?? {};
  const out: Record<string, string> = {};
  for (const [part, name] of Object.entries(vars)) {
    const v = nonEmpty(env[name]);
    if (v !== undefined) out[part] = v;
  }
  return requiredParts(spec, 'long-term').every((p) => out[p.key] !== undefined) ? out : undefined;
}

/** Credentials from environment variables for one provider, or undefined when they are not set. */
export function discoverEnv(provider: string, env: Env): DiscoveredProfile | undefined {
  const d = findProvider(provider);
  const spec = d?.credentials;
  if (!d || !spec?.env) return undefined;
  const first = readEnvParts(spec, env);
  if (!first) return undefined;
  const temporary = spec.parts.some((p) => p.temporary && first[p.key] !== undefined);
  const region = spec.env.region ? nonEmpty(env[spec.env.region]) : undefined;
  const endpoint = (d.endpoint?.env ?? []).map((n) => nonEmpty(env[n])).find((v) => v !== undefined);
  const masked = spec.maskedPart ? first[spec.maskedPart] : undefined;
  return {
    info: {
      provider: d.name,
      name: ENV_PROFILE,
      kind: temporary ? 'sts' : 'long-term',
      source: 'env',
      ...(masked ? { keyIdHint: maskKeyId(masked) } : {}),
      ...(region ? { regions: [region] } : {}),
      ...(endpoint ? { endpoint } : {}),
    },
    load: async () => {
      // Read again at call time: a changed environment (tests, long-running hosts) applies.
      const c = readEnvParts(spec, env);
      if (!c) throw new Error(`${Object.values(spec.env!.parts).join(' / ')} are no longer set`);
      return c;
    },
  };
}

/** Every discovered profile of one provider, in precedence order: env first, then the vendor's files. */
export async function discover(provider: string, opts: DiscoveryOptions): Promise<DiscoveredProfile[]> {
  const spec = findProvider(provider)?.credentials;
  if (!spec) return [];
  const out: DiscoveredProfile[] = [];
  const e = discoverEnv(provider, opts.env);
  if (e) out.push(e);
  if (spec.discover) out.push(...(await spec.discover(opts)));
  return out;
}
