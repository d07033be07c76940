/**
 * Reading the vendors' own CLI configuration files for credential discovery (tccli, aliyun, ...):
 * read-only, and never a file's contents in a message (JSON.parse messages quote the input, which
 * may be a secret): a malformed file is reported by path only.
 */
import { promises as fsp } from 'node:fs';
import type { Logger } from '../log';

export function isNonEmptyString(v: unknown): v is string {
  return typeof v === 'string' && v.trim() !== '';
}

export function asRecord(v: unknown): Record<string, unknown> | undefined {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** A JSON file's value, or undefined when it is missing or unreadable (warned about by path only). */
export async function readJsonFile(file: string, logger: Logger): Promise<unknown | undefined> {
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
