// Runs the mocha integration suites inside a real VS Code extension host: a throw-away
// code-server, its workbench opened in headless Chromium with the `payload` parameter
// (extensionDevelopmentPath + extensionTestsPath), results read back from a JSON-lines file.
//
// Usage: node --import tsx scripts/vscode/run.ts [options]
//   --tests <index.js>   built test entry (default out/test/integration/index.js; built first)
//   --no-build           do not run scripts/vscode/build-tests.mjs first
//   --vsix <file>        install this .vsix and test the installed build (no extensionDevelopmentPath);
//                        runs the suites tagged "@packaged" in their title unless --grep is given
//   --grep <regexp>      only tests whose full title matches
//   --emulator [auto]    start the loopback KMS emulator (dist/cli.js emulator --seed --port 0) and pass
//                        its URL to the host; "auto": only if the CLI has the emulator command
//   --timeout <seconds>  the whole run fails after this long (default 300)
//   --label <name>       names the artifacts in test-results/ (default integration or vsix)
//   --keep               keep the temp dirs (user data, logs) and print where they are
//   --untrusted          workspace trust on and the folder untrusted (Restricted Mode); runs the suites
//                        tagged "@untrusted" unless --grep is given
// Prints one line per test and a last line `N passed, N failed[, N skipped]`; exit 0 only if
// at least one test ran and none failed. Everything started here is stopped on exit, error, Ctrl+C.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import type { Browser } from 'playwright-core';
import {
  REPO_ROOT,
  SCRUB_ENV,
  killGroup,
  launchChromium,
  reexecUnderKeyring,
  removeOnExit,
  startCodeServer,
  startEmulatorProcess,
  type CodeServer,
  type Emulator,
} from './code-server';

