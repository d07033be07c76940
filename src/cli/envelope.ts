/**
 * `kms-envelope seal`, `unseal` and `inspect`.
 *
 * Files: the output is written atomically (temp file in the target's folder, fsync, rename), so a
 * failed or cancelled run leaves the input untouched and no output behind. `-` reads stdin /
 * writes stdout; on stdout, plaintext is written frame by frame and only after each frame's tag
 * verified, so a blob tampered in its middle stops the output there and exits 2.
 *
 * Default names: seal writes `<file>.sealed` (binary) or `<file>.sealed.txt` (--armor); unseal
 * strips `.sealed` / `.sealed.txt`, otherwise writes `<file>.unsealed`. stdin input defaults to
 * stdout. An existing output is never replaced without --force.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FileHandle } from 'node:fs/promises';
import { createAtomicWriteStream, describeLink, existingTarget, type AtomicFile } from '../core/atomic';
import { KmsEnvelopeError, usageError } from '../core/errors';
import { parseKeyRef } from '../core/keyref';
import { displayPath, escapeControls } from '../core/paths';
import type { EncryptionContext } from '../core/kms/types';
import type { SealOptions } from '../core/envelope/types';
import {
  CLI,
  PROVIDER_OPTIONS,
  buildProvider,
  humanSize,
  makeLogger,
  parse,
  parseContext,
  providerOptions,
  providerResolverFor,
  type Io,
} from './common';
import { HELP } from './help';
import { cannotRead } from '../core/read-file';

const PROGRESS_MIN = 16 * 1024 * 1024;

interface Input {
  stream: Readable;
  /** The open file under `stream` (files only), for the file → file fast paths. */
  handle?: FileHandle;
  /** File path, or "stdin". */
  label: string;
  size?: number;
  path?: string;
}

async function openInput(io: Io, file: string): Promise<Input> {
  if (file === '-') {
    if (io.stdin.isTTY)
      throw usageError('Refusing to read the input from a terminal.', `Pipe data in (\`… | ${CLI} seal - --key …\`) or give a file name.`);
    // A signal while the input waits for data (a hung-up `ssh … kms-envelope unseal -`) must end the
    // run now: the engine sees the abort only between chunks, so stop the input too.
    io.signal.addEventListener('abort', () => io.stdin.destroy(), { once: true });
    return { stream: io.stdin, label: 'stdin' };
  }
  let st;
  try {
    st = await fsp.stat(file);
  } catch (err) {
    throw cannotRead(file, err);
  }
  if (st.isDirectory())
    throw usageError(
      `${displayPath(file)} is a directory.`,
      'Give a file; seal a folder by archiving it first (tar … | kms-envelope seal - …).',
      {
        file,
      },
    );
  const fh = await fsp.open(file, 'r').catch((err: unknown) => {
    throw cannotRead(file, err);
  });
  return { stream: fh.createReadStream({ highWaterMark: 1 << 20 }), handle: fh, label: file, size: st.size, path: path.resolve(file) };
}

