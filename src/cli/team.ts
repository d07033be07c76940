/**
 * Sealed files in git and in a team, on the command line:
 *
 *   kms-envelope textconv <file>                         plaintext for git's diff driver (stdout)
 *   kms-envelope merge <base> <ours> <theirs> [<path>]   git's merge driver (%O %A %B %P): result into <ours>
 *   kms-envelope git setup [--remove] [--pre-commit]     .gitattributes + the repository's git config (+ hook)
 *   kms-envelope rewrap <files|dirs…> [--add-key K]… [--remove-key K]… [--to K…] [--rotate-data-key] [--dry-run] [--json]
 *   kms-envelope check [paths…] [--staged] [--json]      exit 5 when a value the policy covers is not sealed, or a blob is broken
 *   kms-envelope scan [paths…] [--json]                  per recipient key: the files and values naming it (headers only)
 *
 * The use-cases are core/services/team-service.ts; git plumbing is core/git/repo.ts.
 */
import * as path from 'node:path';
import { promises as fsp } from 'node:fs';
import { writeFileAtomic } from '../core/atomic';
import { usageError } from '../core/errors';
import { parseKeyRef } from '../core/keyref';
import type { Recipient } from '../core/envelope/types';
import type { RecipientInfo } from '../core/envelope/recipients';
import type { KmsProvider, ProviderName } from '../core/kms/types';
import { displayPath } from '../core/paths';
import type { RecipientChange, TeamService } from '../core/services/team-service';
import { CLI, PROVIDER_OPTIONS, buildProvider, makeLogger, parse, providerOptions, providerResolverFor, table, type Io } from './common';

/** Exit code of `check` when it found something (documented in the README's exit code table). */
export const CHECK_FINDINGS_EXIT = 5;

export const TEAM_HELP = {
  textconv: `Usage: kms-envelope textconv <file>

Prints the plaintext of a sealed file, or of a file with sealed values (each value unsealed in its
place), on stdout, for git's diff driver (diff.kms-envelope.textconv, set by \`kms-envelope git setup\`).
Other files are printed as they are. Nothing is written to disk. When the file cannot be opened here
(no key for it), a one-line note stands in for it and the reason goes to stderr (exit 0, so git diff
still works).

  --profile <name>, --endpoint <url>, -v, -h   as for unseal
`,
  merge: `Usage: kms-envelope merge <base> <ours> <theirs> [<path>]

git's merge driver (merge.kms-envelope.driver = kms-envelope merge %O %A %B %P, set by
\`kms-envelope git setup\`): unseals the three versions in memory, merges them line by line and seals
the result to the recipients (and context) of <ours>, the current branch's version, into <ours>
atomically. A file of sealed values keeps its header and the records of values that did not change.
Conflicting changes leave git's conflict markers INSIDE the sealed content (open the file decrypted
to resolve them); the exit code is then 1, as git expects. No plaintext is written to disk.

  --profile <name>, --endpoint <url>, -v, -h   as for unseal
`,
  git: `Usage: kms-envelope git setup [--remove] [--pre-commit] [--command <cmd>]

Sets up the git repository of the current folder for sealed files:
  .gitattributes   *.sealed, *.sealed.txt and the paths of the .kms-envelope.yaml rules get
                   diff=kms-envelope merge=kms-envelope (in a block marked kms-envelope)
  .git/config      diff.kms-envelope.textconv = kms-envelope textconv (plaintext diffs: git diff,
                   git log -p, git show), merge.kms-envelope.driver = kms-envelope merge %O %A %B %P
  --pre-commit     also a pre-commit hook: kms-envelope check --staged
  --remove         takes all of it out again
  --command <cmd>  how git runs kms-envelope (default: kms-envelope when it is on PATH, else this
                   node and this CLI by absolute path)

textconv output is never cached by git (diff.kms-envelope.cachetextconv stays unset): a cache would
hold plaintext in git's notes.
`,
  rewrap: `Usage: kms-envelope rewrap <files|dirs…> [--add-key K]… [--remove-key K]… [--to K…]
                            [--rotate-data-key] [--dry-run] [--json]

Changes who can open sealed files and files of sealed values, without a new data key: one Decrypt per
file, one Encrypt per new cloud recipient (none for a local key), the encrypted data keys of the keys
that stay kept byte for byte. A file of sealed values changes in its header line only (a one-line
diff). A sealed file gets a new header and its body is encrypted again under a new message id
(README, "Blob format": the body cannot be kept safely). Folders: every sealed file below them
(tracked and untracked, not ignored, in a git work tree). Files already as asked are left alone.

  --add-key K          add recipient K (a keyref), repeatable
  --remove-key K       remove recipient K, repeatable (at least one must stay)
  --to K               the recipients become exactly these, in this order, repeatable
  --rotate-data-key    seal again under a fresh data key (GenerateDataKey + Encrypt per recipient):
                       for a data key that may have leaked, or to lock out a removed recipient
  --dry-run            show what would change; no KMS call, nothing written
  --json               the result as JSON on stdout
  --profile <name>, --endpoint <url>, -v, -h   as for seal
`,
  check: `Usage: kms-envelope check [paths…] [--staged] [--json]

The leak guard. Reads the .kms-envelope.yaml policy of each file and lists, as <file>:<line> <key>,
every value the policy says must be sealed but is not, and every broken sealed entry (a sealed file or
header that does not parse, sealed values without a header, a malformed record). No KMS call.
Folders: their tracked and untracked, not ignored files (git), or every file below them.

  --staged     check the staged version of each staged file (the pre-commit hook's mode)
  --json       the findings as JSON on stdout

Exit codes: 0 nothing found, ${CHECK_FINDINGS_EXIT} something found, 1 usage, 2 a policy that does not parse.
`,
  scan: `Usage: kms-envelope scan [paths…] [--json]

Lists, per recipient key, the sealed files and sealed values that name it, read from their headers
only: no KMS call. Use it before disabling or deleting a key. Folders as for check.

  --json    the result as JSON on stdout
`,
};

