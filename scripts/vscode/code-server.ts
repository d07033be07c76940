// Starts and stops a throw-away code-server (VS Code 1.100.3 server + web workbench) on a free
// 127.0.0.1 port, and opens its workbench in Debian's headless Chromium through playwright-core.
// Shared by the integration runner (run.ts), the e2e suites (test/e2e) and `npm start`.
// TESTING.md records why code-server and not @vscode/test-electron: no VS Code download here.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import type { Browser, LaunchOptions, Page } from 'playwright-core';

export const REPO_ROOT = resolve(__dirname, '..', '..');
export const CODE_SERVER_DIR = join(REPO_ROOT, '.cache', 'code-server', 'node_modules', 'code-server');
export const CHROMIUM = '/usr/bin/chromium';
export const EXTENSION_ID = 'kms-envelope.kms-envelope';

/** Runs the idempotent installer (instant once installed) and returns the code-server directory. */
export function ensureCodeServer(): string {
  const res = spawnSync('bash', [join(REPO_ROOT, 'scripts', 'vscode', 'install-code-server.sh')], {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  if (res.status !== 0) throw new Error(`scripts/vscode/install-code-server.sh failed (exit ${res.status}); see its message above`);
  return CODE_SERVER_DIR;
}

export interface CodeServerOptions {
  /** Folder the workbench opens. Default: an empty folder inside the session's temp dir. */
  workspace?: string;
  /** Extra environment for the server and so for the extension host (e.g. KMS_ENVELOPE_CONFIG_DIR). */
  env?: Record<string, string>;
  /** .vsix files to install into the throw-away extensions dir before starting. */
  installVsix?: string[];
  /** Extra user settings merged over the defaults. */
  settings?: Record<string, unknown>;
  /** Where the temp dirs go; default a new mkdtemp dir, removed by stop() unless keep. */
  root?: string;
  /** Keep the temp dirs after stop() (debugging). */
  keep?: boolean;
  /** Server log file; default <root>/code-server.log. */
  logFile?: string;
  /** Fixed port (npm start); default a free one chosen by the OS. */
  port?: number;
  /** Workspace trust on, the folder untrusted (Restricted Mode, no prompt); default: trust disabled. */
  untrusted?: boolean;
}

export interface CodeServer {
  port: number;
  /** http://127.0.0.1:PORT */
  origin: string;
  root: string;
  userDataDir: string;
  extensionsDir: string;
  workspace: string;
  logFile: string;
  proc: ChildProcess;
  /** Workbench URL; with devPath/testsPath it loads the extension from source / runs tests in the host. */
  workbenchUrl(opts?: { extensionDevelopmentPath?: string; extensionTestsPath?: string; folder?: string }): string;
  /** Resolves when the server process has exited (for any reason). */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

const DEFAULT_SETTINGS = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'security.workspace.trust.enabled': false,
  'git.enabled': false,
  'window.restoreWindows': 'none',
};

// Restricted Mode without the modal question: the folder opens untrusted.
const UNTRUSTED_SETTINGS = {
  'security.workspace.trust.enabled': true,
  'security.workspace.trust.startupPrompt': 'never',
  'security.workspace.trust.emptyWindow': false,
};

function serverArgs(cs: string, root: string, userDataDir: string, extensionsDir: string, untrusted = false): string[] {
  return [
    join(cs, 'out', 'node', 'entry.js'),
    '--config',
    join(root, 'config.yaml'),
    '--user-data-dir',
    userDataDir,
    '--extensions-dir',
    extensionsDir,
    '--disable-telemetry',
    '--disable-update-check',
    ...(untrusted ? [] : ['--disable-workspace-trust']),
    '--disable-getting-started-override',
  ];
}

// Process groups started here (code-server, emulator). Whatever way this process ends — a crash,
// process.exit() before an async cleanup finished — the 'exit' hook SIGKILLs those still alive, so
// no server outlives the run.
const liveGroups = new Set<number>();
export function trackGroup(proc: ChildProcess): void {
  if (proc.pid === undefined) return;
  const pid = proc.pid;
  liveGroups.add(pid);
  proc.once('exit', () => liveGroups.delete(pid));
}
const tempDirs = new Set<string>();
/** Removes `dir` when this process exits, however it exits (unless forget() is called first). */
export function removeOnExit(dir: string): { forget(): void } {
  tempDirs.add(dir);
  return { forget: () => tempDirs.delete(dir) };
}
process.once('exit', () => {
  for (const pid of liveGroups) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});
// A closed terminal or pipe (Ctrl+C also ends the stderr filter of with-keyring.sh) must not turn
// a log line into an EPIPE crash in the middle of the teardown.
for (const s of [process.stdout, process.stderr]) s.on('error', () => undefined);

/** For processes without their own signal handling (the e2e test files): on SIGINT/SIGTERM/SIGHUP,
 *  exit, so the 'exit' hook above kills the servers (a signal's default action would skip it). */
export function exitOnSignals(): void {
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, () => process.exit(sig === 'SIGINT' ? 130 : 143));
}

/** Kills a detached child's whole process group: SIGTERM, then SIGKILL after graceMs. */
export async function killGroup(proc: ChildProcess, graceMs = 3000): Promise<void> {
  if (proc.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
  const pid = proc.pid;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    return; // the group is already gone
  }
  const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
  if ((await Promise.race([exited, timer])) === 'timeout') {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* gone between the two signals */
    }
    await Promise.race([exited, new Promise((r) => setTimeout(r, 1000).unref())]);
  }
}

