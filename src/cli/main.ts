/**
 * `kms-envelope`: the command line. A stable contract for scripts and CI:
 *
 *   kms-envelope seal <file|-> [-o <out>] --key <keyref> [--key <keyref> ...] [--context k=v ...] [--armor]
 *   kms-envelope unseal <file|-> [-o <out>] [--context k=v ...]
 *   kms-envelope inspect <file|-> [--json]
 *   kms-envelope keys <action> --provider <p> [--profile <name>] [--region <r>] [--endpoint <url>] [--json] ...
 *   kms-envelope profiles add|list|test|rotate|remove ...
 *   kms-envelope bench --key <keyref> [--case …] [--concurrency N] [--duration S] [--json] ...   (src/cli/bench.ts)
 *   kms-envelope rewrap|check|scan|git setup|textconv|merge ...   sealed files in git and teams (src/cli/team.ts)
 *   kms-envelope emulator ...    (src/emulator)
 *   exit: 0 ok, 1 usage, 2 format/crypto, 3 KMS/provider, 4 credentials, 5 check found something, 130 cancelled
 *
 * Startup speed matters (`unseal` of a small blob is benchmarked against bare `node`): this file
 * imports only node:util-based helpers; each command, the envelope engine (Encryption SDK), the
 * cloud SDKs, keytar and the emulator are loaded on demand with dynamic imports.
 */
import { discardPendingSync, onStaleTempFilesRemoved } from '../core/atomic';
import { CancelledError, isCancelled } from '../core/errors';
import { CLI, applyKeyFileDir, printError, type Io } from './common';
import { HELP } from './help';
import { version } from '../../package.json';

/** Pulls `--key-file-dir <dir>` / `--key-file-dir=<dir>` out of argv early (any command may need it). */
function keyFileDirOf(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    if (a === '--key-file-dir') return argv[i + 1];
    if (a.startsWith('--key-file-dir=')) return a.slice('--key-file-dir='.length);
  }
  return undefined;
}

export async function main(argv: string[], io: Io): Promise<number> {
  const [command, ...rest] = argv;
  let verbose = rest.includes('--verbose') || rest.includes('-v');
  // Where outputs go through named temp files (not Linux), a write removes those a killed run left.
  const offSweep = onStaleTempFilesRemoved(({ dir, files }) =>
    io.stderr.write(`${CLI}: removed ${files.length} temp file(s) an interrupted run left in ${dir}: ${files.join(', ')}\n`),
  );
  try {
    switch (command) {
      case undefined:
        io.stderr.write(HELP.main);
        return 1;
      case '-h':
      case '--help':
      case 'help':
        io.stdout.write(HELP.main);
        return 0;
      case '-V':
      case '--version':
      case 'version':
        io.stdout.write(`${CLI} ${version}\n`);
        return 0;
      case 'emulator':
        verbose = false;
        return await (await import('../emulator/index.js')).emulatorMain(rest);
    }
    applyKeyFileDir(io, keyFileDirOf(rest));
    switch (command) {
      case 'seal':
        return await (await import('./envelope.js')).sealCommand(rest, io);
      case 'unseal':
        return await (await import('./envelope.js')).unsealCommand(rest, io);
      case 'inspect':
        return await (await import('./envelope.js')).inspectCommand(rest, io);
      case 'keys':
        return await (await import('./keys.js')).keysCommand(rest, io);
      case 'profiles':
        return await (await import('./profiles.js')).profilesCommand(rest, io);
      case 'exec':
        return await (await import('./exec.js')).execCommand(rest, io);
      case 'bench':
        return await (await import('./bench.js')).benchCommand(rest, io);
      case 'textconv':
        return await (await import('./team.js')).textconvCommand(rest, io);
      case 'merge':
        return await (await import('./team.js')).mergeCommand(rest, io);
      case 'git':
        return await (await import('./team.js')).gitCommand(rest, io);
      case 'rewrap':
        return await (await import('./team.js')).rewrapCommand(rest, io);
      case 'check':
        return await (await import('./team.js')).checkCommand(rest, io);
      case 'scan':
        return await (await import('./team.js')).scanCommand(rest, io);
      default:
        io.stderr.write(
          `${CLI}: unknown command "${command}".\n  → Commands: seal, unseal, inspect, exec, rewrap, check, scan, git, textconv, merge, keys, bench, profiles, emulator (\`${CLI} --help\`).\n`,
        );
        return 1;
    }
  } catch (err) {
    if (isCancelled(err) || io.signal.aborted) {
      io.stderr.write(`${CLI}: cancelled; no output was written.\n`);
      return new CancelledError().exitCode;
    }
    return printError(io, err, verbose);
  } finally {
    offSweep();
  }
}

/**
 * Signals that end a seal or unseal cleanly: Ctrl-C, a closed terminal or dropped SSH session (HUP),
 * Ctrl-\\ (QUIT), `kill` (TERM). The first aborts the work, which drops the output; a second one exits
 * at once (removing a named temp file on the way; an unnamed one vanishes with the process).
 */
const CANCEL_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

/** Process entry: wires stdio, the cancel signals and the exit code. */
function run(): void {
  const ctl = new AbortController();
  const command = process.argv[2];
  // exec handles its own signals: before the command starts they cancel, afterwards they go to it.
  if (command !== 'emulator' && command !== 'exec') {
    const onSignal = (sig: NodeJS.Signals) => {
      if (ctl.signal.aborted) {
        discardPendingSync();
        process.exit(130);
      }
      ctl.abort(new CancelledError(`Interrupted (${sig}).`));
    };
    for (const sig of CANCEL_SIGNALS) process.on(sig, onSignal);
    process.on('exit', discardPendingSync);
  }
  // A closed stdout (`kms-envelope … | head`) is not an error worth a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  });
  // After a hang-up the terminal is gone: a failed message must not turn a clean cancel into a crash.
  process.stderr.on('error', () => undefined);
  const io: Io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, signal: ctl.signal };
  main(process.argv.slice(2), io).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.exitCode = printError(io, err, true);
    },
  );
}

if (typeof module !== 'undefined' && require.main === module) run();
else if (typeof module === 'undefined') run();
