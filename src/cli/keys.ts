/**
 * `kms-envelope keys <action>`: list, create, describe, enable, disable, alias, description,
 * schedule-deletion, cancel-deletion, and for local keys import / export.
 *
 * Every action takes --provider (default: local), --region (local: `local`; clouds: required except
 * for `list`, which lists every region the provider reports), --profile, --endpoint and --json.
 * Key material for import is read from a file or stdin, never from the command line; export writes
 * it only where asked (a new 0600 file, or stdout when it is not a terminal).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { describeLink, existingTarget, writeFileAtomic } from '../core/atomic';
import { KmsEnvelopeError, usageError } from '../core/errors';
import { providerDescriptor } from '../core/kms/registry';
import type { KeyMetadata, KmsProvider, ProviderName } from '../core/kms/types';
import { CLI, PROVIDER_OPTIONS, buildProvider, makeLogger, parse, parseProviderName, providerOptions, table, type Io } from './common';
import { HELP } from './help';
import { cliStep } from './hints';

const ACTIONS = [
  'list',
  'create',
  'describe',
  'enable',
  'disable',
  'alias',
  'description',
  'schedule-deletion',
  'cancel-deletion',
  'import',
  'export',
] as const;
type Action = (typeof ACTIONS)[number];

const KEY_OPTIONS = {
  ...PROVIDER_OPTIONS,
  provider: { type: 'string', short: 'p' },
  region: { type: 'string', short: 'r', multiple: true },
  json: { type: 'boolean' },
  key: { type: 'string', short: 'k' },
  alias: { type: 'string' },
  description: { type: 'string' },
  days: { type: 'string' },
  in: { type: 'string' },
  out: { type: 'string' },
  'key-id': { type: 'string' },
  force: { type: 'boolean', short: 'f' },
} as const;

function fmtDate(iso?: string): string {
  return iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '';
}

function keyLine(k: KeyMetadata): string {
  return `${k.provider}:${k.region}:${k.keyId}${k.alias ? ` (alias ${k.alias})` : ''}`;
}

function describeText(k: KeyMetadata): string {
  const rows: Array<[string, string | undefined]> = [
    ['key id', k.keyId],
    ['keyref', `${k.provider}:${k.region}:${k.alias ?? k.keyId}`],
    ['alias', k.alias],
    ['state', k.state],
    ['description', k.description],
    ['created', fmtDate(k.createdAt)],
    ['deletion date', fmtDate(k.deletionDate)],
    ['key spec', k.keySpec],
    ['usage', k.keyUsage],
    ['origin', k.origin],
    ['arn', k.arn],
  ];
  return (
    rows
      .filter(([, v]) => v)
      .map(([n, v]) => `${n.padEnd(14)}${v}`)
      .join('\n') + '\n'
  );
}

type Values = ReturnType<typeof parse<typeof KEY_OPTIONS>>['values'];

/** One run of a keys action: the provider built from the options, the one region, output in text or JSON. */
interface KeyRun {
  io: Io;
  action: Action;
  values: Values;
  name: ProviderName;
  provider: KmsProvider;
  region: string;
  regions: string[];
  /** Writes `text`, or `data` as JSON with --json. */
  out(text: string, data: unknown): void;
}

/** Whether the provider has fixed regions (local: "local"), so no --region is written in hints. */
const fixedRegions = (name: ProviderName) => providerDescriptor(name).regions.fixed;

/** --key, required. */
function needKey(r: KeyRun): string {
  if (!r.values.key)
    throw usageError(
      `keys ${r.action} needs --key <keyId-or-alias>.`,
      `List the keys: \`${CLI} keys list --provider ${r.name}${fixedRegions(r.name) ? '' : ` --region ${r.region}`}\`.`,
    );
  return r.values.key;
}

/** The key id behind --key (an alias resolves to its key). */
async function keyIdOf(r: KeyRun): Promise<string> {
  return (await r.provider.describeKey(r.region, needKey(r), { signal: r.io.signal })).keyId;
}

const describeAgain = (r: KeyRun, id: string) => r.provider.describeKey(r.region, id, { signal: r.io.signal });

