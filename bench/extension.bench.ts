// Benchmark of the extension in the real extension host (code-server 1.100.3, the harness runner):
//
// 1. Activation: wall time of `extension.activate()` from "not active" (loading the bundle and running
//    activate()), and the time activate() itself reports. No KMS call happens there. Measured twice:
//    the development build (dist/, run from source, source maps) and the INSTALLED .vsix
//    (scripts/package.sh: the production build, minified, installed into code-server as users get it),
//    each in BENCH_ACTIVATION_RUNS fresh hosts (default 3), median and range printed.
// 2. Keys view: 2,000 Tencent keys over 5 regions on the emulator, 50 ms injected latency per
//    request, a profile showing those 5 regions. From an empty cache, the time until the FIRST
//    region's key rows come back from the view's TreeDataProvider (the calls VS Code makes to draw
//    Provider → Profile → Region → Keys), printed as a ratio to one request's latency (50 ms).
//    The time until all five regions show their first page is printed the same way.
//
// This one file has two roles: run with tsx (npm run bench extension) it builds itself as a test
// payload and runs it through scripts/vscode/run.ts; inside the extension host (mocha's `suite`
// global exists) it is the measuring suite, writing test-results/extension-bench.json.
import { performance } from 'node:perf_hooks';
import { emulatorAdmin } from '../src/emulator/admin-client';

const LATENCY_MS = 50;
const KEYS = 2000;
const REGIONS = ['ap-guangzhou', 'ap-shanghai', 'ap-beijing', 'ap-singapore', 'eu-frankfurt'];
const RESULT_NAME = 'extension-bench.json';
/** Set by the driver for the runs that measure activation only (the installed .vsix, repeated runs). */
const ACTIVATION_ONLY_ENV = 'KMS_ENVELOPE_BENCH_ACTIVATION_ONLY';

interface ActivationResult {
  activationWallMs: number;
  activateBodyMs: number;
}

interface BenchResult extends ActivationResult {
  firstRegionMs: number;
  allRegionsMs: number;
  firstRegionKeysShown: number;
  requestsForFirstRegion: number;
  setupSeconds: number;
}

declare const suite: ((name: string, fn: () => void) => void) | undefined;
declare const test: (name: string, fn: (this: { timeout(ms: number): void }) => Promise<void>) => void;

