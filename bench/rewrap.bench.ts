// Re-wrap against sealing, measured in the same run (issue 14: "re-wrap of a 1 GiB file as a ratio to
// sealing it"), with the KMS calls of each operation counted by the emulator (in this process, real HTTP
// on 127.0.0.1, Alibaba KMS through the official SDK; no added latency):
//
// - a large sealed file: `kms-envelope seal <file> --key A` and `kms-envelope rewrap <sealed>
//   --add-key B`, each the built CLI in its own process (what a user runs; outputs fsynced and renamed
//   into place alike), in alternating rounds; the best round counts, the range is printed. A whole-file
//   re-wrap encrypts the body again under a new message id (see the header of
//   src/core/envelope/rewrap.ts: keeping the body would compute a second header tag under the frames'
//   key and IV, GCM nonce reuse), so it costs about what sealing costs: issue 14's ≤ 0.01× cannot hold
//   for whole files and is printed beside the figure as not applicable. Afterwards key A is disabled and
//   the file still unseals with B to the input's bytes.
// - a file of sealed values (YAML, `BENCH_VALUES` passwords sealed by policy): its header line re-wrapped
//   (rewrapValuesKeeping, adding B) against sealing the file (sealValues), in this process, median of
//   `BENCH_VALUES_REPS` rounds each; lines and bytes that change.
//
//   BENCH_SIZE_MB=1024   size of the large file     BENCH_REPS=3   rounds (the first a warm-up when > 1)
//   BENCH_DIR=<folder>   where the files go (default: the OS temp folder)
//   BENCH_VALUES=200     passwords in the values file     BENCH_VALUES_REPS=15
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { AlibabaKmsProvider } from '../src/core/kms/alibaba/index';
import type { ProviderResolver, Recipient } from '../src/core/envelope/index';
import { parsePolicy, rewrapValuesKeeping, ruleSelects, sealValues } from '../src/core/values/index';
import { startEmulator, type RunningEmulator } from '../src/emulator/index';
import { fileSystemOf, machine } from './lib/machine';
import { PASSWORD_POLICY, yamlFile } from './lib/values-files';

const MiB = 1024 * 1024;
const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const sizeMb = Number(process.env.BENCH_SIZE_MB ?? 1024);
const reps = Math.max(1, Number(process.env.BENCH_REPS ?? 3));
const nValues = Number(process.env.BENCH_VALUES ?? 200);
const valueReps = Math.max(1, Number(process.env.BENCH_VALUES_REPS ?? 15));
const REGION = 'cn-hangzhou';

async function sha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(file, { highWaterMark: 4 * MiB })) h.update(c as Buffer);
  return h.digest('hex');
}

const median = (x: number[]) => [...x].sort((a, b) => a - b)[Math.floor(x.length / 2)]!;

/** The emulator's counters since the last reset, as `Action×n` (the total apart). */
function calls(em: RunningEmulator): { of: (action: string) => number; text: string } {
  const c = em.counters();
  const text = Object.entries(c)
    .filter(([k]) => k !== 'total')
    .map(([k, v]) => `${k.replace(/^alibaba:/, '')}×${v}`)
    .join(' ');
  return { of: (action) => c[`alibaba:${action}`] ?? 0, text: text || 'none' };
}

/** Flags a KMS call count that is not the one expected (the bench then exits non-zero). */
function expectCalls(what: string, got: number, want: number): string {
  if (got === want) return '';
  process.exitCode = 1;
  return `  UNEXPECTED: ${what} ${got}, expected ${want}`;
}

