/**
 * Profiles of the Alibaba Cloud CLI (aliyun), read-only: `~/.aliyun/config.json` `profiles[]` in
 * mode `AK` or `StsToken` → one profile each (source `aliyun-cli`); the file's `current` profile is
 * its default. Other modes (RamRoleArn, EcsRamRole, ...) need a token exchange and are skipped.
 */
import * as path from 'node:path';
import { asRecord, isNonEmptyString, readJsonFile } from '../config-files';
import { maskKeyId, type DiscoveredProfile, type DiscoveryOptions } from '../descriptor';
import type { CloudCredentials } from '../types';

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
  const root = await readJsonFile(file, opts.logger);
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
        keyIdHint: maskKeyId(creds.accessKeyId!),
        ...(isNonEmptyString(region) ? { regions: [region.trim()] } : {}),
        ...(creds.expiration ? { expiration: creds.expiration } : {}),
      },
      isCliDefault: name === current,
      file,
      load: async () => {
        const again = parse(await readJsonFile(file, opts.logger));
        const q = again.list.find((x) => x.name === name);
        const c = q && toCreds(q);
        if (!c) throw new Error(`${file} no longer holds an AK or StsToken profile named ${name}`);
        return c;
      },
    });
  }
  return out;
}
