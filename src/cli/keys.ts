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
import { writeFileAtomic } from '../core/atomic';
import { KmsEnvelopeError, usageError } from '../core/errors';
import { providerDescriptor } from '../core/kms/registry';
import type { KeyMetadata, KmsProvider, ProviderName } from '../core/kms/types';
import { CLI, PROVIDER_OPTIONS, buildProvider, makeLogger, parse, parseProviderName, providerOptions, table, type Io } from './common';
import { HELP } from './help';

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
  const fixed = providerDescriptor(name).regions.fixed;
  const provider = await buildProvider(io, name, providerOptions(io, makeLogger(values.verbose), values));
  const region = singleRegion(name, action as Action, regions);
  const json = !!values.json;
  const out = (text: string, data: unknown) => io.stdout.write(json ? JSON.stringify(data, null, 2) + '\n' : text);
  const needKey = () => {
    if (!values.key)
      throw usageError(
        `keys ${action} needs --key <keyId-or-alias>.`,
        `List the keys: \`${CLI} keys list --provider ${name}${fixed ? '' : ` --region ${region}`}\`.`,
      );
    return values.key;
  };

  switch (action as Action) {
    case 'list':
      return listKeys(io, provider, name, regions, json);
    case 'create': {
      const k = await provider.createKey(region, { alias: values.alias, description: values.description, signal: io.signal });
      out(`Created ${keyLine(k)}\n  seal with: ${CLI} seal <file> --key ${k.provider}:${k.region}:${k.alias ?? k.keyId}\n`, k);
      return 0;
    }
    case 'describe': {
      const k = await provider.describeKey(region, needKey(), { signal: io.signal });
      out(describeText(k), k);
      return 0;
    }
    case 'enable':
    case 'disable': {
      const key = needKey();
      const id = (await provider.describeKey(region, key, { signal: io.signal })).keyId;
      await (action === 'enable'
        ? provider.enableKey(region, id, { signal: io.signal })
        : provider.disableKey(region, id, { signal: io.signal }));
      const k = await provider.describeKey(region, id, { signal: io.signal });
      out(`${action === 'enable' ? 'Enabled' : 'Disabled'} ${keyLine(k)}\n`, k);
      return 0;
    }
    case 'alias': {
      if (!values.alias)
        throw usageError(
          'keys alias needs --alias <new-alias>.',
          `e.g. \`${CLI} keys alias --provider ${name} --key <id> --alias team-key\`.`,
        );
      const id = (await provider.describeKey(region, needKey(), { signal: io.signal })).keyId;
      await provider.setAlias(region, id, values.alias, { signal: io.signal });
      const k = await provider.describeKey(region, id, { signal: io.signal });
      out(`Alias of ${k.keyId} is now ${values.alias}\n`, k);
      return 0;
    }
    case 'description': {
      if (values.description === undefined)
        throw usageError('keys description needs --description <text>.', 'Pass --description "" to clear it.');
      const id = (await provider.describeKey(region, needKey(), { signal: io.signal })).keyId;
      await provider.setDescription(region, id, values.description, { signal: io.signal });
      const k = await provider.describeKey(region, id, { signal: io.signal });
      out(`Description of ${k.keyId} updated\n`, k);
      return 0;
    }
    case 'schedule-deletion': {
      const w = provider.deletionWindow;
      const days = values.days === undefined ? w.default : Number(values.days);
      if (!Number.isInteger(days))
        throw usageError(`--days "${values.days}" is not a whole number.`, `Pass --days between ${w.min} and ${w.max}.`);
      const id = (await provider.describeKey(region, needKey(), { signal: io.signal })).keyId;
      const r = await provider.scheduleDeletion(region, id, days, { signal: io.signal });
      const k = await provider.describeKey(region, id, { signal: io.signal });
      out(
        `Key ${keyLine(k)} will be deleted on ${fmtDate(r.deletionDate ?? k.deletionDate)}.\n` +
          `  Blobs sealed only to it cannot be opened after that. Undo: ${CLI} keys cancel-deletion --provider ${name}${fixed ? '' : ` --region ${region}`} --key ${k.keyId}\n`,
        k,
      );
      return 0;
    }
    case 'cancel-deletion': {
      const id = (await provider.describeKey(region, needKey(), { signal: io.signal })).keyId;
      await provider.cancelDeletion(region, id, { signal: io.signal });
      const k = await provider.describeKey(region, id, { signal: io.signal });
      out(
        `Deletion of ${keyLine(k)} cancelled; the key is ${k.state}. Enable it to use it: ${CLI} keys enable --provider ${name} --key ${k.keyId}\n`,
        k,
      );
      return 0;
    }
    case 'import':
      return importKey(io, provider, values, out);
    case 'export':
      return exportKey(io, provider, region, needKey(), values);
  }
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
    const fixed = providerDescriptor(name).regions.fixed;
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
    io.stderr.write(`${CLI}: region ${f.region}: ${f.error!.message}\n${f.error!.hint ? `  → ${f.error!.hint}\n` : ''}`);
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
  if (
    dest !== '-' &&
    !values.force &&
    (await fsp.stat(dest).then(
      () => true,
      () => false,
    ))
  ) {
    throw usageError(`${dest} already exists.`, 'Pass --force to replace it, or choose another name.', { file: dest });
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
    io.stderr.write(
      `Exported ${keyLine(metadata)} to ${dest} (mode 0600). It holds the key itself: anyone with this file opens every blob sealed to the key.\n` +
        `  Import elsewhere: ${CLI} keys import --provider local --in ${dest}\n`,
    );
  }
  return 0;
}