const KEY_ACTIONS: Record<Action, (r: KeyRun) => Promise<number>> = {
  list: (r) => listKeys(r.io, r.provider, r.name, r.regions, !!r.values.json),
  create: async (r) => {
    const k = await r.provider.createKey(r.region, { alias: r.values.alias, description: r.values.description, signal: r.io.signal });
    r.out(`Created ${keyLine(k)}\n  seal with: ${CLI} seal <file> --key ${k.provider}:${k.region}:${k.alias ?? k.keyId}\n`, k);
    return 0;
  },
  describe: async (r) => {
    const k = await r.provider.describeKey(r.region, needKey(r), { signal: r.io.signal });
    r.out(describeText(k), k);
    return 0;
  },
  enable: (r) => enableOrDisable(r, true),
  disable: (r) => enableOrDisable(r, false),
  alias: async (r) => {
    if (!r.values.alias)
      throw usageError(
        'keys alias needs --alias <new-alias>.',
        `e.g. \`${CLI} keys alias --provider ${r.name} --key <id> --alias team-key\`.`,
      );
    const id = await keyIdOf(r);
    const change = await r.provider.setAlias(r.region, id, r.values.alias, { signal: r.io.signal });
    const was = change?.removed.length ? ` (replaces ${change.removed.join(', ')})` : '';
    r.out(`Alias of ${id} is now ${r.values.alias}${was}\n`, await describeAgain(r, id));
    return 0;
  },
  description: async (r) => {
    if (r.values.description === undefined)
      throw usageError('keys description needs --description <text>.', 'Pass --description "" to clear it.');
    const id = await keyIdOf(r);
    await r.provider.setDescription(r.region, id, r.values.description, { signal: r.io.signal });
    r.out(`Description of ${id} updated\n`, await describeAgain(r, id));
    return 0;
  },
  'schedule-deletion': scheduleDeletion,
  'cancel-deletion': async (r) => {
    const id = await keyIdOf(r);
    await r.provider.cancelDeletion(r.region, id, { signal: r.io.signal });
    const k = await describeAgain(r, id);
    r.out(
      `Deletion of ${keyLine(k)} cancelled; the key is ${k.state}. Enable it to use it: ${CLI} keys enable --provider ${r.name} --key ${k.keyId}\n`,
      k,
    );
    return 0;
  },
  import: (r) => importKey(r.io, r.provider, r.values, r.out),
  export: (r) => exportKey(r.io, r.provider, r.region, needKey(r), r.values),
};

async function enableOrDisable(r: KeyRun, enable: boolean): Promise<number> {
  const id = await keyIdOf(r);
  await (enable
    ? r.provider.enableKey(r.region, id, { signal: r.io.signal })
    : r.provider.disableKey(r.region, id, { signal: r.io.signal }));
  const k = await describeAgain(r, id);
  r.out(`${enable ? 'Enabled' : 'Disabled'} ${keyLine(k)}\n`, k);
  return 0;
}

async function scheduleDeletion(r: KeyRun): Promise<number> {
  const w = r.provider.deletionWindow;
  const days = r.values.days === undefined ? w.default : Number(r.values.days);
  if (!Number.isInteger(days))
    throw usageError(`--days "${r.values.days}" is not a whole number.`, `Pass --days between ${w.min} and ${w.max}.`);
  const id = await keyIdOf(r);
  const res = await r.provider.scheduleDeletion(r.region, id, days, { signal: r.io.signal });
  const k = await describeAgain(r, id);
  r.out(
    `Key ${keyLine(k)} will be deleted on ${fmtDate(res.deletionDate ?? k.deletionDate)}.\n` +
      `  Blobs sealed only to it cannot be opened after that. Undo: ${CLI} keys cancel-deletion --provider ${r.name}${fixedRegions(r.name) ? '' : ` --region ${r.region}`} --key ${k.keyId}\n`,
    k,
  );
  return 0;
}

