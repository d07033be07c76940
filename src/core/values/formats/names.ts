/**
 * A file's values format from its name alone. Its own module, free of the parsers, so the editor can
 * ask it (is this a config file the values editor opens?) without loading YAML or JSON code.
 */
import { basename } from 'node:path';
import type { ValuesFormat } from './types';

/** yaml: *.yaml *.yml; json: *.json *.jsonc; dotenv: .env, .env.<name>, <name>.env, <name>.env.<name> */
export function formatFromName(file: string): ValuesFormat | undefined {
  const name = basename(file).toLowerCase();
  if (/\.ya?ml$/.test(name)) return 'yaml';
  if (/\.jsonc?$/.test(name)) return 'json';
  if (/(^|\.)env(\.[^.]+)?$/.test(name)) return 'dotenv';
  return undefined;
}