async function main(): Promise<void> {
  const em = await startEmulator({ port: 0 });
  const acct = em.accounts[0]!.alibaba;
  const ali = new AlibabaKmsProvider({
    profile: 'bench',
    endpoint: em.url,
    credentials: async () => ({ accessKeyId: acct.accessKeyId, accessKeySecret: acct.accessKeySecret }),
  });
  const dir = await fsp.mkdtemp(path.join(process.env.BENCH_DIR ?? os.tmpdir(), 'kms-envelope-rewrap-bench-'));
  const cleanup = () => fsp.rm(dir, { recursive: true, force: true });
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  const cliEnv = { ...process.env, ALIBABA_CLOUD_ACCESS_KEY_ID: acct.accessKeyId, ALIBABA_CLOUD_ACCESS_KEY_SECRET: acct.accessKeySecret };
  // The emulator answers in this process, so the CLI runs asynchronously. Each run starts with no
  // dirty pages left over from the one before (sync first), as in the envelope bench.
  const cli = async (...args: string[]): Promise<{ seconds: number; stdout: string }> => {
    spawnSync('sync');
    const t0 = performance.now();
    const child = spawn(process.execPath, [CLI, ...args], { env: cliEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((res) => child.on('close', res));
    const seconds = (performance.now() - t0) / 1000;
    if (code !== 0) throw new Error(`kms-envelope ${args[0]} failed (${code}): ${stderr}`);
    return { seconds, stdout };
  };
  try {
    const keyA = (await ali.createKey(REGION, { description: 'rewrap bench A' })).keyId;
    const keyB = (await ali.createKey(REGION, { description: 'rewrap bench B' })).keyId;
    const refA = `alibaba:${REGION}:${keyA}`;
    const refB = `alibaba:${REGION}:${keyB}`;

    // ---- a large sealed file
    const input = path.join(dir, 'input.bin');
    const sealed = path.join(dir, 'input.bin.sealed');
    const fh = await fsp.open(input, 'w');
    const block = randomBytes(16 * MiB);
    for (let left = sizeMb * MiB; left > 0; left -= block.length) await fh.write(block, 0, Math.min(left, block.length));
    await fh.close();
    const seal: number[] = [];
    const rewrap: number[] = [];
    let sealCalls = '';
    let rewrapCalls = '';
    let sameMessageId = false;
    for (let rep = 0; rep < reps; rep++) {
      await fsp.rm(sealed, { force: true });
      em.resetCounters();
      seal.push((await cli('seal', input, '-o', sealed, '--key', refA, '--endpoint', em.url)).seconds);
      sealCalls = calls(em).text;
      const before = JSON.parse((await cli('inspect', sealed, '--json')).stdout) as { messageId: string };
      em.resetCounters();
      rewrap.push((await cli('rewrap', sealed, '--add-key', refB, '--endpoint', em.url, '--json')).seconds);
      const c = calls(em);
      rewrapCalls = c.text + expectCalls('Decrypt', c.of('Decrypt'), 1) + expectCalls('Encrypt', c.of('Encrypt'), 1);
      const after = JSON.parse((await cli('inspect', sealed, '--json')).stdout) as { messageId: string; recipients: unknown[] };
      if (after.recipients.length !== 2) throw new Error(`re-wrapped file names ${after.recipients.length} recipients, expected 2`);
      sameMessageId = after.messageId === before.messageId;
      if (sameMessageId) process.exitCode = 1;
    }
    // Key A disabled: the re-wrapped file opens with B alone, to the input's bytes.
    await ali.disableKey(REGION, keyA);
    const out = path.join(dir, 'output.bin');
    await cli('unseal', sealed, '-o', out, '--endpoint', em.url);
    const opensWithB = (await sha256(out)) === (await sha256(input));
    if (!opensWithB) process.exitCode = 1;
    await ali.enableKey(REGION, keyA);
    await fsp.rm(out, { force: true });

    // KMS calls per file: three small sealed files re-wrapped by one command. Resolving --add-key
    // (DescribeKey, and the key's aliases) happens once per command, not per file.
    const few = path.join(dir, 'few');
    await fsp.mkdir(few);
    for (let i = 0; i < 3; i++) {
      await fsp.writeFile(path.join(few, `s${i}.txt`), randomBytes(4096));
      await cli('seal', path.join(few, `s${i}.txt`), '-o', path.join(few, `s${i}.sealed`), '--key', refA, '--endpoint', em.url);
      await fsp.rm(path.join(few, `s${i}.txt`));
    }
    em.resetCounters();
    await cli('rewrap', few, '--add-key', refB, '--endpoint', em.url, '--json');
    const three = calls(em);
    const threeCalls = three.text + expectCalls('Decrypt', three.of('Decrypt'), 3) + expectCalls('Encrypt', three.of('Encrypt'), 3);

    // The first round warmed up the file system and the page cache; it counts only when it is the only one.
    const counted = (x: number[]) => (x.length > 1 ? x.slice(1) : x);
    const speeds = (x: number[]) => counted(x).map((s) => sizeMb / s);
    const best = (x: number[]) => Math.max(...speeds(x));
    const range = (x: number[]) => `${Math.min(...speeds(x)).toFixed(0)}-${Math.max(...speeds(x)).toFixed(0)} MiB/s`;
    const fileRatio = best(seal) / best(rewrap);

    // ---- a file of sealed values: the header line only
    const rule = parsePolicy(PASSWORD_POLICY, '/b/.kms-envelope.yaml').rules[0]!;
    const select = (s: Parameters<typeof ruleSelects>[1]) => ruleSelects(rule, s);
    const rA: Recipient = { provider: ali, region: REGION, key: keyA };
    const rB: Recipient = { provider: ali, region: REGION, key: keyB };
    const resolve: ProviderResolver = async (n) => (n === 'alibaba' ? ali : undefined);
    const text = yamlFile(nValues);
    const sealOnce = () => sealValues(text, { format: 'yaml', name: 'values.yaml', select, recipients: async () => [rA], resolve });
    const plan = { next: [{ keep: 0 }, { add: rB }] };
    const rewrapOnce = (t: string) => rewrapValuesKeeping(t, { format: 'yaml', name: 'values.yaml', resolve, plan });
    // Warm-up (connections, lazy modules, the JIT), not counted.
    await rewrapOnce((await sealOnce()).text);
    const vSeal: number[] = [];
    const vRewrap: number[] = [];
    let vSealCalls = '';
    let vRewrapCalls = '';
    let changedLines = 0;
    let changedBytes = 0;
    let fileBytes = 0;
    for (let rep = 0; rep < valueReps; rep++) {
      em.resetCounters();
      let t0 = performance.now();
      const s = await sealOnce();
      vSeal.push(performance.now() - t0);
      vSealCalls = calls(em).text;
      em.resetCounters();
      t0 = performance.now();
      const r = await rewrapOnce(s.text);
      vRewrap.push(performance.now() - t0);
      const c = calls(em);
      vRewrapCalls = c.text + expectCalls('Decrypt', c.of('Decrypt'), 1) + expectCalls('Encrypt', c.of('Encrypt'), 1);
      const a = s.text.split('\n');
      const b = r.text.split('\n');
      changedLines = b.filter((l, i) => l !== a[i]).length + Math.max(0, a.length - b.length);
      changedBytes = b.filter((l, i) => l !== a[i]).reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
      fileBytes = Buffer.byteLength(r.text);
    }
    const valuesRatio = median(vRewrap) / median(vSeal);

    console.log(`re-wrap vs seal, Alibaba KMS through the emulator in this process (127.0.0.1, no added latency)`);
    console.log(`machine: ${machine()}`);
    console.log(`folder: ${dir} on ${fileSystemOf(dir)}`);
    console.log(
      `\n${sizeMb} MiB file, the built CLI in its own process each time, best of ${reps > 2 ? `${reps - 1} rounds after a warm-up round` : reps === 2 ? '1 round after a warm-up round' : '1 round'}:`,
    );
    console.log(`  kms-envelope seal --key A        ${best(seal).toFixed(0).padStart(5)} MiB/s (${range(seal)})  KMS calls: ${sealCalls}`);
    console.log(
      `  kms-envelope rewrap --add-key B  ${best(rewrap).toFixed(0).padStart(5)} MiB/s (${range(rewrap)})  KMS calls: ${rewrapCalls}`,
    );
    console.log(
      `  ratio re-wrap / seal (time): ${fileRatio.toFixed(2)}x  (issue 14's <= 0.01x does not apply: the body is encrypted again under a new message id, ${sameMessageId ? 'BUT THE MESSAGE ID DID NOT CHANGE' : 'the message id changed'})`,
    );
    console.log(`  3 small sealed files in one rewrap command: KMS calls ${threeCalls}`);
    console.log(`  key A disabled afterwards, unseal with B alone: ${opensWithB ? 'same bytes as the input' : 'DIFFERENT FROM THE INPUT'}`);
    console.log(
      `\nvalues file: ${nValues} passwords sealed by policy in a YAML file of ${fileBytes.toLocaleString('en-US')} bytes, median of ${valueReps}:`,
    );
    console.log(`  seal (sealValues)                           ${median(vSeal).toFixed(1).padStart(6)} ms  KMS calls: ${vSealCalls}`);
    console.log(
      `  re-wrap the header, add B (rewrapValuesKeeping) ${median(vRewrap).toFixed(1).padStart(6)} ms  KMS calls: ${vRewrapCalls}`,
    );
    console.log(
      `  ratio re-wrap / seal (time): ${valuesRatio.toFixed(2)}x; lines changed: ${changedLines} of ${text.split('\n').length} (${changedBytes.toLocaleString('en-US')} bytes, ${((100 * changedBytes) / fileBytes).toFixed(1)}% of the file: the header line)`,
    );
  } finally {
    ali.dispose();
    await em.stop();
    await cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