async function teamKeys(io: Io, values: { profile?: string; endpoint?: string; verbose?: boolean }) {
  const popts = providerOptions(io, makeLogger(values.verbose), values);
  const providers = new Map<ProviderName, Promise<KmsProvider>>();
  const provider = (name: ProviderName) => {
    let p = providers.get(name);
    if (!p) providers.set(name, (p = buildProvider(io, name, popts)));
    return p;
  };
  return {
    provider,
    keys: {
      recipients: async (refs: string[]): Promise<Recipient[]> =>
        Promise.all(
          refs.map(async (ref) => {
            const r = parseKeyRef(ref);
            return { provider: await provider(r.provider), region: r.region, key: r.key };
          }),
        ),
      recipientsFor: async (infos: RecipientInfo[]): Promise<Recipient[]> =>
        Promise.all(
          infos.map(async (i) => {
            if (!i.provider)
              throw usageError(
                `A recipient of unknown provider "${i.providerId}" cannot be sealed to again here.`,
                'Re-wrap the file to keys this machine knows (kms-envelope rewrap --to …).',
              );
            return { provider: await provider(i.provider), region: i.region, key: i.keyId };
          }),
        ),
      resolve: await providerResolverFor(io, popts),
    },
  };
}

async function service(io: Io, values: { profile?: string; endpoint?: string; verbose?: boolean }) {
  const { TeamService } = await import('../core/services/team-service.js');
  const t = await teamKeys(io, values);
  return { svc: new TeamService(t.keys, { logger: makeLogger(values.verbose) }) as TeamService, provider: t.provider };
}

export async function textconvCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { ...PROVIDER_OPTIONS }, 'textconv');
  if (values.help) return (io.stdout.write(TEAM_HELP.textconv), 0);
  if (positionals.length !== 1) throw usageError('textconv needs one file.', `See \`${CLI} textconv --help\`.`);
  const file = positionals[0]!;
  const bytes = await fsp.readFile(file);
  const { svc } = await service(io, values);
  try {
    io.stdout.write(await svc.textconv(file, bytes, { signal: io.signal }));
  } catch (err) {
    const { printError } = await import('./common.js');
    printError(io, err, values.verbose);
    const { classify } = await import('../core/services/team-service.js');
    const k = await classify(file, bytes);
    io.stdout.write(k.kind === 'blob' ? `[kms-envelope: sealed file, not opened here: ${(err as Error).message}]\n` : bytes);
  }
  return 0;
}

