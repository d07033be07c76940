/**
 * Read-only discovery of credentials users already have (PROTOCOLS.md, "Credentials conventions"):
 *
 * - environment variables → a profile named `env` per provider (source `env`);
 *     Tencent  TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY / TENCENTCLOUD_SESSION_TOKEN
 *              (+ TENCENTCLOUD_REGION as its default region when set)
 *     Alibaba  ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET / ALIBABA_CLOUD_SECURITY_TOKEN
 *              (+ ALIBABA_CLOUD_REGION_ID as its default region when set)
 *     KMS_ENVELOPE_ENDPOINT, when set, becomes the endpoint of both `env` profiles (the emulator prints it).
 * - tccli: `~/.tccli/<profile>.credential` (JSON secretId / secretKey [/ token]) and, when present,
 *   `~/.tccli/<profile>.configure` (`_sys_param.region`) → profiles named after the file (source `tccli`);
 * - aliyun CLI: `~/.aliyun/config.json` `profiles[]` in mode `AK` or `StsToken` → profiles (source
 *   `aliyun-cli`); other modes (RamRoleArn, EcsRamRole, …) need a token exchange and are skipped.
 *
 * Discovery never writes anything and never puts file contents into messages: a malformed file
 * is reported by path only (JSON.parse messages quote the input, which may be a secret).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../log';
import type { CloudCredentials, ProfileInfo } from './types';
import { maskKeyId } from './types';

export type CloudProviderName = 'tencent' | 'alibaba';

export const CREDENTIAL_ENV = {
  tencent: {
    id: 'TENCENTCLOUD_SECRET_ID',
    secret: 'TENCENTCLOUD_SECRET_KEY',
    token: 'TENCENTCLOUD_SESSION_TOKEN',
    region: 'TENCENTCLOUD_REGION',
  },
  alibaba: {
    id: 'ALIBABA_CLOUD_ACCESS_KEY_ID',
    secret: 'ALIBABA_CLOUD_ACCESS_KEY_SECRET',
    token: 'ALIBABA_CLOUD_SECURITY_TOKEN',
    region: 'ALIBABA_CLOUD_REGION_ID',
  },
} as const;

export const ENDPOINT_ENV_VAR = 'KMS_ENVELOPE_ENDPOINT';

/** Name of the profile made from environment variables. */
export const ENV_PROFILE = 'env';

/** A discovered profile together with its secret (kept in memory only). */
export interface DiscoveredProfile {
  info: ProfileInfo;
  /** Read at each call, so an edited CLI file or environment applies to the next request. */
  load: () => Promise<CloudCredentials>;
  /** Whether this is the source's own default (tccli `default`, aliyun `current`). */
  isCliDefault?: boolean;
  /** File it came from, for messages. */
  file?: string;
}

export interface DiscoveryOptions {
  env: NodeJS.ProcessEnv;
  homeDir: string;
  logger: Logger;
}

function isNonEmptyString(v: unknown): v is string {
  return typeof v === 'string' && v.trim() !== '';
}

/** Credentials from environment variables for one provider, or undefined when they are not set. */
export function discoverEnv(provider: CloudProviderName, env: NodeJS.ProcessEnv): DiscoveredProfile | undefined {
  const v = CREDENTIAL_ENV[provider];
  const id = env[v.id];
  const secret = env[v.secret];
  if (!isNonEmptyString(id) || !isNonEmptyString(secret)) return undefined;
  const token = env[v.token];
  const region = env[v.region];
  const endpoint = env[ENDPOINT_ENV_VAR];
  const info: ProfileInfo = {
    provider,
    name: ENV_PROFILE,
    kind: isNonEmptyString(token) ? 'sts' : 'long-term',
    source: 'env',
    keyIdHint: maskKeyId(id.trim()),
    ...(isNonEmptyString(region) ? { regions: [region.trim()] } : {}),
    ...(isNonEmptyString(endpoint) ? { endpoint: endpoint.trim() } : {}),
  };
  return {
    info,
    load: async () => {
      // Read again at call time: a changed environment (tests, long-running hosts) applies.
      const i = env[v.id];
      const s = env[v.secret];
      const t = env[v.token];
      if (!isNonEmptyString(i) || !isNonEmptyString(s)) {
        throw new Error(`${v.id} / ${v.secret} are no longer set`);
      }
      return { accessKeyId: i.trim(), accessKeySecret: s.trim(), ...(isNonEmptyString(t) ? { securityToken: t.trim() } : {}) };
    },
  };
}

