/**
 * The git side of sealed files, with `git` itself (execFile, no shell): which files a command looks
 * at (tracked and untracked-but-not-ignored files of a work tree, or a plain walk outside one), the
 * staged version of a file (read into memory, never written out), and `kms-envelope git setup`: the
 * `.gitattributes` lines and the repository's own config (a diff driver whose textconv unseals, a merge
 * driver, an optional pre-commit hook), and their removal.
 *
 * Never set: `diff.kms-envelope.cachetextconv` — git would store the textconv output (plaintext) in
 * its notes.
 */
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { KmsEnvelopeError, usageError } from '../errors';

export const DRIVER = 'kms-envelope';
const BEGIN = '# >>> kms-envelope (kms-envelope git setup) >>>';
const END = '# <<< kms-envelope <<<';

/** Runs git; resolves with stdout as bytes (stdin optional). */
export function git(args: string[], opts: { cwd: string; input?: Buffer; allowFail?: boolean } = { cwd: '.' }): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = execFile('git', args, { cwd: opts.cwd, encoding: 'buffer', maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && !opts.allowFail) {
        const e = err as NodeJS.ErrnoException;
        reject(
          e.code === 'ENOENT'
            ? usageError('git is not installed (or not on PATH).', 'Install git, then try again.')
            : new KmsEnvelopeError('io', `git ${args[0]} failed: ${stderr.toString().trim() || e.message}`, {
                hint: 'Run it inside a git work tree.',
              }),
        );
      } else resolve(stdout);
    });
    if (opts.input) child.stdin?.end(opts.input);
  });
}

/** The top of the work tree that holds `dir`, or undefined outside one. */
export async function workTreeOf(dir: string): Promise<string | undefined> {
  const out = await git(['rev-parse', '--show-toplevel'], { cwd: dir, allowFail: true }).catch(() => Buffer.alloc(0));
  const top = out.toString('utf8').trim();
  return top || undefined;
}

const SKIP_DIRS = new Set(['.git', 'node_modules']);

async function walk(dir: string, out: string[]): Promise<void> {
  for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (!SKIP_DIRS.has(e.name)) await walk(p, out);
    } else if (e.isFile()) out.push(p);
  }
}

/**
 * The files under `paths` (files as given; folders: in a git work tree its tracked and untracked,
 * not-ignored files, else every file below it but .git and node_modules). Absolute paths, sorted.
 */
export async function listFiles(paths: string[]): Promise<string[]> {
  const out = new Set<string>();
  for (const p of paths.length ? paths : ['.']) {
    const abs = path.resolve(p);
    let st;
    try {
      st = await fsp.stat(abs);
    } catch {
      throw usageError(`${p}: no such file or folder.`, 'Check the path.', { file: p });
    }
    if (st.isFile()) {
      out.add(abs);
      continue;
    }
    const top = await workTreeOf(abs);
    if (top) {
      const z = await git(['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', '.'], { cwd: abs });
      for (const rel of z.toString('utf8').split('\0'))
        if (rel) {
          const f = path.join(abs, rel);
          if (
            await fsp.stat(f).then(
              (s) => s.isFile(),
              () => false,
            )
          )
            out.add(f);
        }
    } else {
      const found: string[] = [];
      await walk(abs, found);
      for (const f of found) out.add(f);
    }
  }
  return [...out].sort();
}

/**
 * Which of these files a folder scan (listFiles) would leave out: inside a git work tree, the ones
 * git ignores (`git check-ignore`); outside one, none.
 */
export async function ignoredFiles(files: string[]): Promise<Set<string>> {
  const byDir = new Map<string, string[]>();
  for (const f of files) byDir.set(path.dirname(f), [...(byDir.get(path.dirname(f)) ?? []), f]);
  const out = new Set<string>();
  for (const [dir, list] of byDir) {
    if (!(await workTreeOf(dir))) continue;
    const z = await git(['check-ignore', '-z', '--stdin'], {
      cwd: dir,
      input: Buffer.from(list.map((f) => path.relative(dir, f)).join('\0') + '\0'),
      allowFail: true,
    });
    for (const rel of z.toString('utf8').split('\0')) if (rel) out.add(path.resolve(dir, rel));
  }
  return out;
}

/** Staged files (added, copied, modified, renamed) of the work tree at `dir`, absolute. */
export async function stagedFiles(dir: string): Promise<string[]> {
  const top = await workTreeOf(dir);
  if (!top) throw usageError(`${dir} is not inside a git work tree, so nothing is staged.`, 'Run it inside the repository.');
  const z = await git(['diff', '--cached', '--name-only', '-z', '--diff-filter=ACMR'], { cwd: top });
  return z
    .toString('utf8')
    .split('\0')
    .filter(Boolean)
    .map((rel) => path.join(top, rel));
}