export async function keysCommand(argv: string[], io: Io): Promise<number> {
  const action = argv[0];
  if (!action || action === '--help' || action === '-h' || action === 'help') {
    io.stdout.write(HELP.keys);
    return action ? 0 : 1;
  }
  if (!(ACTIONS as readonly string[]).includes(action)) {
    throw usageError(`Unknown keys action "${action}".`, `Use one of: ${ACTIONS.join(', ')} (\`${CLI} keys --help\`).`);
  }
  const { values, positionals } = parse(argv.slice(1), KEY_OPTIONS, `keys ${action}`);
  if (values.help) return (io.stdout.write(HELP.keys), 0);
  if (positionals.length)
    throw usageError(
      `Unexpected argument "${positionals[0]}" for keys ${action}.`,
      `Options are named, e.g. --key <id-or-alias>; see \`${CLI} keys --help\`.`,
    );
  const name = parseProviderName(values.provider);
  const regions = values.region ?? [];
  // Only key material kept on this machine (raw-AES keyrings) can be imported or exported.
  if ((action === 'import' || action === 'export') && providerDescriptor(name).keyring.kind !== 'raw-aes') {
    throw usageError(`keys ${action} is for local keys only.`, `Cloud KMS key material stays in the cloud; use --provider local.`);
  }
  const provider = await buildProvider(io, name, providerOptions(io, makeLogger(values.verbose, io.stderr), values));
  const region = singleRegion(name, action as Action, regions);
  const out = (text: string, data: unknown) => io.stdout.write(values.json ? JSON.stringify(data, null, 2) + '\n' : text);
  return KEY_ACTIONS[action as Action]({ io, action: action as Action, values, name, provider, region, regions, out });
}

function singleRegion(name: ProviderName, action: Action, regions: string[]): string {
  const d = providerDescriptor(name);
  const fixed = d.regions.fixed;
  if (fixed) {
    const r = regions[0] ?? fixed[0]!;
    if (regions.length > 1 || !fixed.includes(r))
      throw usageError(
        `${d.label} have ${fixed.length === 1 ? `one region, "${fixed[0]}"` : `the regions ${fixed.join(', ')}`}; got --region ${regions.join(', ')}.`,
        `Leave out --region for ${d.label.toLowerCase()}.`,
      );
    return r;
  }
  if (action === 'list') return regions[0] ?? '';
  if (regions.length !== 1) {
    throw usageError(
      `keys ${action} for ${name} needs exactly one --region.`,
      `List the regions and keys: \`${CLI} keys list --provider ${name}\`.`,
      { provider: name },
    );
  }
  return regions[0]!;
}

async function listKeys(io: Io, provider: KmsProvider, name: ProviderName, regions: string[], json: boolean): Promise<number> {
  const { listAllKeys } = await import('../core/kms/list-all.js');
  const wanted = regions.length ? regions : await provider.listRegions({ signal: io.signal });
  const listings = await listAllKeys(provider, wanted, { signal: io.signal });
  const keys = listings.flatMap((l) => l.keys);
  const failed = listings.filter((l) => l.error);
  if (failed.length === listings.length && failed.length > 0) throw failed[0]!.error!;
  if (json) {
    io.stdout.write(JSON.stringify(keys, null, 2) + '\n');
  } else if (keys.length === 0) {
    const fixed = fixedRegions(name);
    io.stdout.write(
      `No ${name} keys${fixed ? '' : ` in ${wanted.join(', ')}`}. Create one: ${CLI} keys create --provider ${name}${fixed ? '' : ' --region <region>'} --alias <name>\n`,
    );
  } else {
    const multi = wanted.length > 1;
    const rows = keys.map((k) => [
      ...(multi ? [k.region] : []),
      k.keyId,
      k.alias ?? '',
      k.state,
      fmtDate(k.createdAt),
      k.state === 'PendingDeletion' ? `deleted on ${fmtDate(k.deletionDate)}` : (k.description ?? ''),
    ]);
    io.stdout.write(table([...(multi ? ['REGION'] : []), 'KEY ID', 'ALIAS', 'STATE', 'CREATED', 'DESCRIPTION'], rows));
    const where = (provider as { materialLocation?: string }).materialLocation;
    if (where) io.stdout.write(`\nKey material: ${where}.\n`);
  }
  for (const f of failed) {
    const hint = f.error!.hintIn(cliStep);
    io.stderr.write(`${CLI}: region ${f.region}: ${f.error!.message}\n${hint ? `  → ${hint}\n` : ''}`);
  }
  return failed.length ? failed[0]!.error!.exitCode : 0;
}