async function readJson(file: string, logger: Logger): Promise<unknown | undefined> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') logger.warn(`Cannot read ${file} (${code ?? 'error'}); skipping it.`);
    return undefined;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // Deliberately not the parser's message: it quotes the file's text, which holds secrets.
    logger.warn(`${file} is not valid JSON; skipping it. Fix or remove the file.`);
    return undefined;
  }
}

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** Profiles of the Tencent Cloud CLI (tccli) under `<home>/.tccli`. */
export async function discoverTccli(opts: DiscoveryOptions): Promise<DiscoveredProfile[]> {
  const dir = path.join(opts.homeDir, '.tccli');
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return [];
  }
  const out: DiscoveredProfile[] = [];
  for (const file of names.filter((n) => n.endsWith('.credential')).sort()) {
    const name = file.slice(0, -'.credential'.length);
    if (!name) continue;
    const credFile = path.join(dir, file);
    const readCreds = async (): Promise<CloudCredentials | undefined> => {
      const j = asRecord(await readJson(credFile, opts.logger));
      if (!j) return undefined;
      const id = j.secretId;
      const secret = j.secretKey;
      if (!isNonEmptyString(id) || !isNonEmptyString(secret)) return undefined;
      const token = j.token ?? j.sessionToken;
      const expiresAt = j.expiresAt;
      return {
        accessKeyId: id.trim(),
        accessKeySecret: secret.trim(),
        ...(isNonEmptyString(token) ? { securityToken: token.trim() } : {}),
        ...(typeof expiresAt === 'number' && expiresAt > 0 ? { expiration: new Date(expiresAt * 1000).toISOString() } : {}),
      };
    };
    const first = await readCreds();
    if (!first) {
      opts.logger.debug(`${credFile} has no secretId/secretKey pair (role or CVM credentials are not supported); skipping it.`);
      continue;
    }
    const conf = asRecord(await readJson(path.join(dir, `${name}.configure`), opts.logger));
    const sys = asRecord(conf?._sys_param);
    const region = sys?.region;
    out.push({
      info: {
        provider: 'tencent',
        name,
        kind: first.securityToken ? 'sts' : 'long-term',
        source: 'tccli',
        keyIdHint: maskKeyId(first.accessKeyId),
        ...(isNonEmptyString(region) ? { regions: [region.trim()] } : {}),
        ...(first.expiration ? { expiration: first.expiration } : {}),
      },
      isCliDefault: name === 'default',
      file: credFile,
      load: async () => {
        const c = await readCreds();
        if (!c) throw new Error(`${credFile} no longer holds a secretId/secretKey pair`);
        return c;
      },
    });
  }
  return out;
}

/** Profiles of the Alibaba Cloud CLI (aliyun) in `<home>/.aliyun/config.json`. */
export async function discoverAliyunCli(opts: DiscoveryOptions): Promise<DiscoveredProfile[]> {
  const file = path.join(opts.homeDir, '.aliyun', 'config.json');
  const parse = (root: unknown) => {
    const r = asRecord(root);
    const list = Array.isArray(r?.profiles) ? (r!.profiles as unknown[]) : [];
    const current = isNonEmptyString(r?.current) ? (r!.current as string) : 'default';
    return { list: list.map(asRecord).filter((p): p is Record<string, unknown> => !!p), current };
  };
  const toCreds = (p: Record<string, unknown>): CloudCredentials | undefined => {
    const mode = p.mode;
    if (mode !== 'AK' && mode !== 'StsToken') return undefined;
    const id = p.access_key_id;
    const secret = p.access_key_secret;
    if (!isNonEmptyString(id) || !isNonEmptyString(secret)) return undefined;
    const token = p.sts_token;
    if (mode === 'StsToken' && !isNonEmptyString(token)) return undefined;
    const exp = p.sts_expiration;
    return {
      accessKeyId: id.trim(),
      accessKeySecret: secret.trim(),
      ...(mode === 'StsToken' && isNonEmptyString(token) ? { securityToken: token.trim() } : {}),
      ...(mode === 'StsToken' && typeof exp === 'number' && exp > 0 ? { expiration: new Date(exp * 1000).toISOString() } : {}),
    };
  };
  const root = await readJson(file, opts.logger);
  if (root === undefined) return [];
  const { list, current } = parse(root);
  const out: DiscoveredProfile[] = [];
  for (const p of list) {
    const name = p.name;
    if (!isNonEmptyString(name)) continue;
    const creds = toCreds(p);
    if (!creds) {
      opts.logger.debug(
        `aliyun CLI profile ${name} in ${file} uses mode ${String(p.mode)}; only AK and StsToken are supported, skipping it.`,
      );
      continue;
    }
    const region = p.region_id;
    out.push({
      info: {
        provider: 'alibaba',
        name,
        kind: creds.securityToken ? 'sts' : 'long-term',
        source: 'aliyun-cli',
        keyIdHint: maskKeyId(creds.accessKeyId),
        ...(isNonEmptyString(region) ? { regions: [region.trim()] } : {}),
        ...(creds.expiration ? { expiration: creds.expiration } : {}),
      },
      isCliDefault: name === current,
      file,
      load: async () => {
        const again = parse(await readJson(file, opts.logger));
        const q = again.list.find((x) => x.name === name);
        const c = q && toCreds(q);
        if (!c) throw new Error(`${file} no longer holds an AK or StsToken profile named ${name}`);
        return c;
      },
    });
  }
  return out;
}

/** Every discovered profile of one provider, in precedence order: env first, then the CLI's files. */
export async function discover(provider: string, opts: DiscoveryOptions): Promise<DiscoveredProfile[]> {
  if (provider !== 'tencent' && provider !== 'alibaba') return [];
  const out: DiscoveredProfile[] = [];
  const e = discoverEnv(provider, opts.env);
  if (e) out.push(e);
  out.push(...(provider === 'tencent' ? await discoverTccli(opts) : await discoverAliyunCli(opts)));
  return out;
}
