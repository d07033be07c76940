// A killed or hung-up unseal leaves no plaintext behind (issue 16, item 1).
//
// 1. 100 `kill -9` trials at random moments of a write through each atomic writer (the AtomicFile
//    under the engine's file paths, the atomic write stream under the CLI's stdin/armor paths,
//    writeFileAtomic), onto a new target and over an existing one: afterwards the folder holds
//    nothing, the old file, or the complete new file — no temp file, not one plaintext byte elsewhere.
//    The writer is a small bundled process (test/unit/fixtures/kill-writer.ts) that starts like bare
//    node, so the trials take seconds; each is killed at a random moment after the start, after the
//    first write or after the commit began.
// 2. Where no unnamed file can be had (other systems), the named temp files that kills leave are
//    removed by the next write into that folder, which says so; fresh ones and other files stay.
// 3. The built CLI unsealing from stdin, stopped while plaintext is written: SIGHUP, SIGINT, SIGQUIT
//    and SIGTERM end it cleanly (exit 130, "cancelled"), SIGALRM, SIGUSR2 and SIGKILL kill it; the
//    output folder is empty every time.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { MARKER, plaintextOf } from './fixtures/plaintext';

const root = path.resolve(__dirname, '../..');
const cli = path.join(root, 'dist/cli.js');
const linux = process.platform === 'linux';
const TRIALS = 100;
const SIZE = 1024 * 1024;
const OLD = Buffer.from('the previous content of out, not plaintext\n');
const seed = Number(process.env.KILL_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));

/** mulberry32: kill moments reproducible from the seed printed with a failure. */
function rng(s: number): () => number {
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let tmp: string;
let driver: string;

before(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'kms-kill-'));
  driver = path.join(tmp, 'kill-writer.cjs');
  await esbuild.build({
    entryPoints: [path.join(__dirname, 'fixtures/kill-writer.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile: driver,
    logLevel: 'warning',
  });
});
after(() => rmSync(tmp, { recursive: true, force: true }));

interface Writer {
  child: ChildProcess;
  /** Lines the writer printed so far ('ready', 'w', 'c', 'd', 'swept …'). */
  lines: string[];
  /** Resolves when the writer prints `line`. */
  reached(line: string): Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

function startWriter(dir: string, kind: string, named = false): Writer {
  const child = spawn(
    process.execPath,
    [driver, path.join(dir, 'out'), kind, String(kind === 'small' ? 4096 : SIZE), ...(named ? ['--named'] : [])],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  const lines: string[] = [];
  const waiters: Array<[string, () => void]> = [];
  let buf = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i; (i = buf.indexOf('\n')) >= 0;) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      lines.push(line);
      for (const w of waiters.filter(([l]) => l === line)) w[1]();
    }
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdin!.on('error', () => undefined);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on('exit', (code, signal) => r({ code, signal })),
  );
  return {
    child,
    lines,
    reached: (line) =>
      lines.includes(line)
        ? Promise.resolve()
        : Promise.race([
            new Promise<void>((r) => waiters.push([line, r])),
            exited.then(() => {
              if (!lines.includes(line)) throw new Error(`the writer exited before "${line}": ${err}`);
            }),
          ]),
    exited,
    stderr: () => err,
  };
}