type LocalOps = {
  importKey(material: Buffer, o: { alias?: string; description?: string; keyId?: string; signal?: AbortSignal }): Promise<KeyMetadata>;
  exportKey(region: string, key: string, o?: { signal?: AbortSignal }): Promise<{ metadata: KeyMetadata; material: Buffer }>;
};

async function importKey(
  io: Io,
  provider: KmsProvider,
  values: { in?: string; alias?: string; description?: string; 'key-id'?: string },
  out: (text: string, data: unknown) => void,
): Promise<number> {
  const src = values.in;
  if (!src)
    throw usageError(
      'keys import needs --in <file> (or --in - for stdin).',
      'Key material is never taken from the command line: give the file `keys export` wrote.',
    );
  let data: Buffer;
  if (src === '-') {
    if (io.stdin.isTTY) throw usageError('Refusing to read key material from a terminal.', 'Pipe it in, or give --in <file>.');
    const chunks: Buffer[] = [];
    for await (const c of io.stdin) chunks.push(c as Buffer);
    data = Buffer.concat(chunks);
  } else {
    data = await fsp.readFile(src).catch((err: NodeJS.ErrnoException) => {
      throw new KmsEnvelopeError('io', `Cannot read ${src}: ${err.code === 'ENOENT' ? 'no such file' : err.message}.`, {
        hint: 'Check the path.',
        details: { file: src },
      });
    });
  }
  const { parseImport } = await import('../core/kms/local/export.js');
  const parsed = parseImport(data, src === '-' ? 'stdin' : src);
  data.fill(0);
  try {
    const k = await (provider as unknown as LocalOps).importKey(parsed.material, {
      keyId: values['key-id'] ?? parsed.keyId,
      alias: values.alias ?? parsed.alias,
      description: values.description ?? parsed.description,
      signal: io.signal,
    });
    out(`Imported ${keyLine(k)}\n`, k);
  } finally {
    parsed.material.fill(0);
  }
  return 0;
}

async function exportKey(
  io: Io,
  provider: KmsProvider,
  region: string,
  key: string,
  values: { out?: string; force?: boolean },
): Promise<number> {
  const dest = values.out;
  if (!dest)
    throw usageError(
      'keys export needs --out <file> (or --out - for stdout).',
      'The file will hold the key material itself: keep it as safe as the key.',
    );
  if (dest === '-' && io.stdout.isTTY)
    throw usageError('Refusing to print key material to a terminal.', 'Redirect stdout to a file or a pipe, or give --out <file>.');
  // A symbolic link (even a dangling one) is an existing file: the write would replace the link.
  const existing = dest === '-' ? undefined : await existingTarget(dest);
  if (existing && !values.force) {
    const link = existing.kind === 'symlink' ? ` (${describeLink(existing)})` : '';
    throw usageError(`${dest} already exists${link}.`, 'Pass --force to replace it, or choose another name.', { file: dest });
  }
  const { serializeExport } = await import('../core/kms/local/export.js');
  const { metadata, material } = await (provider as unknown as LocalOps).exportKey(region, key, { signal: io.signal });
  const text = serializeExport({
    keyId: metadata.keyId,
    alias: metadata.alias,
    description: metadata.description,
    createdAt: metadata.createdAt,
    material: material.toString('base64'),
  });
  material.fill(0);
  if (dest === '-') {
    io.stdout.write(text);
  } else {
    await writeFileAtomic(path.resolve(dest), text, 0o600);
    if (existing?.kind === 'symlink')
      io.stderr.write(
        `${CLI}: replaced the symbolic link ${dest} (${describeLink(existing)}) with the export; the file it pointed to was not touched.\n`,
      );
    io.stderr.write(
      `Exported ${keyLine(metadata)} to ${dest} (mode 0600). It holds the key itself: anyone with this file opens every blob sealed to the key.\n` +
        `  Import elsewhere: ${CLI} keys import --provider local --in ${dest}\n`,
    );
  }
  return 0;
}
