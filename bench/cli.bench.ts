// CLI start-up: wall time of `node dist/cli.js unseal <1 KiB local blob> -o <out>` as a ratio to
// bare `node -e 0`, both measured in this run, interleaved, median of BENCH_CLI_RUNS (default 31)
// each after 3 warm-up runs. Target (issue 2): <= 2.5x. Also prints `--version` and `inspect` for
// context. Runs under scripts/bench.sh (built dist/, private keyring, temporary config dir).
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'dist/cli.js');
const runs = Number(process.env.BENCH_CLI_RUNS ?? 31);
const TARGET = 2.5;

function main(): void {
  if (!existsSync(cli)) execFileSync(process.execPath, ['esbuild.mjs'], { cwd: root, stdio: 'inherit' });
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'kms-cli-bench-'));
  const env: NodeJS.ProcessEnv = { ...process.env, KMS_ENVELOPE_CONFIG_DIR: path.join(tmp, 'cfg') };
  delete env.KMS_ENVELOPE_KEY_FILE_DIR;
  try {
    const sh = (args: string[]) => execFileSync(process.execPath, [cli, ...args], { cwd: tmp, env, stdio: ['ignore', 'pipe', 'pipe'] });
    sh(['keys', 'create', '--provider', 'local', '--alias', 'bench-key']);
    const data = randomBytes(1024);
    writeFileSync(path.join(tmp, 'small.bin'), data);
    sh(['seal', 'small.bin', '--key', 'local:local:bench-key']);

    const cases: Array<[string, string[]]> = [
      ['node -e 0', ['-e', '0']],
      ['unseal 1 KiB (local)', [cli, 'unseal', 'small.bin.sealed', '-o', 'out.bin', '--force']],
      ['inspect 1 KiB', [cli, 'inspect', 'small.bin.sealed']],
      ['--version', [cli, '--version']],
    ];
    const times = new Map<string, number[]>(cases.map(([n]) => [n, []]));
    for (let i = 0; i < runs + 3; i++) {
      for (const [name, args] of cases) {
        const t0 = process.hrtime.bigint();
        const r = spawnSync(process.execPath, args, { cwd: tmp, env, stdio: ['ignore', 'ignore', 'pipe'] });
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        if (r.status !== 0) throw new Error(`${name} failed (${r.status}): ${r.stderr.toString()}`);
        if (i >= 3) times.get(name)!.push(ms);
      }
    }
    if (!readFileSync(path.join(tmp, 'out.bin')).equals(data)) throw new Error('unseal output differs from the input');

    const median = (xs: number[]) => {
      const s = [...xs].sort((a, b) => a - b);
      return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
    };
    const base = median(times.get('node -e 0')!);
    console.log(`cli start-up: median of ${runs} runs each (interleaved, 3 warm-up), ${os.cpus().length} CPUs, node ${process.version}`);
    console.log(`${'command'.padEnd(24)}${'median ms'.padStart(10)}${'ratio'.padStart(9)}`);
    for (const [name] of cases) {
      const m = median(times.get(name)!);
      console.log(`${name.padEnd(24)}${m.toFixed(1).padStart(10)}${`${(m / base).toFixed(2)}x`.padStart(9)}`);
    }
    const ratio = median(times.get('unseal 1 KiB (local)')!) / base;
    console.log(
      `\nratio (target)\n${'small unseal / node -e 0'.padEnd(26)}${ratio.toFixed(2)}x  (<= ${TARGET}x: ${ratio <= TARGET ? 'met' : 'MISSED'})`,
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main();