if (typeof suite === 'function') {
  // ---- inside the extension host --------------------------------------------------------------
  suite('extension bench', () => {
    test('activation, and time to the first region of 2,000 keys at 50 ms latency', async function () {
      this.timeout(600_000);
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const vscode = require('vscode') as typeof import('vscode');
      const { writeFileSync, mkdirSync } = await import('node:fs');
      const { join } = await import('node:path');
      const ext = vscode.extensions.getExtension('kms-envelope.kms-envelope');
      if (!ext) throw new Error('the extension is not loaded in this host');
      if (ext.isActive) throw new Error('the extension was already active: activation cannot be measured');
      const t0 = performance.now();
      const api = (await ext.activate()) as import('../src/extension/extension').KmsEnvelopeApi;
      const activationWallMs = performance.now() - t0;
      const dir = join(process.env.KMS_ENVELOPE_REPO_ROOT!, 'test-results');
      mkdirSync(dir, { recursive: true });
      if (process.env[ACTIVATION_ONLY_ENV]) {
        const result: ActivationResult = { activationWallMs, activateBodyMs: api.activationMs };
        writeFileSync(join(dir, process.env[ACTIVATION_ONLY_ENV]), JSON.stringify(result, null, 2));
        return;
      }

      const url = process.env.KMS_ENVELOPE_EMULATOR_URL!;
      const x = JSON.parse(process.env.KMS_ENVELOPE_EMULATOR_EXPORTS ?? '{}') as Record<string, string>;
      const admin = (method: string, path: string, body?: unknown) => emulatorAdmin(url, method, path, body);
      await api.credentials.addProfile(
        { provider: 'tencent', name: 'bench', endpoint: url, regions: REGIONS },
        { accessKeyId: x.TENCENTCLOUD_SECRET_ID, accessKeySecret: x.TENCENTCLOUD_SECRET_KEY },
      );
      const provider = await api.keys.getProvider({ provider: 'tencent', profile: 'bench' });
      const s0 = performance.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < KEYS) {
            const i = next++;
            // Setup only (not timed): a dropped connection is retried here, since CreateKey itself is not idempotent.
            for (let attempt = 0; ; attempt++) {
              try {
                await provider.createKey(REGIONS[i % REGIONS.length], { alias: `bench-${i}` });
                break;
              } catch (err) {
                // A retried CreateKey whose first attempt did land finds its alias taken: that key exists.
                if (attempt > 0 && /AliasAlreadyExists/.test(String(err))) break;
                if (attempt >= 3 || !/ECONNRESET/.test(String(err))) throw err;
              }
            }
          }
        }),
      );
      const setupSeconds = (performance.now() - s0) / 1000;

      // Cold cache, 50 ms per request, then draw the tree the way the view does.
      api.keys.reset();
      await admin('PUT', '/__admin/faults', { '*': { latencyMs: LATENCY_MS } });
      await admin('DELETE', '/__admin/counters');
      const tp = api.treeProvider;
      const t1 = performance.now();
      const roots = await tp.getChildren();
      const tencent = roots.find((n) => n.id === 'p:tencent')!;
      const profile = (await tp.getChildren(tencent)).find((n) => n.id === 'pf:tencent/bench')!;
      const regions = await tp.getChildren(profile);
      let firstRegionMs = 0;
      let firstRegionKeysShown = 0;
      let requestsForFirstRegion = 0;
      await Promise.all(
        regions.map(async (r) => {
          const rows = await tp.getChildren(r);
          if (!firstRegionMs) {
            firstRegionMs = performance.now() - t1;
            firstRegionKeysShown = rows.filter((c) => c.kind === 'key').length;
            requestsForFirstRegion = (await admin('GET', '/__admin/counters')).total ?? 0;
          }
        }),
      );
      const allRegionsMs = performance.now() - t1;
      await admin('PUT', '/__admin/faults', {});
      const result: BenchResult = {
        activationWallMs,
        activateBodyMs: api.activationMs,
        firstRegionMs,
        allRegionsMs,
        firstRegionKeysShown,
        requestsForFirstRegion,
        setupSeconds,
      };
      writeFileSync(join(dir, RESULT_NAME), JSON.stringify(result, null, 2));
      if (firstRegionKeysShown === 0) throw new Error('the first region showed no keys');
    });
  });
} else {
  // ---- the bench driver (plain Node under tsx) --------------------------------------------------
  void (async () => {
    const { spawnSync } = await import('node:child_process');
    const { readFileSync, rmSync, existsSync } = await import('node:fs');
    const { join, resolve } = await import('node:path');
    const esbuild = await import('esbuild');
    const root = resolve(__dirname, '..');
    const out = join(root, 'out', 'bench', 'extension');
    rmSync(out, { recursive: true, force: true });
    if (!existsSync(join(root, 'dist', 'extension.js')) || !existsSync(join(root, 'dist', 'cli.js'))) {
      const b = spawnSync(process.execPath, [join(root, 'esbuild.mjs')], { stdio: 'inherit', cwd: root });
      if (b.status !== 0) throw new Error('building the extension failed');
    }
    const common = {
      bundle: true,
      platform: 'node' as const,
      target: 'node20',
      format: 'cjs' as const,
      external: ['vscode', 'mocha', 'keytar', 'esbuild'],
      logLevel: 'warning' as const,
      absWorkingDir: root,
    };
    await esbuild.build({ ...common, entryPoints: [join(root, 'test', 'integration', 'index.ts')], outfile: join(out, 'index.js') });
    await esbuild.build({ ...common, entryPoints: [__filename], outfile: join(out, 'extension-bench.test.js') });
    const runs = Math.max(1, Number(process.env.BENCH_ACTIVATION_RUNS ?? 3) || 3);
    // BENCH_BASELINE=<another checkout> (e.g. `git worktree add /tmp/base main`, with node_modules and
    // .cache/code-server linked from this one): its development build and its .vsix are measured in
    // the same run, interleaved with ours, as the before of a before/after.
    const baseline = process.env.BENCH_BASELINE ? resolve(process.env.BENCH_BASELINE) : undefined;
    /** One fresh code-server + extension host (of `repo`'s build) running the bench suite; returns what the suite wrote. */
    const host = <T>(repo: string, label: string, file: string, extra: string[], env: NodeJS.ProcessEnv): T => {
      const resultFile = join(repo, 'test-results', file);
      rmSync(resultFile, { force: true });
      const r = spawnSync(
        process.execPath,
        [
          '--import',
          'tsx',
          join(repo, 'scripts', 'vscode', 'run.ts'),
          '--no-build',
          '--tests',
          join(out, 'index.js'),
          '--timeout',
          '600',
          '--label',
          label,
          '--grep',
          'extension bench',
          ...extra,
        ],
        { cwd: repo, encoding: 'utf8', env: { ...process.env, ...env } },
      );
      if (r.status !== 0 || !existsSync(resultFile)) {
        process.stdout.write(r.stdout + r.stderr);
        throw new Error(`the bench run in the extension host (${label}) failed (exit ${r.status})`);
      }
      return JSON.parse(readFileSync(resultFile, 'utf8')) as T;
    };
    const activationOnly = (repo: string, label: string, extra: string[]) =>
      host<ActivationResult>(repo, label, `${label}.json`, extra, { [ACTIVATION_ONLY_ENV]: `${label}.json` });

    // The installed build: the .vsix users get (production bundle), built by the packaging script, which
    // leaves a production build in dist/; the development build is put back before it is measured.
    const pack = (repo: string): string => {
      process.stdout.write(`packaging the .vsix of ${repo} (scripts/package.sh)…\n`);
      const pkg = spawnSync('bash', [join(repo, 'scripts', 'package.sh')], { cwd: repo, encoding: 'utf8' });
      const vsix = join(repo, pkg.stdout.trim().split('\n').pop() ?? '');
      if (pkg.status !== 0 || !existsSync(vsix)) {
        process.stdout.write(pkg.stdout + pkg.stderr);
        throw new Error(`packaging the .vsix of ${repo} failed`);
      }
      const dev = spawnSync(process.execPath, [join(repo, 'esbuild.mjs')], { stdio: 'inherit', cwd: repo });
      if (dev.status !== 0) throw new Error(`rebuilding the development bundle of ${repo} failed`);
      return vsix;
    };
    const builds = [
      { name: 'development build', repo: root, vsix: undefined as string | undefined },
      { name: 'installed .vsix', repo: root, vsix: pack(root) },
      ...(baseline
        ? [
            { name: 'baseline development build', repo: baseline, vsix: undefined },
            { name: 'baseline installed .vsix', repo: baseline, vsix: pack(baseline) },
          ]
        : []),
    ];

    process.stdout.write(
      `extension host bench: activation (${runs} fresh hosts for each of: ${builds.map((b) => b.name).join(', ')}), ` +
        `then ${KEYS} keys over ${REGIONS.length} regions at ${LATENCY_MS} ms latency (setup not timed)…\n`,
    );
    // Interleaved, so a busy moment on the machine does not fall on one build only.
    const activations = builds.map(() => [] as ActivationResult[]);
    for (let i = 0; i < runs; i++) {
      builds.forEach((b, j) => {
        const label = `extension-bench-${j}-${i + 1}`;
        activations[j].push(activationOnly(b.repo, label, b.vsix ? ['--vsix', b.vsix] : []));
      });
    }
    const res = host<BenchResult>(root, 'extension-bench', RESULT_NAME, ['--emulator'], {});
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const stats = (xs: number[]) => `median ${median(xs).toFixed(1)} ms (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)})`;
    process.stdout.write(`setup: ${KEYS} keys created in ${res.setupSeconds.toFixed(1)} s\n\n`);
    for (const [j, b] of builds.entries()) {
      const rs = activations[j];
      process.stdout.write(
        `activation, ${b.name.padEnd(28)} ext.activate() wall ${stats(rs.map((r) => r.activationWallMs))}   ` +
          `activate() body ${stats(rs.map((r) => r.activateBodyMs))}\n`,
      );
    }
    process.stdout.write(
      `keys view, first region     ${res.firstRegionMs.toFixed(0)} ms = ${(res.firstRegionMs / LATENCY_MS).toFixed(2)} × one request (${LATENCY_MS} ms); ` +
        `${res.firstRegionKeysShown} key rows + "Load more"; ${res.requestsForFirstRegion} requests answered by then\n`,
    );
    process.stdout.write(
      `keys view, all 5 regions     ${res.allRegionsMs.toFixed(0)} ms = ${(res.allRegionsMs / LATENCY_MS).toFixed(2)} × one request (first page of each, in parallel)\n`,
    );
  })().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  });
}