interface Args {
  tests: string;
  build: boolean;
  vsix?: string;
  grep?: string;
  emulator: 'off' | 'auto' | 'on';
  timeoutS: number;
  label: string;
  keep: boolean;
  untrusted: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    tests: join(REPO_ROOT, 'out', 'test', 'integration', 'index.js'),
    build: true,
    emulator: 'off',
    timeoutS: 300,
    label: '',
    keep: false,
    untrusted: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${k} needs a value`);
      return v;
    };
    if (k === '--tests') a.tests = resolve(val());
    else if (k === '--no-build') a.build = false;
    else if (k === '--vsix') a.vsix = resolve(val());
    else if (k === '--grep') a.grep = val();
    else if (k === '--emulator') a.emulator = argv[i + 1] === 'auto' ? (i++, 'auto') : 'on';
    else if (k === '--timeout') a.timeoutS = Number(val());
    else if (k === '--label') a.label = val();
    else if (k === '--keep') a.keep = true;
    else if (k === '--untrusted') a.untrusted = true;
    else throw new Error(`unknown option ${k} (see the header of scripts/vscode/run.ts)`);
  }
  if (!Number.isFinite(a.timeoutS) || a.timeoutS <= 0) throw new Error('--timeout must be a positive number of seconds');
  a.label ||= a.untrusted ? 'untrusted' : a.vsix ? 'vsix' : 'integration';
  // The installed build runs in production mode (no testing hooks): only suites tagged for it.
  if (a.untrusted && a.grep === undefined) a.grep = '@untrusted';
  if (a.vsix && a.grep === undefined) a.grep = '@packaged';
  return a;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const results = join(REPO_ROOT, 'test-results');
  mkdirSync(results, { recursive: true });

  if (args.build) {
    const b = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'vscode', 'build-tests.mjs')], { stdio: 'inherit' });
    if (b.status !== 0) throw new Error('building the integration tests failed');
  }
  if (!existsSync(args.tests)) throw new Error(`${args.tests} not found (build with node scripts/vscode/build-tests.mjs)`);
  if (!args.vsix && !existsSync(join(REPO_ROOT, 'dist', 'extension.js')))
    throw new Error('dist/extension.js missing: run npm run build first');
  if (args.vsix && !existsSync(args.vsix)) throw new Error(`${args.vsix} not found (npm run package)`);

  const root = mkdtempSync(join(tmpdir(), `kms-envelope-${args.label}-`));
  if (!args.keep) removeOnExit(root);
  const resultsFile = join(root, 'results.jsonl');
  const configDir = join(root, 'config');
  const testTmp = join(root, 'tmp');
  const home = join(root, 'home');
  for (const d of [configDir, testTmp, home]) mkdirSync(d, { recursive: true });
  writeFileSync(resultsFile, '');

  let server: CodeServer | undefined;
  let browser: Browser | undefined;
  let emulator: Emulator | undefined;
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    // Servers first (they matter most), then the browser, which may hang on a dead page.
    if (emulator) await killGroup(emulator.proc);
    if (server) {
      await server.stop();
      copyFileSync(server.logFile, join(results, `${args.label}-code-server.log`));
    }
    if (browser) await Promise.race([browser.close().catch(() => undefined), new Promise((r) => setTimeout(r, 5000).unref())]);
    if (args.keep) console.log(`(kept ${root})`);
    else rmSync(root, { recursive: true, force: true, maxRetries: 3 });
  };
  const onSignal = (sig: NodeJS.Signals) => {
    console.error(`\n${sig}: stopping code-server, browser and emulator`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('SIGHUP', onSignal);

  const t0 = Date.now();
  try {
    if (args.emulator !== 'off') {
      emulator = await startEmulatorProcess(args.emulator, join(root, 'emulator-state.json'));
      if (emulator) console.log(`emulator: ${emulator.url}`);
    }
    const env: Record<string, string> = {
      HOME: home,
      KMS_ENVELOPE_CONFIG_DIR: configDir,
      KMS_ENVELOPE_TEST_TMP: testTmp,
      KMS_ENVELOPE_TEST_RESULTS: resultsFile,
      KMS_ENVELOPE_TEST_MODE: args.vsix ? 'vsix' : 'source',
      ...(args.untrusted ? { KMS_ENVELOPE_TEST_UNTRUSTED: '1' } : {}),
      KMS_ENVELOPE_REPO_ROOT: REPO_ROOT,
      ...(args.grep ? { KMS_ENVELOPE_TEST_GREP: args.grep } : {}),
      ...(emulator ? { KMS_ENVELOPE_EMULATOR_URL: emulator.url, KMS_ENVELOPE_EMULATOR_EXPORTS: JSON.stringify(emulator.exports) } : {}),
    };
    for (const k of Object.keys(process.env)) if (SCRUB_ENV.test(k)) delete process.env[k];
    server = await startCodeServer({
      root: join(root, 'vscode'),
      env: { ...env, KMS_ENVELOPE_TEST_EXTENSIONS_DIR: join(root, 'vscode', 'extensions') },
      installVsix: args.vsix ? [args.vsix] : [],
      untrusted: args.untrusted,
    });
    console.log(
      `code-server ${server.origin} (${args.vsix ? `installed ${relative(REPO_ROOT, args.vsix)}` : 'extension from source'}${args.grep ? `, tests matching /${args.grep}/` : ''}), started in ${Date.now() - t0} ms`,
    );

    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const consoleLines: string[] = [];
    page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
    const url = server.workbenchUrl({
      extensionDevelopmentPath: args.vsix ? writeHarness(join(root, 'harness')) : REPO_ROOT,
      extensionTestsPath: args.tests,
    });
    await page.goto(url);

    const outcome = await collect(resultsFile, server, args.timeoutS * 1000 - (Date.now() - t0));
    writeFileSync(join(results, `${args.label}-browser-console.log`), consoleLines.join('\n') + '\n');
    if (outcome.problem) {
      await page.screenshot({ path: join(results, `${args.label}-problem.png`) }).catch(() => undefined);
      console.log(`\n${outcome.problem}`);
      console.log(
        `  logs: test-results/${args.label}-code-server.log, test-results/${args.label}-browser-console.log, screenshot test-results/${args.label}-problem.png`,
      );
    }
    const { passed, failed, pending } = outcome;
    const extra = outcome.problem ? 1 : 0;
    console.log(`${passed} passed, ${failed + extra} failed${pending ? `, ${pending} skipped` : ''}`);
    console.error(`(${args.label}: ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    return failed + extra === 0 && passed > 0 ? 0 : 1;
  } finally {
    await cleanup();
  }
}