/** The staged bytes of a file (git's index), in memory. */
export async function stagedBytes(file: string): Promise<Buffer> {
  const top = (await workTreeOf(path.dirname(file)))!;
  return git(['show', `:${path.relative(top, file).split(path.sep).join('/')}`], { cwd: top });
}

export interface SetupOptions {
  /** The `kms-envelope` command as git should run it (an absolute path to node and the CLI when not on PATH). */
  command: string;
  /** `.gitattributes` patterns (relative to the work tree top, `/`-separated) that get the drivers. */
  patterns: string[];
  preCommit?: boolean;
  remove?: boolean;
}

export interface SetupResult {
  top: string;
  attributes: string;
  config: Array<[string, string]>;
  hook?: string;
  removed?: boolean;
}

function withoutBlock(text: string): string {
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  if (a < 0 || b < a) return text;
  let rest = text.slice(0, a) + text.slice(b + END.length);
  rest = rest.replace(/\n{3,}/g, '\n\n');
  return rest.replace(/^\n+/, '').replace(/\n*$/, rest.trim() ? '\n' : '');
}

/** Writes (or with `remove`, takes out) the .gitattributes block, the repository config and the hook. */
export async function gitSetup(dir: string, o: SetupOptions): Promise<SetupResult> {
  const top = await workTreeOf(dir);
  if (!top)
    throw usageError(`${path.resolve(dir)} is not inside a git work tree.`, 'Run `git init` first, or run this inside the repository.');
  const attrsFile = path.join(top, '.gitattributes');
  const before = await fsp.readFile(attrsFile, 'utf8').catch(() => '');
  const base = withoutBlock(before);
  const config: Array<[string, string]> = [
    [`diff.${DRIVER}.textconv`, `${o.command} textconv`],
    [`diff.${DRIVER}.binary`, 'true'],
    [`merge.${DRIVER}.name`, 'KMS Envelope: merge the unsealed versions, seal the result'],
    [`merge.${DRIVER}.driver`, `${o.command} merge %O %A %B %P`],
  ];
  const hooksDir = path.join(top, (await git(['rev-parse', '--git-path', 'hooks'], { cwd: top })).toString('utf8').trim());
  const hookFile = path.resolve(top, hooksDir, 'pre-commit');
  if (o.remove) {
    if (base !== before) {
      if (base.trim()) await fsp.writeFile(attrsFile, base);
      else await fsp.rm(attrsFile, { force: true });
    }
    for (const [k] of config) await git(['config', '--unset', k], { cwd: top, allowFail: true });
    await git(['config', '--remove-section', `diff.${DRIVER}`], { cwd: top, allowFail: true });
    await git(['config', '--remove-section', `merge.${DRIVER}`], { cwd: top, allowFail: true });
    const hook = await fsp.readFile(hookFile, 'utf8').catch(() => '');
    if (hook.includes(BEGIN)) {
      const rest = withoutBlock(hook);
      if (rest.replace(/^#!.*\n?/, '').trim()) await fsp.writeFile(hookFile, rest);
      else await fsp.rm(hookFile, { force: true });
    }
    return { top, attributes: base, config, removed: true };
  }
  const lines = [BEGIN, ...o.patterns.map((p) => `${p} diff=${DRIVER} merge=${DRIVER}`), END];
  const attributes = (base.trim() ? base.replace(/\n*$/, '\n\n') : '') + lines.join('\n') + '\n';
  await fsp.writeFile(attrsFile, attributes);
  for (const [k, v] of config) await git(['config', k, v], { cwd: top });
  let hook: string | undefined;
  if (o.preCommit) {
    const existing = withoutBlock(await fsp.readFile(hookFile, 'utf8').catch(() => ''));
    const body = [BEGIN, `${o.command} check --staged || exit $?`, END].join('\n');
    hook = existing.trim()
      ? existing.startsWith('#!')
        ? existing.replace(/^(#!.*\n)/, `$1${body}\n`)
        : `#!/bin/sh\n${body}\n${existing}`
      : `#!/bin/sh\n${body}\n`;
    await fsp.mkdir(path.dirname(hookFile), { recursive: true });
    await fsp.writeFile(hookFile, hook, { mode: 0o755 });
    await fsp.chmod(hookFile, 0o755);
  }
  return { top, attributes, config, hook: hook && hookFile };
}