export async function mergeCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { ...PROVIDER_OPTIONS }, 'merge');
  if (values.help) return (io.stdout.write(TEAM_HELP.merge), 0);
  if (positionals.length < 3 || positionals.length > 4)
    throw usageError('merge needs <base> <ours> <theirs> [<path>] (git passes %O %A %B %P).', `See \`${CLI} merge --help\`.`);
  const [baseFile, oursFile, theirsFile, shown] = positionals as [string, string, string, string | undefined];
  const file = path.resolve(shown ?? oursFile);
  const [base, ours, theirs] = await Promise.all([baseFile, oursFile, theirsFile].map((f) => fsp.readFile(f)));
  const { svc } = await service(io, values);
  const r = await svc.merge(base!, ours!, theirs!, file, { signal: io.signal });
  const mode = await fsp.stat(oursFile).then(
    (s) => s.mode & 0o777,
    () => 0o644,
  );
  if (!r.output.equals(ours!)) await writeFileAtomic(oursFile, r.output, mode);
  const name = displayPath(shown ?? oursFile);
  io.stderr.write(
    r.conflicts
      ? `${CLI}: ${name}: ${r.conflicts} conflict${r.conflicts > 1 ? 's' : ''}; the markers are inside the sealed content: open it decrypted to resolve them.\n`
      : `${CLI}: merged ${name}${r.kind === 'text' ? '' : ' (sealed again to the current branch’s recipients)'}.\n`,
  );
  return r.conflicts ? 1 : 0;
}