export async function startCodeServer(opts: CodeServerOptions = {}): Promise<CodeServer> {
  const cs = ensureCodeServer();
  const root = opts.root ?? mkdtempSync(join(tmpdir(), 'kms-envelope-vscode-'));
  if (!opts.root && !opts.keep) removeOnExit(root);
  const userDataDir = join(root, 'user-data');
  const extensionsDir = join(root, 'extensions');
  const workspace = opts.workspace ?? join(root, 'workspace');
  const xdg = join(root, 'xdg');
  const tmp = join(root, 't'); // short: VS Code puts unix sockets (vscode-ipc-<uuid>.sock) in TMPDIR
  for (const d of [join(userDataDir, 'User'), extensionsDir, workspace, xdg, tmp]) mkdirSync(d, { recursive: true });
  // A persistent root (npm start) keeps the user's own settings from earlier runs.
  const settingsFile = join(userDataDir, 'User', 'settings.json');
  if (!opts.root || !existsSync(settingsFile))
    writeFileSync(
      settingsFile,
      JSON.stringify({ ...DEFAULT_SETTINGS, ...(opts.untrusted ? UNTRUSTED_SETTINGS : {}), ...opts.settings }, null, 2),
    );
  // An explicit (empty) config file keeps code-server from writing ~/.config/code-server/config.yaml.
  writeFileSync(join(root, 'config.yaml'), 'auth: none\n');
  const logFile = opts.logFile ?? join(root, 'code-server.log');

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    // code-server keeps its own logs/state under XDG_DATA_HOME: keep them in the throw-away root.
    XDG_DATA_HOME: xdg,
    TMPDIR: tmp,
    ...opts.env,
  };
  delete env.VSCODE_IPC_HOOK_CLI; // never talk to a VS Code this script may be running inside
  delete env.ELECTRON_RUN_AS_NODE;

  for (const vsix of opts.installVsix ?? []) {
    const res = spawnSync(
      process.execPath,
      [...serverArgs(cs, root, userDataDir, extensionsDir), '--force', '--install-extension', resolve(vsix)],
      { env, encoding: 'utf8', timeout: 120_000 },
    );
    if (res.status !== 0 || !/successfully installed/i.test(res.stdout + res.stderr)) {
      throw new Error(`code-server --install-extension ${vsix} failed (exit ${res.status}):\n${res.stdout}${res.stderr}`);
    }
  }

  const bind = `127.0.0.1:${opts.port ?? 0}`;
  const args = [...serverArgs(cs, root, userDataDir, extensionsDir, opts.untrusted), '--auth', 'none', '--bind-addr', bind, workspace];
  // detached: its own process group, so stop() also ends the extension host and pty helpers.
  const proc = spawn(process.execPath, args, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  trackGroup(proc);
  const log = createWriteStream(logFile);
  proc.stdout!.pipe(log, { end: false });
  proc.stderr!.pipe(log, { end: false });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await killGroup(proc);
    log.end();
    if (!opts.keep && !opts.root) rmSync(root, { recursive: true, force: true, maxRetries: 3 });
  };

  const port = await new Promise<number>((resolvePort, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`code-server did not start within 60s; log: ${logFile}\n${out.slice(-2000)}`)), 60_000);
    const onData = (b: Buffer) => {
      out += b.toString();
      const m = /HTTP server listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        proc.stdout!.off('data', onData);
        proc.stderr!.off('data', onData);
        resolvePort(Number(m[1]));
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`code-server exited with ${code} before listening; log: ${logFile}\n${out.slice(-2000)}`));
    });
  }).catch(async (e) => {
    await stop();
    throw e;
  });

  const origin = `http://127.0.0.1:${port}`;
  const remote = (p: string) => `vscode-remote://127.0.0.1:${port}${resolve(p)}`;
  return {
    port,
    origin,
    root,
    userDataDir,
    extensionsDir,
    workspace,
    logFile,
    proc,
    exited,
    stop,
    workbenchUrl(o = {}) {
      const payload: [string, string][] = [];
      if (o.extensionDevelopmentPath) payload.push(['extensionDevelopmentPath', remote(o.extensionDevelopmentPath)]);
      if (o.extensionTestsPath) payload.push(['extensionTestsPath', remote(o.extensionTestsPath)]);
      payload.push(['skipWelcome', 'true']);
      const q = new URLSearchParams({ folder: resolve(o.folder ?? workspace), payload: JSON.stringify(payload) });
      return `${origin}/?${q.toString()}`;
    },
  };
}

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-dev-shm-usage',
  '--password-store=basic',
];

