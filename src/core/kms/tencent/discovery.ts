/**
 * Profiles of the Tencent Cloud CLI (tccli), read-only: `~/.tccli/<profile>.credential` (JSON
 * secretId / secretKey [/ token, expiresAt]) and, when present, `~/.tccli/<profile>.configure`
 * (`_sys_param.region`) → one profile per file, named after it (source `tccli`). Role and CVM
 * credentials (no secretId/secretKey pair) are skipped.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { asRecord, isNonEmptyString, readJsonFile } from '../config-files';
import { maskKeyId, type DiscoveredProfile, type DiscoveryOptions } from '../descriptor';
import type { CloudCredentials } from '../types';

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
      const j = asRecord(await readJsonFile(credFile, opts.logger));
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
    const conf = asRecord(await readJsonFile(path.join(dir, `${name}.configure`), opts.logger));
    const sys = asRecord(conf?._sys_param);
    const region = sys?.region;
    out.push({
      info: {
        provider: 'tencent',
        name,
        kind: first.securityToken ? 'sts' : 'long-term',
        source: 'tccli',
        keyIdHint: maskKeyId(first.accessKeyId!),
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