const shellQuote = (s: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

async function onPath(io: Io, name: string): Promise<boolean> {
  for (const dir of (io.env.PATH ?? '').split(path.delimiter)) {
    if (
      dir &&
      (await fsp.access(path.join(dir, name)).then(
        () => true,
        () => false,
      ))
    )
      return true;
  }
  return false;
}

export async function gitCommand(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '-h' || sub === '--help' || sub === undefined) {
    io.stdout.write(TEAM_HELP.git);
    return sub === undefined ? 1 : 0;
  }
  if (sub !== 'setup') throw usageError(`Unknown git action "${sub}".`, `Use \`${CLI} git setup\` (see --help).`);
  const { values } = parse(
    rest,
    { remove: { type: 'boolean' }, 'pre-commit': { type: 'boolean' }, command: { type: 'string' } },
    'git setup',
  );
  if (values.help) return (io.stdout.write(TEAM_HELP.git), 0);
  const { gitSetup, workTreeOf } = await import('../core/git/repo.js');
  const { findPolicy } = await import('../core/values/index.js');
  const cwd = process.cwd();
  const top = await workTreeOf(cwd);
  if (!top) throw usageError(`${cwd} is not inside a git work tree.`, 'Run `git init` first, or run this inside the repository.');
  const command =
    values.command ??
    ((await onPath(io, CLI)) ? CLI : [process.execPath, path.resolve(process.argv[1] ?? 'kms-envelope')].map(shellQuote).join(' '));
  const patterns = ['*.sealed', '*.sealed.txt'];
  const policy = await findPolicy(path.join(cwd, '.kms-envelope-probe'));
  const skipped: string[] = [];
  if (policy) {
    const prefix = path.relative(top, policy.dir).split(path.sep).join('/');
    const { parse: parseYaml } = await import('yaml');
    const rules = ((parseYaml(await fsp.readFile(policy.file, 'utf8')) as { rules?: Array<{ path?: unknown }> }).rules ?? []).map(
      (r) => r.path,
    );
    for (const r of policy.rules) {
      const glob = rules[r.index];
      // Rules written with pathRegex (or a glob with braces) cannot become .gitattributes patterns.
      if (typeof glob !== 'string' || /[{}]/.test(glob)) {
        skipped.push(`rule ${r.index + 1} (${r.pattern})`);
        continue;
      }
      const p = glob.replace(/^\.\//, '');
      patterns.push(prefix ? `/${prefix}/${p}` : p.includes('/') ? `/${p}` : p);
    }
  }
  const r = await gitSetup(cwd, { command, patterns, preCommit: !!values['pre-commit'], remove: !!values.remove });
  if (r.removed) {
    io.stderr.write(
      `Removed the kms-envelope lines from ${displayPath(path.join(r.top, '.gitattributes'))}, the repository's git config and hook.\n`,
    );
    return 0;
  }
  io.stderr.write(
    `Set up ${displayPath(r.top)} for sealed files:\n` +
      `  .gitattributes: ${patterns.join(', ')} → diff=kms-envelope merge=kms-envelope\n` +
      `  git config: ${r.config.map(([k]) => k).join(', ')}\n` +
      (r.hook ? `  pre-commit hook: ${displayPath(r.hook)} runs ${CLI} check --staged\n` : '') +
      (skipped.length ? `  not added (regular expressions): ${skipped.join(', ')}; add their paths to .gitattributes yourself\n` : '') +
      `Commit .gitattributes so the team gets the same attributes; each clone runs \`${CLI} git setup\` once for its own config.\n`,
  );
  return 0;
}

/** Resolves keyrefs to provider + key id (one DescribeKey per distinct key; local keys locally). */
async function resolveRefs(
  refs: string[],
  provider: (n: ProviderName) => Promise<KmsProvider>,
  signal: AbortSignal,
): Promise<Array<{ recipient: Recipient; keyId: string; label: string; provider: string; region: string }>> {
  const out = [];
  for (const ref of refs) {
    const r = parseKeyRef(ref);
    const p = await provider(r.provider);
    const meta = await p.describeKey(r.region, r.key, { signal });
    out.push({
      recipient: { provider: p, region: r.region, key: meta.keyId },
      keyId: meta.keyId,
      label: `${r.provider}:${r.region}:${meta.keyId}`,
      provider: r.provider,
      region: r.region,
    });
  }
  return out;
}

export async function rewrapCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      ...PROVIDER_OPTIONS,
      'add-key': { type: 'string', multiple: true },
      'remove-key': { type: 'string', multiple: true },
      to: { type: 'string', multiple: true },
      'rotate-data-key': { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      json: { type: 'boolean' },
    },
    'rewrap',
  );
  if (values.help) return (io.stdout.write(TEAM_HELP.rewrap), 0);
  if (!positionals.length) throw usageError('rewrap needs files or folders.', `See \`${CLI} rewrap --help\`.`);
  const add = values['add-key'] ?? [];
  const remove = values['remove-key'] ?? [];
  const to = values.to;
  if (to && (add.length || remove.length))
    throw usageError('--to sets the whole list of recipients: do not combine it with --add-key or --remove-key.');
  if (!to && !add.length && !remove.length && !values['rotate-data-key'])
    throw usageError('Say what to change: --add-key, --remove-key, --to or --rotate-data-key.', `See \`${CLI} rewrap --help\`.`);
  const { svc, provider } = await service(io, values);
  const change: RecipientChange = {
    add: await resolveRefs(add, provider, io.signal),
    remove: await resolveRefs(remove, provider, io.signal),
    ...(to ? { to: await resolveRefs(to, provider, io.signal) } : {}),
  };
  const { listFiles } = await import('../core/git/repo.js');
  const { classify } = await import('../core/services/team-service.js');
  const explicit = new Set<string>();
  for (const p of positionals) if ((await fsp.stat(p).catch(() => undefined))?.isFile()) explicit.add(path.resolve(p));
  const results = [];
  for (const file of await listFiles(positionals)) {
    if (!explicit.has(file)) {
      // Folders: only what is sealed.
      const head = await fsp.readFile(file).catch(() => undefined);
      const k = head && (await classify(file, head));
      if (!k || (k.kind !== 'blob' && k.kind !== 'values')) continue;
    }
    const r = await svc.rewrap(file, change, { rotate: !!values['rotate-data-key'], dryRun: !!values['dry-run'], signal: io.signal });
    results.push({ ...r, file: path.relative(process.cwd(), r.file) || r.file });
    if (!values.json) {
      const what = !r.changed ? 'unchanged' : values['dry-run'] ? 'would be' : r.rotated ? 'rotated,' : 're-wrapped,';
      io.stdout.write(
        `${displayPath(path.relative(process.cwd(), r.file) || r.file)}: ${what} ${r.before.join(', ')}${r.changed ? ` → ${r.after.join(', ')}` : ''}\n`,
      );
    }
  }
  if (values.json) io.stdout.write(JSON.stringify(results, null, 2) + '\n');
  else {
    const n = results.filter((r) => r.changed).length;
    io.stderr.write(
      `${values['dry-run'] ? 'Would re-wrap' : 'Re-wrapped'} ${n} of ${results.length} sealed file${results.length === 1 ? '' : 's'}${values['dry-run'] ? ' (dry run: nothing written, no KMS call)' : ''}.\n`,
    );
  }
  return 0;
}

