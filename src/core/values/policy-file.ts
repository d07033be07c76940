/**
 * Where a file's policy is: the nearest `.kms-envelope.yaml` in its folder or above. Stat calls only
 * and no npm package, so the extension's leak guard can ask on every edit without loading the values
 * engine (policy.ts parses what this finds).
 */
import { promises as fsp } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export const POLICY_FILE = '.kms-envelope.yaml';

/** Path of the nearest policy file in the file's folder or above it; undefined when there is none. */
export async function findPolicyFile(file: string): Promise<string | undefined> {
  for (let dir = dirname(resolve(file)); ;) {
    const candidate = join(dir, POLICY_FILE);
    try {
      if ((await fsp.stat(candidate)).isFile()) return candidate;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
    }
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}