/** What a folder may hold after a kill: nothing, or `out` holding exactly one of `allowed`. */
function checkFolder(dir: string, allowed: Buffer[], what: string): 'none' | number {
  const names = readdirSync(dir);
  for (const n of names) {
    const body = readFileSync(path.join(dir, n));
    const ok = n === 'out' && allowed.some((a) => a.equals(body));
    assert.ok(
      ok,
      `${what}: ${n} (${body.length} B${body.includes(MARKER) ? ', holds plaintext' : ''}) left in the folder; it holds ${names.join(', ')} (seed ${seed})`,
    );
  }
  return names.length ? allowed.findIndex((a) => a.equals(readFileSync(path.join(dir, 'out')))) : 'none';
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A writer killed during its commit may have handed the link to its `ln`/`mv` child (its own session,
 * so the kill does not stop it half-way): wait until no process names the folder in its arguments or
 * holds a file there open (the child inherits the unnamed file as its fd 3; descriptors, unlike the
 * arguments, stay readable while a process execs), twice in a row.
 */
async function childrenDone(dir: string): Promise<void> {
  const uses = (pid: string): boolean => {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`).includes(dir + '/')) return true;
      return readdirSync(`/proc/${pid}/fd`).some((fd) => {
        try {
          return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith(dir + '/');
        } catch {
          return false;
        }
      });
    } catch {
      return false; // gone, or not ours
    }
  };
  const t0 = Date.now();
  for (let clean = 0; clean < 2;) {
    const busy = readdirSync('/proc').some((n) => /^\d+$/.test(n) && n !== String(process.pid) && uses(n));
    clean = busy ? 0 : clean + 1;
    assert.ok(Date.now() - t0 < 10_000, `a process still works in ${dir}`);
    await delay(2);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

test(
  `${TRIALS} kill -9 trials at random moments of an atomic write: no temp file, no plaintext outside a complete output`,
  { skip: !linux && 'Linux: elsewhere the named temp files are swept (next test)' },
  async (t) => {
    const random = rng(seed);
    const kinds = ['file', 'stream', 'small'] as const;
    // Unkilled runs: how long the write and the commit take here, now (and a positive control).
    const phase = { w: [] as number[], c: [] as number[] };
    for (const kind of kinds) {
      const dir = path.join(tmp, `calibrate-${kind}`);
      mkdirSync(dir);
      const w = startWriter(dir, kind);
      await w.reached('ready');
      const t0 = performance.now();
      w.child.stdin!.write('go\n');
      await w.reached('c');
      const t1 = performance.now();
      await w.reached('d');
      phase.w.push(t1 - t0);
      phase.c.push(performance.now() - t1);
      assert.equal((await w.exited).code, 0, w.stderr());
      assert.equal(checkFolder(dir, [plaintextOf(kind === 'small' ? 4096 : SIZE)], `unkilled ${kind}`), 0);
    }
    const spanW = Math.max(2, median(phase.w) * 1.3);
    const spanC = Math.max(2, median(phase.c) * 1.3);

    const hits = { start: 0, write: 0, commit: 0, done: 0, old: 0, new: 0 };
    const one = async (i: number) => {
      const kind = kinds[i % 3]!;
      const dir = path.join(tmp, `trial-${i}`);
      mkdirSync(dir);
      const existing = i % 2 === 1;
      if (existing) writeFileSync(path.join(dir, 'out'), OLD);
      const w = startWriter(dir, kind);
      await w.reached('ready');
      w.child.stdin!.write('go\n');
      // Four kinds of moment: anywhere, in the writes, in the commit (fsync, link/rename), anywhere after the first write.
      const when = i % 4;
      if (when === 1 || when === 3) await w.reached('w').catch(() => undefined);
      if (when === 2) await w.reached('c').catch(() => undefined);
      await delay(random() * (when === 0 || when === 3 ? spanW + spanC : when === 1 ? spanW / 2 : spanC));
      w.child.kill('SIGKILL');
      const { signal, code } = await w.exited;
      assert.ok(signal === 'SIGKILL' || code === 0, `trial ${i}: the writer failed by itself (${code}): ${w.stderr()}`);
      const last = w.lines.at(-1);
      if (last === 'c') await childrenDone(dir);
      if (code === 0 || last === 'd') hits.done++;
      else if (last === 'c') hits.commit++;
      else if (last === 'w') hits.write++;
      else hits.start++;
      const data = plaintextOf(kind === 'small' ? 4096 : SIZE);
      const found = checkFolder(
        dir,
        existing ? [data, OLD] : [data],
        `trial ${i} (${kind}, ${existing ? 'over an existing file' : 'new file'}, after "${last}")`,
      );
      if (found === 1) hits.old++;
      if (found === 0) hits.new++;
    };
    // A few at a time: one starts while another is being killed.
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < TRIALS) await one(next++);
      }),
    );
    const total = hits.start + hits.write + hits.commit + hits.done;
    assert.equal(total, TRIALS);
    t.diagnostic(`kills by phase ${JSON.stringify(hits)}, seed ${seed}`);
    // The kills must have hit the moments that matter, or the test proves nothing.
    assert.ok(hits.write >= 5 && hits.commit >= 10, `kills by phase ${JSON.stringify(hits)} (seed ${seed})`);
  },
);

test('named temp files (no O_TMPFILE): killed writes leave only those, and the next write into the folder removes the stale ones and says so', async () => {
  const dir = path.join(tmp, 'named');
  mkdirSync(dir);
  const random = rng(seed + 1);
  for (let i = 0; i < 6; i++) {
    const w = startWriter(dir, i % 2 ? 'stream' : 'file', true);
    await w.reached('ready');
    w.child.stdin!.write('go\n');
    await w.reached('w');
    await delay(random() * 3);
    w.child.kill('SIGKILL');
    await w.exited;
  }
  // (A writer the kill reached late may have committed: then `out` is complete.)
  if (existsSync(path.join(dir, 'out'))) assert.ok(readFileSync(path.join(dir, 'out')).equals(plaintextOf(SIZE)));
  const left = readdirSync(dir).filter((n) => n !== 'out');
  assert.ok(left.length >= 1, 'kills before the commit leave temp files on this path');
  for (const n of left) assert.match(n, /^\.out\.kms-envelope-[0-9a-f]{12}\.tmp$/, `only our temp files: ${left.join(', ')}`);
  // Left long ago by a killed run, except one just now (a run that may still be going) and two
  // files that are not ours.
  const old = (Date.now() - 20 * 60 * 1000) / 1000;
  for (const n of left) utimesSync(path.join(dir, n), old, old);
  writeFileSync(path.join(dir, '.out.kms-envelope-0123456789ab.tmp'), 'fresh');
  writeFileSync(path.join(dir, '.out.0123456789ab.tmp'), 'not ours');
  writeFileSync(path.join(dir, 'notes.tmp'), 'not ours');
  utimesSync(path.join(dir, '.out.0123456789ab.tmp'), old, old);
  utimesSync(path.join(dir, 'notes.tmp'), old, old);

  const w = startWriter(dir, 'small', true);
  await w.reached('ready');
  w.child.stdin!.write('go\n');
  assert.equal((await w.exited).code, 0, w.stderr());
  const swept = w.lines.find((l) => l.startsWith('swept '));
  assert.ok(swept, `the write says what it removed: ${w.lines.join(' | ')}`);
  assert.deepEqual((JSON.parse(swept.slice(6)) as string[]).sort(), left.sort());
  assert.deepEqual(readdirSync(dir).sort(), ['.out.0123456789ab.tmp', '.out.kms-envelope-0123456789ab.tmp', 'notes.tmp', 'out']);
  assert.ok(readFileSync(path.join(dir, 'out')).equals(plaintextOf(4096)));
});

test(
  'the CLI stopped mid-unseal by each catchable signal and by kill -9 leaves an empty output folder',
  { skip: !linux && 'uses /proc to see the output being written' },
  async () => {
    if (!existsSync(cli)) execFileSync(process.execPath, ['esbuild.mjs'], { cwd: root, stdio: 'inherit' });
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      KMS_ENVELOPE_CONFIG_DIR: path.join(tmp, 'cfg'),
      KMS_ENVELOPE_KEY_FILE_DIR: path.join(tmp, 'keys'),
    };
    const src = path.join(tmp, 'src');
    mkdirSync(src);
    const plain = plaintextOf(3 * 1024 * 1024);
    writeFileSync(path.join(src, 'plain'), plain);
    const sh = (args: string[]) => execFileSync(process.execPath, [cli, ...args], { cwd: src, env, stdio: ['ignore', 'pipe', 'pipe'] });
    sh(['keys', 'create', '--provider', 'local', '--alias', 'kill-test']);
    sh(['seal', 'plain', '-o', 'blob', '--key', 'local:local:kill-test']);
    const blob = readFileSync(path.join(src, 'blob'));

    /** Whether the unseal has written plaintext into `dir`: a file there, or an unnamed file it holds open. */
    const writing = (pid: number, dir: string): boolean => {
      if (readdirSync(dir).some((n) => statSync(path.join(dir, n)).size > 0)) return true;
      try {
        for (const fd of readdirSync(`/proc/${pid}/fd`)) {
          const p = `/proc/${pid}/fd/${fd}`;
          if (readlinkSync(p).startsWith(dir + '/') && statSync(p).size > 0) return true;
        }
      } catch {
        // The process or the descriptor went away meanwhile.
      }
      return false;
    };
    const unseal = (name: string) => {
      const dir = path.join(tmp, `cli-${name}`);
      mkdirSync(dir);
      const child = spawn(process.execPath, [cli, 'unseal', '-', '-o', path.join(dir, 'out')], {
        cwd: src,
        env,
        stdio: ['pipe', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stdin.on('error', () => undefined);
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
        child.on('exit', (code, signal) => r({ code, signal })),
      );
      return { dir, child, exited, stderr: () => stderr };
    };
    const noPlaintext = (dir: string, what: string) => {
      assert.deepEqual(readdirSync(dir), [], `${what}: the output folder is empty`);
    };

    // Positive control: the same run, not stopped, writes the plaintext where the checks look.
    const control = unseal('control');
    control.child.stdin.end(blob);
    assert.equal((await control.exited).code, 0, control.stderr());
    assert.ok(readFileSync(path.join(control.dir, 'out')).equals(plain));

    const cases: Array<[NodeJS.Signals, 'clean' | 'killed']> = [
      ['SIGHUP', 'clean'],
      ['SIGINT', 'clean'],
      ['SIGQUIT', 'clean'],
      ['SIGTERM', 'clean'],
      ['SIGALRM', 'killed'],
      ['SIGUSR2', 'killed'],
      ['SIGKILL', 'killed'],
    ];
    const one = async ([sig, expect]: [NodeJS.Signals, 'clean' | 'killed']) => {
      const u = unseal(sig);
      // The header, the first 1 MiB frame and part of the next: frame 1's plaintext is written, then
      // the unseal waits for more input.
      u.child.stdin.write(blob.subarray(0, 1.5 * 1024 * 1024));
      const t0 = Date.now();
      while (!writing(u.child.pid!, u.dir)) {
        assert.ok(Date.now() - t0 < 20_000, `${sig}: the unseal never wrote: ${u.stderr()}`);
        await delay(5);
      }
      u.child.kill(sig);
      const { code, signal } = await u.exited;
      if (expect === 'clean') {
        assert.equal(code, 130, `${sig}: ${u.stderr()}`);
        assert.match(u.stderr(), /cancelled; no output was written/);
      } else assert.equal(signal, sig);
      noPlaintext(u.dir, sig);
    };
    await Promise.all(
      [cases.slice(0, 4), cases.slice(4)].map(async (group) => {
        for (const c of group) await one(c);
      }),
    );
  },
);