export async function checkCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { staged: { type: 'boolean' }, json: { type: 'boolean' } }, 'check');
  if (values.help) return (io.stdout.write(TEAM_HELP.check), 0);
  const { TeamService } = await import('../core/services/team-service.js');
  const repo = await import('../core/git/repo.js');
  const svc = new TeamService({ recipients: async () => [], recipientsFor: async () => [], resolve: async () => undefined });
  let inputs: Array<{ file: string; bytes?: Buffer }>;
  if (values.staged) {
    const within = positionals.map((p) => path.resolve(p));
    const staged = (await repo.stagedFiles(process.cwd())).filter(
      (f) => !within.length || within.some((w) => f === w || f.startsWith(w + path.sep)),
    );
    inputs = await Promise.all(staged.map(async (file) => ({ file, bytes: await repo.stagedBytes(file) })));
  } else inputs = (await repo.listFiles(positionals)).map((file) => ({ file }));
  const findings = await svc.check(inputs);
  const rel = (f: string) => path.relative(process.cwd(), f) || f;
  if (values.json)
    io.stdout.write(
      JSON.stringify(
        findings.map((f) => ({ ...f, file: rel(f.file) })),
        null,
        2,
      ) + '\n',
    );
  else
    for (const f of findings)
      io.stdout.write(
        `${displayPath(rel(f.file))}:${f.line} ${f.key}${f.kind === 'plaintext' ? ' is not sealed' : `: broken: ${f.reason}`}\n`,
      );
  const plain = findings.filter((f) => f.kind === 'plaintext').length;
  const broken = findings.length - plain;
  if (findings.length) {
    io.stderr.write(
      `${CLI} check: ${[plain && `${plain} value${plain > 1 ? 's' : ''} the policy says must be sealed ${plain > 1 ? 'are' : 'is'} not`, broken && `${broken} broken sealed entr${broken > 1 ? 'ies' : 'y'}`].filter(Boolean).join(', ')} (${inputs.length} file${inputs.length === 1 ? '' : 's'} checked).\n` +
        (plain ? `  → Seal them: ${CLI} seal --values <file> (then git add it again).\n` : ''),
    );
    return CHECK_FINDINGS_EXIT;
  }
  if (!values.json) io.stderr.write(`${CLI} check: ${inputs.length} file${inputs.length === 1 ? '' : 's'} checked, nothing to report.\n`);
  return 0;
}

export async function scanCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { json: { type: 'boolean' } }, 'scan');
  if (values.help) return (io.stdout.write(TEAM_HELP.scan), 0);
  const { TeamService } = await import('../core/services/team-service.js');
  const { listFiles } = await import('../core/git/repo.js');
  const svc = new TeamService(
    { recipients: async () => [], recipientsFor: async () => [], resolve: async () => undefined },
    { logger: makeLogger(values.verbose) },
  );
  const usage = await svc.scan(await listFiles(positionals));
  const rel = (f: string) => path.relative(process.cwd(), f) || f;
  if (values.json) {
    io.stdout.write(
      JSON.stringify(
        usage.map((u) => ({ ...u, files: u.files.map((f) => ({ ...f, file: rel(f.file) })) })),
        null,
        2,
      ) + '\n',
    );
    return 0;
  }
  if (!usage.length) {
    io.stderr.write('No sealed file or sealed value found.\n');
    return 0;
  }
  io.stdout.write(
    table(
      ['KEY', 'FILES', 'VALUES', 'WHERE'],
      usage.map((u) => [
        u.key,
        String(u.fileCount),
        String(u.valueCount),
        u.files.map((f) => `${rel(f.file)}${f.kind === 'values' ? ` (${f.values})` : ''}`).join(', '),
      ]),
    ),
  );
  return 0;
}