interface Output {
  stream: Writable;
  /** The atomic file under `stream` (files only), for the file → file fast paths. */
  file?: AtomicFile;
  label: string;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

async function openOutput(io: Io, target: string, force: boolean, input: Input): Promise<Output> {
  if (target === '-') {
    return { stream: io.stdout, label: 'stdout', commit: async () => {}, abort: async () => {} };
  }
  const abs = path.resolve(target);
  if (input.path && abs === input.path)
    throw usageError(`The output ${displayPath(target)} is the input file.`, 'Write to another file (-o), then rename it if you must.', {
      file: target,
    });
  // lstat, not stat: a symbolic link is an existing output even when it dangles, and a write
  // replaces the link itself (rename), never the file it points to.
  const exists = await existingTarget(abs);
  if (exists?.kind === 'directory')
    throw usageError(`The output ${displayPath(target)} is a directory.`, 'Give a file name with -o.', { file: target });
  const link = exists?.kind === 'symlink' ? exists : undefined;
  if (exists && !force)
    throw usageError(
      `${displayPath(target)} already exists${link ? ` (${escapeControls(describeLink(link))})` : ''}.`,
      link
        ? 'Pass --force to replace the link itself with the output (the file it points to is not touched), or choose another name with -o.'
        : 'Pass --force to replace it, or choose another name with -o.',
      { file: target },
    );
  try {
    const w = await createAtomicWriteStream(abs);
    const commit = async () => {
      await w.commit();
      if (link)
        io.stderr.write(
          `${CLI}: replaced the symbolic link ${displayPath(target)} (${escapeControls(describeLink(link))}) with the output; the file it pointed to was not touched.\n`,
        );
    };
    return { stream: w.stream, file: w.file, label: target, commit, abort: () => w.abort() };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new KmsEnvelopeError(
      'io',
      `Cannot write ${displayPath(target)}: ${e.code === 'ENOENT' ? 'its folder does not exist' : escapeControls(e.message)}.`,
      {
        hint: 'Check the output folder and its permissions.',
        details: { file: target },
        cause: err,
      },
    );
  }
}

function progress(io: Io, verb: string, input: Input): ((done: number) => void) | undefined {
  if (!io.stderr.isTTY) return undefined;
  if (input.size !== undefined && input.size < PROGRESS_MIN) return undefined;
  let last = 0;
  let shown = false;
  const fn = (done: number) => {
    const now = Date.now();
    if (now - last < 200 || (input.size === undefined && done < PROGRESS_MIN)) return;
    last = now;
    shown = true;
    const pct = input.size ? ` ${Math.min(100, Math.floor((done / input.size) * 100))}%` : '';
    io.stderr.write(
      `\r${verb} ${displayPath(input.label)}:${pct} ${humanSize(done)}${input.size ? ` of ${humanSize(input.size)}` : ''}\x1b[K`,
    );
  };
  (fn as { end?: () => void }).end = () => {
    if (shown) io.stderr.write('\r\x1b[K');
  };
  return fn;
}

function endProgress(p: ((done: number) => void) | undefined): void {
  (p as { end?: () => void } | undefined)?.end?.();
}

/** Runs `work` writing into `out`; commits on success, removes the partial output otherwise. */
async function withOutput<T>(out: Output, work: () => Promise<T>): Promise<T> {
  try {
    const r = await work();
    await out.commit();
    return r;
  } catch (err) {
    await out.abort().catch(() => undefined);
    throw err;
  }
}

// ---- seal --------------------------------------------------------------------------------------

type Provider = Awaited<ReturnType<typeof buildProvider>>;

/** One provider per provider name (built once), one recipient per --key. */
async function buildRecipients(io: Io, refs: ReturnType<typeof parseKeyRef>[], popts: ReturnType<typeof providerOptions>) {
  const providers = new Map<string, Provider>();
  const recipients: Array<{ provider: Provider; region: string; key: string }> = [];
  for (const r of refs) {
    let p = providers.get(r.provider);
    if (!p) {
      p = await buildProvider(io, r.provider, popts);
      providers.set(r.provider, p);
    }
    recipients.push({ provider: p, region: r.region, key: r.key });
  }
  return recipients;
}

/** Seals the input into the output: file to file on the fast path, else as streams (armored if asked). */
async function sealInto(input: Input, out: Output, armored: boolean, opts: SealOptions) {
  const { sealStream, sealToFile } = await import('../core/envelope/engine.js');
  // File to file: reused read buffers and direct writes (about 2x the stream path on 1 GiB).
  if (!armored && input.handle && out.file) {
    try {
      return await sealToFile(input.handle, out.file, opts);
    } finally {
      input.stream.destroy();
    }
  }
  if (!armored) return sealStream(input.stream, out.stream, opts);
  const enc = (await import('../core/envelope/armor.js')).armorEncoder();
  return (await Promise.all([sealStream(input.stream, enc, opts), pipeline(enc, out.stream)]))[0];
}

export async function sealCommand(argv: string[], io: Io): Promise<number> {
  if (argv.includes('--values')) return (await import('./values.js')).sealValuesCommand(argv, io);
  const { values, positionals } = parse(
    argv,
    {
      ...PROVIDER_OPTIONS,
      output: { type: 'string', short: 'o' },
      key: { type: 'string', short: 'k', multiple: true },
      context: { type: 'string', short: 'c', multiple: true },
      armor: { type: 'boolean', short: 'a' },
      force: { type: 'boolean', short: 'f' },
    },
    'seal',
  );
  if (values.help) return (io.stdout.write(HELP.seal), 0);
  if (positionals.length !== 1)
    throw usageError(
      positionals.length ? `seal takes one input, got ${positionals.length}.` : 'seal needs an input file (or - for stdin).',
      `See \`${CLI} seal --help\`.`,
    );
  if (!values.key?.length)
    throw usageError(
      'seal needs at least one --key <provider>:<region>:<keyId-or-alias>.',
      `e.g. \`${CLI} seal ${positionals[0]} --key local:local:team-key\`; list keys with \`${CLI} keys list\`.`,
    );
  const refs = values.key.map(parseKeyRef);
  const context = parseContext(values.context);
  const file = positionals[0]!;
  const armored = !!values.armor;
  const target = values.output ?? (file === '-' ? '-' : `${file}${armored ? '.sealed.txt' : '.sealed'}`);
  if (target === '-' && io.stdout.isTTY && !armored) {
    throw usageError('Refusing to write a binary blob to the terminal.', 'Pass --armor for text, or -o <file>, or redirect stdout.');
  }

  const recipients = await buildRecipients(io, refs, providerOptions(io, makeLogger(values.verbose), values));
  const input = await openInput(io, file);
  const out = await openOutput(io, target, !!values.force, input);
  const onProgress = progress(io, 'sealing', input);
  try {
    await withOutput(out, () => sealInto(input, out, armored, { recipients, context, signal: io.signal, onProgress }));
  } catch (err) {
    input.stream.destroy();
    throw withFile(err, input.label);
  } finally {
    endProgress(onProgress);
  }
  if (target !== '-')
    io.stderr.write(
      `Sealed ${displayPath(input.label)} → ${displayPath(out.label)} for ${refs.map((r) => `${r.provider}:${r.region}:${r.key}`).join(', ')}\n`,
    );
  return 0;
}

// ---- unseal ------------------------------------------------------------------------------------

function defaultUnsealName(file: string): string {
  if (file.endsWith('.sealed.txt')) return file.slice(0, -'.sealed.txt'.length);
  if (file.endsWith('.sealed')) return file.slice(0, -'.sealed'.length);
  return `${file}.unsealed`;
}

/**
 * The binary message inside an input, from the envelope library's sniffing: a binary blob as is,
 * armored text decoded on the fly, or the one armored value inside other text (a config file).
 */
async function sealedSource(io: Io, input: Input): Promise<Readable> {
  const { openSealedInput } = await import('../core/envelope/sniff.js');
  const sealed = await openSealedInput(input.stream, input.label);
  if (sealed.kind === 'message') return sealed.stream;
  const { values } = sealed;
  if (values.length > 1)
    throw usageError(
      `${displayPath(input.label)} contains ${values.length} armored blobs (lines ${values.map((v) => v.line).join(', ')}), not one.`,
      `Unseal one value at a time: copy it into its own file or pipe it in (\`echo 'kmsenv:v1:…' | ${CLI} unseal -\`).`,
      { file: input.label },
    );
  io.stderr.write(`${CLI}: unsealing the armored blob on line ${values[0]!.line} of ${displayPath(input.label)}\n`);
  const [{ dearmor }, { Readable }] = await Promise.all([import('../core/envelope/armor.js'), import('node:stream')]);
  return Readable.from([dearmor(values[0]!.text)]);
}

function withFile(err: unknown, label: string): unknown {
  if (err instanceof KmsEnvelopeError && !err.details.file) (err.details as { file?: string }).file = label;
  return err;
}

export async function unsealCommand(argv: string[], io: Io): Promise<number> {
  if (argv.includes('--values')) return (await import('./values.js')).unsealValuesCommand(argv, io);
  const { values, positionals } = parse(
    argv,
    {
      ...PROVIDER_OPTIONS,
      output: { type: 'string', short: 'o' },
      context: { type: 'string', short: 'c', multiple: true },
      force: { type: 'boolean', short: 'f' },
    },
    'unseal',
  );
  if (values.help) return (io.stdout.write(HELP.unseal), 0);
  if (positionals.length !== 1)
    throw usageError(
      positionals.length ? `unseal takes one input, got ${positionals.length}.` : 'unseal needs an input file (or - for stdin).',
      `See \`${CLI} unseal --help\`.`,
    );
  const file = positionals[0]!;
  const context: EncryptionContext = parseContext(values.context);
  const target = values.output ?? (file === '-' ? '-' : defaultUnsealName(file));

  const logger = makeLogger(values.verbose);
  const resolve = await providerResolverFor(io, providerOptions(io, logger, values));

  const input = await openInput(io, file);
  const out = await openOutput(io, target, !!values.force, input);
  const onProgress = progress(io, 'unsealing', input);
  try {
    await withOutput(out, async () => {
      const { unsealStream, unsealToFile } = await import('../core/envelope/engine.js');
      const opts = { resolve, context, signal: io.signal, onProgress };
      // A text holding several sealed values (or values sealed by policy): each unsealed in its place.
      const many = input.path && (await (await import('./values.js')).unsealTextValues(io, input.path, input.label, resolve, context));
      if (many) {
        input.stream.destroy();
        return pipeline(
          (async function* () {
            yield many.bytes;
          })(),
          out.stream,
        );
      }
      const { sniffFile } = await import('../core/envelope/sniff.js');
      if (input.handle && out.file && (await sniffFile(input.handle)) === 'binary') {
        try {
          return await unsealToFile(input.handle, out.file, opts);
        } finally {
          input.stream.destroy();
        }
      }
      const source = await sealedSource(io, input);
      return unsealStream(source, out.stream, opts);
    });
  } catch (err) {
    input.stream.destroy();
    throw withFile(err, input.label);
  } finally {
    endProgress(onProgress);
  }
  if (target !== '-') io.stderr.write(`Unsealed ${displayPath(input.label)} → ${displayPath(out.label)}\n`);
  return 0;
}

// ---- inspect -----------------------------------------------------------------------------------

export async function inspectCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { json: { type: 'boolean' } }, 'inspect');
  if (values.help) return (io.stdout.write(HELP.inspect), 0);
  if (positionals.length !== 1) throw usageError('inspect needs one input file (or - for stdin).', `See \`${CLI} inspect --help\`.`);
  const input = await openInput(io, positionals[0]!);
  let info;
  try {
    const source = await sealedSource(io, input);
    const { inspect } = await import('../core/envelope/engine.js');
    info = await inspect(source);
    source.destroy();
  } catch (err) {
    throw withFile(err, input.label);
  } finally {
    input.stream.destroy();
  }
  if (values.json) {
    io.stdout.write(JSON.stringify({ file: input.label, ...info }, null, 2) + '\n');
    return 0;
  }
  const ctx = Object.entries(info.context);
  const lines = [
    `file         ${displayPath(input.label)}`,
    `format       AWS Encryption SDK message v${info.version}, suite 0x${info.suiteId.toString(16).padStart(4, '0')} (${info.suiteName})`,
    `frame        ${info.frameLength} bytes`,
    `message id   ${info.messageId}`,
    `context      ${ctx.length ? ctx.map(([k, v], i) => `${i ? '             ' : ''}${escapeControls(k)}=${escapeControls(v)}`).join('\n') : '(none)'}`,
    `recipients   ${info.recipients
      .map(
        (r, i) =>
          `${i ? '             ' : ''}${i + 1}. ${r.provider ?? `(unknown provider id ${escapeControls(r.providerId)})`}:${escapeControls(r.region)}:${escapeControls(r.keyId)}`,
      )
      .join('\n')}`,
  ];
  io.stdout.write(lines.join('\n') + '\n');
  return 0;
}