/** Headless Debian Chromium through playwright-core (no Playwright browser download). */
export async function launchChromium(extra: LaunchOptions = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install the Debian package "chromium" (apt-get install -y chromium)`);
  const { chromium } = await import('playwright-core');
  // The browser needs no D-Bus (the keychain is the extension host's business, not the page's):
  // without the address it does not start the accessibility bus on the tests' private session.
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== 'DBUS_SESSION_BUS_ADDRESS') env[k] = v;
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, env: { ...env, NO_AT_BRIDGE: '1' }, ...extra });
}

/** Waits until the workbench shell is up (activity bar rendered). */
export async function waitForWorkbench(page: Page, timeoutMs = 60_000): Promise<void> {
  await page.locator('.monaco-workbench .part.activitybar').first().waitFor({ state: 'visible', timeout: timeoutMs });
}

/**
 * Unless already inside scripts/with-keyring.sh, re-runs this script there (private D-Bus session +
 * unlocked gnome-keyring, so keytar in the extension host has a real Secret Service) and exits with
 * its status. Returns only when already inside.
 */
export function reexecUnderKeyring(scriptFile: string): boolean {
  if (process.env.KMS_ENVELOPE_IN_KEYRING === '1') return true;
  // gnome-keyring keeps its keyring file in $XDG_DATA_HOME/keyrings and reloads it when it changes:
  // concurrent sessions sharing ~/.local/share/keyrings overwrite each other's entries. Each run
  // gets its own, removed afterwards.
  const keyringHome = mkdtempSync(join(tmpdir(), 'kms-envelope-keyring-'));
  removeOnExit(keyringHome);
  const child = spawn(
    'bash',
    [join(REPO_ROOT, 'scripts', 'with-keyring.sh'), process.execPath, ...process.execArgv, scriptFile, ...process.argv.slice(2)],
    {
      stdio: 'inherit',
      env: { ...process.env, XDG_DATA_HOME: keyringHome },
    },
  );
  // Ctrl+C reaches the child through the terminal; other signals are forwarded. Exit with its status.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  child.on('exit', (code, sig) => process.exit(code ?? (sig ? 130 : 1)));
  return false;
}

// Cloud credentials must never reach a host under test: discovery would point profiles at the real clouds.
export const SCRUB_ENV = /^(TENCENTCLOUD_|ALIBABA_CLOUD_|ALICLOUD_|ALIYUN_|AWS_)/;

export interface Emulator {
  url: string;
  exports: Record<string, string>;
  proc: ChildProcess;
  /** The KMS 3.0 instance gateway, from the `profiles add … --instance-endpoint` line it prints. */
  instance?: { endpoint: string; clientKeyFile: string; caFile: string; passwordFile: string };
}

/**
 * Starts `kms-envelope emulator --seed --port 0 --state <file>` from the built CLI (its own process
 * group) and reads its URL and `export NAME=value` lines. mode "auto": undefined when the CLI cannot.
 */
export async function startEmulatorProcess(mode: 'auto' | 'on', stateFile: string): Promise<Emulator | undefined> {
  const cli = join(REPO_ROOT, 'dist', 'cli.js');
  const unavailable = (why: string): undefined => {
    if (mode === 'on') throw new Error(`the emulator could not start: ${why}`);
    console.log(`(emulator not available: ${why}; suites that need it fail via requireEmulator())`);
    return undefined;
  };
  if (!existsSync(cli)) return unavailable(`${relative(REPO_ROOT, cli)} is missing (npm run build)`);
  const proc = spawn(process.execPath, [cli, 'emulator', '--seed', '--host', '127.0.0.1', '--port', '0', '--state', stateFile], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackGroup(proc);
  let out = '';
  let err = '';
  proc.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const result = await new Promise<Emulator | string>((done) => {
    let quiet: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => done('no URL printed within 15 s'), 15_000);
    const parse = (): Emulator | undefined => {
      const m = /https?:\/\/127\.0\.0\.1:\d+/.exec(out);
      if (!m) return undefined;
      const exports: Record<string, string> = {};
      for (const line of out.split('\n')) {
        const e = /^\s*export\s+([A-Z0-9_]+)=(.*)$/.exec(line);
        if (e) exports[e[1]] = e[2].replace(/^(['"])(.*)\1$/, '$2');
      }
      const i = /--instance-endpoint (\S+) --client-key-file (\S+) --ca-file (\S+) < (\S+)/.exec(out);
      const instance = i ? { endpoint: i[1], clientKeyFile: i[2], caFile: i[3], passwordFile: i[4] } : undefined;
      return { url: m[0], exports, proc, ...(instance ? { instance } : {}) };
    };
    proc.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (!parse()) return;
      // The URL may come before the export lines: settle once output pauses (or all four are there).
      clearTimeout(quiet);
      const found = parse()!;
      if (/Stop with Ctrl\+C/.test(out)) {
        clearTimeout(timer);
        done(found);
      } else quiet = setTimeout(() => (clearTimeout(timer), done(parse()!)), 400);
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      clearTimeout(quiet);
      done(`it exited with code ${code}: ${(err || out).trim().split('\n').slice(-3).join(' / ')}`);
    });
  });
  if (typeof result === 'string') {
    await killGroup(proc);
    return unavailable(result);
  }
  return result;
}