/**
 * VS Code only calls extensionTestsPath's run() in an extension-development window. To test the
 * installed .vsix (not the sources), the development extension is this empty harness with another id:
 * it contributes nothing, so the extension under test is the copy installed in the extensions dir.
 */
function writeHarness(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const manifest = {
    name: 'kms-envelope-test-harness',
    publisher: 'kms-envelope-tests',
    version: '0.0.0',
    private: true,
    engines: { vscode: '^1.100.0' },
    description: 'Empty development extension so the integration suites can run against an installed .vsix.',
  };
  writeFileSync(join(dir, 'package.json'), JSON.stringify(manifest, null, 2));
  return dir;
}

const START_TIMEOUT_MS = 90_000;

interface Outcome {
  passed: number;
  failed: number;
  pending: number;
  problem?: string;
}

/** Tails the JSON-lines results file, printing each test as it finishes, until `end`, a dead host, or the deadline. */
async function collect(file: string, server: CodeServer, budgetMs: number): Promise<Outcome> {
  const deadline = Date.now() + budgetMs;
  const startedAt = Date.now();
  const o: Outcome = { passed: 0, failed: 0, pending: 0 };
  let offset = 0;
  let lastTitle = '(none yet)';
  let started = false;
  let running = '';
  let hostExitSeen: number | undefined;
  let serverGone = false;
  void server.exited.then(() => (serverGone = true));
  for (;;) {
    const buf = readFileSync(file);
    if (buf.length > offset) {
      const text = buf.subarray(offset).toString('utf8');
      const lastNl = text.lastIndexOf('\n');
      if (lastNl >= 0) {
        offset += Buffer.byteLength(text.slice(0, lastNl + 1));
        for (const line of text.slice(0, lastNl).split('\n')) {
          if (!line.trim()) continue;
          const r = JSON.parse(line) as { event: string; title?: string; durationMs?: number; error?: string };
          if (r.event === 'start') started = true;
          else if (r.event === 'begin') running = r.title!;
          else if (r.event === 'pass') {
            o.passed++;
            lastTitle = r.title!;
            console.log(`  ✔ ${r.title} (${r.durationMs ?? 0} ms)`);
          } else if (r.event === 'fail') {
            o.failed++;
            running = '';
            lastTitle = r.title!;
            console.log(`  ✘ ${r.title}\n${indent(r.error ?? '')}`);
          } else if (r.event === 'pending') {
            o.pending++;
            console.log(`  - ${r.title} (skipped)`);
          } else if (r.event === 'end') return o;
        }
      }
    }
    const where = running ? `still running: ${running}` : `last finished test: ${lastTitle}`;
    if (serverGone) return { ...o, problem: 'code-server exited before the suites finished' };
    // The server log records the extension host's exit (its code is 0 even if run() threw).
    if (hostExitSeen === undefined && /Extension Host Process exited/i.test(readFileSync(server.logFile, 'utf8')))
      hostExitSeen = Date.now();
    if (hostExitSeen !== undefined && Date.now() - hostExitSeen > 3000) {
      return {
        ...o,
        problem: started
          ? `the extension host exited before the suites finished (${where})`
          : 'the extension host exited without starting the suites (does the tests file load? see the logs)',
      };
    }
    if (!started && Date.now() - startedAt > START_TIMEOUT_MS) {
      return {
        ...o,
        problem: `the suites did not start within ${START_TIMEOUT_MS / 1000} s of opening the workbench (is extensionTestsPath loadable? see the logs)`,
      };
    }
    if (Date.now() > deadline) {
      return {
        ...o,
        problem: started
          ? `timed out: no end of run within the time limit (${where})`
          : 'timed out: the suites never started in the extension host',
      };
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

const indent = (s: string) =>
  s
    .split('\n')
    .slice(0, 20)
    .map((l) => `      ${l}`)
    .join('\n');

// Re-enter through scripts/with-keyring.sh so keytar in the host has a real, unlocked Secret Service.
if (reexecUnderKeyring(__filename)) {
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(`run: ${e instanceof Error ? e.message : String(e)}`);
      console.log('0 passed, 1 failed');
      process.exit(1);
    },
  );
}
