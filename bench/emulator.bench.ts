// How many Encrypt requests per second the emulator sustains with 32 concurrent OFFICIAL SDK
// clients (Tencent CommonClient, and Alibaba's openapi-client with V3 signatures), so later
// benchmarks know it is not their bottleneck. The baseline, measured in the same run and hit the
// same way, is a bare node:http server in a child process answering every request with a canned
// success body (no signature check, no crypto): the ratio is emulator / baseline throughput.
// Bounded: a fixed number of requests per measurement (with a time cap), loopback only.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as http from 'node:http';
import { join, resolve } from 'node:path';
import { aliCall, alibabaClient, tcCall, tencentClient } from '../test/conformance/helpers/sdk-clients';

const ROOT = resolve(__dirname, '..');
const CLIENTS = 32;
const REQUESTS = Number(process.env.EMULATOR_BENCH_REQUESTS ?? 3000);
const WARMUP = 300;
const TIME_CAP_MS = 20_000;
/** Length of each window of the kms-envelope bench comparison, and how many alternating rounds. */
const CLI_SECONDS = Number(process.env.EMULATOR_BENCH_CLI_SECONDS ?? 5);
const ROUNDS = Number(process.env.EMULATOR_BENCH_ROUNDS ?? 5);

interface Child {
  proc: ChildProcess;
  info: any;
}

function startChild(script: string): Promise<Child> {
  const proc = spawn(process.execPath, ['--import', 'tsx', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((res, rej) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) res({ proc, info: JSON.parse(out.slice(0, nl)) });
    });
    proc.on('exit', (code) => rej(new Error(`bench child exited early (${code})`)));
  });
}

const EMULATOR_CHILD = `
const m = require(${JSON.stringify(join(ROOT, 'src/emulator/index.ts'))});
m.startEmulator({}).then((em) => {
  process.stdout.write(JSON.stringify({ url: em.url, account: em.accounts[0] }) + '\\n');
  process.on('SIGTERM', () => em.stop().then(() => process.exit(0)));
});`;

const BASELINE_CHILD = `
const http = require('node:http');
const { randomUUID } = require('node:crypto');
const blob = Buffer.alloc(90, 7).toString('base64');
const server = http.createServer({ keepAliveTimeout: 5000 }, (req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const id = randomUUID();
    const tencent = req.headers['x-tc-action'] !== undefined;
    const body = tencent
      ? JSON.stringify({ Response: { CiphertextBlob: blob, KeyId: '00000000-0000-4000-8000-000000000000', RequestId: id } })
      : JSON.stringify({ RequestId: id, CiphertextBlob: blob, KeyId: '00000000-0000-4000-8000-000000000000', KeyVersionId: id });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ url: 'http://127.0.0.1:' + server.address().port }) + '\\n');
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
});`;

/**
 * The SDK clients of the kms-envelope bench comparison in a fresh process of their own, started and
 * measured the way the CLI is: plain node, 32 clients built, then a window of SDK_SECONDS from the
 * first request (the start not counted, the JIT and heap warm-up counted), requests per whole second
 * and the process's CPU per request. The calls are aliCall's (test/conformance/helpers/sdk-clients.ts).
 */
const SDK_LOAD_CHILD = `
const OpenApi = require('@alicloud/openapi-client');
const Util = require('@alicloud/tea-util');
const a = JSON.parse(process.env.SDK_LOAD);
const host = a.url.replace(/^https?:\\/\\//, '');
const clients = Array.from({ length: a.clients }, () =>
  new OpenApi.default(new OpenApi.Config({ accessKeyId: a.id, accessKeySecret: a.secret, endpoint: host, protocol: 'http' })));
const call = (c) => c.callApi(
  new OpenApi.Params({ action: 'Encrypt', version: '2016-01-20', protocol: 'HTTP', pathname: '/', method: 'POST', authType: 'AK', style: 'RPC', reqBodyType: 'formData', bodyType: 'json' }),
  new OpenApi.OpenApiRequest({ query: { KeyId: a.key, Plaintext: a.plaintext, EncryptionContext: a.context, RegionId: a.region } }),
  new Util.RuntimeOptions({ autoretry: false, readTimeout: 10000, connectTimeout: 5000 }));
const t0 = performance.now();
const cpu0 = process.cpuUsage();
let ok = 0, tick = 0;
const perSecond = [];
const timer = setInterval(() => { perSecond.push({ second: perSecond.length + 1, ok: ok - tick }); tick = ok; }, 1000);
Promise.all(clients.map(async (c) => { while (performance.now() - t0 < a.seconds * 1000) { await call(c); ok++; } })).then(() => {
  clearInterval(timer);
  const elapsedS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(JSON.stringify({ ok, elapsedS, requestsPerSecond: ok / elapsedS, perSecond, clientCpu: { usPerRequest: (cpu.user + cpu.system) / ok } }));
});`;

interface Result {
  rps: number;
  p50: number;
  p99: number;
  n: number;
  seconds: number;
  /** CPU time of the client's process per request, µs (user + system, all its threads). */
  cpuUs?: number;
}

async function drive(total: number, call: (client: number) => Promise<unknown>): Promise<Result> {
  const lat: number[] = [];
  let issued = 0;
  const t0 = performance.now();
  const worker = async (i: number) => {
    while (issued < total && performance.now() - t0 < TIME_CAP_MS) {
      issued++;
      const s = performance.now();
      await call(i);
      lat.push(performance.now() - s);
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, (_, i) => worker(i)));
  const seconds = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return {
    rps: lat.length / seconds,
    p50: lat[Math.floor(lat.length * 0.5)],
    p99: lat[Math.floor(lat.length * 0.99)],
    n: lat.length,
    seconds,
  };
}

/** Like drive, but for a time window instead of a number of requests; with this process's CPU per request. */
async function driveFor(ms: number, call: (client: number) => Promise<unknown>): Promise<Result> {
  const lat: number[] = [];
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const worker = async (i: number) => {
    while (performance.now() - t0 < ms) {
      const s = performance.now();
      await call(i);
      lat.push(performance.now() - s);
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, (_, i) => worker(i)));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  lat.sort((a, b) => a - b);
  return {
    rps: lat.length / seconds,
    p50: lat[Math.floor(lat.length * 0.5)],
    p99: lat[Math.floor(lat.length * 0.99)],
    n: lat.length,
    seconds,
    cpuUs: (cpu.user + cpu.system) / lat.length,
  };
}

const fmt = (label: string, r: Result) =>
  `${label.padEnd(58)} ${String(r.n).padStart(5)} req in ${r.seconds.toFixed(2)} s → ${r.rps.toFixed(0).padStart(5)} req/s${Number.isNaN(r.p50) ? '' : ` (p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms)`}${r.cpuUs === undefined ? '' : `, client CPU ${r.cpuUs.toFixed(0)} µs/req`}`;

async function main(): Promise<void> {
  const emu = await startChild(EMULATOR_CHILD);
  const base = await startChild(BASELINE_CHILD);
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
  try {
    const acct = emu.info.account;
    // Tencent: 32 CommonClients (one per simulated caller), keep-alive connections.
    const tcEmu = Array.from({ length: CLIENTS }, () => tencentClient(emu.info.url, acct.tencent, 'ap-guangzhou', agent));
    const tcBase = Array.from({ length: CLIENTS }, () => tencentClient(base.info.url, acct.tencent, 'ap-guangzhou', agent));
    const { KeyId: tcKey } = await tcCall(tcEmu[0], 'CreateKey', { Alias: `bench-${Date.now()}` });
    const pt = Buffer.alloc(32, 1).toString('base64');
    const tcEnc = (clients: typeof tcEmu) => (i: number) =>
      tcCall(clients[i], 'Encrypt', { KeyId: tcKey, Plaintext: pt, EncryptionContext: '{"bench":"1"}' });
    await drive(WARMUP, tcEnc(tcEmu));
    await drive(WARMUP, tcEnc(tcBase));
    const tBase = await drive(REQUESTS, tcEnc(tcBase));
    const tEmu = await drive(REQUESTS, tcEnc(tcEmu));

    // Alibaba: 32 openapi-clients, V3 signatures (the SDK's default).
    const alEmu = Array.from({ length: CLIENTS }, () => alibabaClient(emu.info.url, acct.alibaba));
    const alBase = Array.from({ length: CLIENTS }, () => alibabaClient(base.info.url, acct.alibaba));
    const alKey = (await aliCall(alEmu[0], 'CreateKey', {}, 'cn-hangzhou')).KeyMetadata.KeyId;
    const alEnc = (clients: typeof alEmu) => (i: number) =>
      aliCall(clients[i], 'Encrypt', { KeyId: alKey, Plaintext: pt, EncryptionContext: '{"bench":"1"}' }, 'cn-hangzhou');
    await drive(WARMUP, alEnc(alEmu));
    await drive(WARMUP, alEnc(alBase));
    const aBase = await drive(REQUESTS, alEnc(alBase));
    const aEmu = await drive(REQUESTS, alEnc(alEmu));

    console.log(
      `Encrypt with ${CLIENTS} concurrent official SDK clients, ${REQUESTS} requests per run (servers in child processes, 127.0.0.1)`,
    );
    console.log(fmt('baseline: bare node:http, canned reply (Tencent SDK)', tBase));
    console.log(fmt('emulator: Tencent TC3 verify + AES-256-GCM (Tencent SDK)', tEmu));
    console.log(`  ratio emulator/baseline (Tencent): ${(tEmu.rps / tBase.rps).toFixed(2)}`);
    console.log(fmt('baseline: bare node:http, canned reply (Alibaba SDK V3)', aBase));
    console.log(fmt('emulator: Alibaba ACS3 verify + AES-256-GCM (Alibaba SDK V3)', aEmu));
    console.log(`  ratio emulator/baseline (Alibaba): ${(aEmu.rps / aBase.rps).toFixed(2)}`);

    // `kms-envelope bench` (the built CLI, its own process) against the same emulator and key, with
    // the same 32 requests in flight: it must not be its own bottleneck (target ≥ 0.8× the SDK
    // clients). Measured the same way on both sides (a time window of CLI_SECONDS, Encrypt of 32
    // bytes, the CLI's context) and in alternating rounds, so a busy machine hits both alike; the
    // median round's ratio is the figure. The like-with-like comparison is against the same SDK
    // clients in a fresh process of their own (SDK_LOAD_CHILD): a process started for the window
    // spends its first seconds compiling hot code and growing its heap, which on this 2-core VM under
    // other work took the CLI several seconds to outgrow, while the clients in this process are warm.
    // Both are printed.
    const ctxText = JSON.stringify({ encryption: 'context', this: 'is' });
    const pt32 = Buffer.alloc(32, 0x31).toString('base64');
    const sdkWindow = () =>
      driveFor(CLI_SECONDS * 1000, (i) =>
        aliCall(alEmu[i], 'Encrypt', { KeyId: alKey, Plaintext: pt32, EncryptionContext: ctxText }, 'cn-hangzhou'),
      );
    /** One window of a fresh load process (the CLI, or the SDK clients' own), read from its JSON. */
    type Window = Result & { warmRps: number };
    const processWindow = (what: string, args: string[], env: NodeJS.ProcessEnv): Window => {
      const run = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env } });
      if (run.status !== 0) throw new Error(`${what} failed: ${run.stderr}`);
      const b = JSON.parse(run.stdout) as {
        requestsPerSecond: number;
        ok: number;
        elapsedS: number;
        latencyMs?: { p50: number; p99: number };
        perSecond: Array<{ second: number; ok: number }>;
        clientCpu: { usPerRequest: number };
      };
      // From its second second on: the JIT and the heap of a fresh process have warmed up by then.
      const warm = b.perSecond.slice(1);
      const warmRps = warm.length ? warm.reduce((n, t) => n + t.ok, 0) / warm.length : b.requestsPerSecond;
      return {
        rps: b.requestsPerSecond,
        p50: b.latencyMs?.p50 ?? NaN,
        p99: b.latencyMs?.p99 ?? NaN,
        n: b.ok,
        seconds: b.elapsedS,
        warmRps,
        cpuUs: b.clientCpu.usPerRequest,
      };
    };
    const cliWindow = () =>
      processWindow(
        'kms-envelope bench',
        [
          join(ROOT, 'dist/cli.js'),
          'bench',
          '--key',
          `alibaba:cn-hangzhou:${alKey}`,
          '--endpoint',
          emu.info.url,
          '--concurrency',
          String(CLIENTS),
          '--duration',
          String(CLI_SECONDS),
          '--json',
        ],
        { ALIBABA_CLOUD_ACCESS_KEY_ID: acct.alibaba.accessKeyId, ALIBABA_CLOUD_ACCESS_KEY_SECRET: acct.alibaba.accessKeySecret },
      );
    const sdkLoad = JSON.stringify({
      url: emu.info.url,
      id: acct.alibaba.accessKeyId,
      secret: acct.alibaba.accessKeySecret,
      key: alKey,
      region: 'cn-hangzhou',
      plaintext: pt32,
      context: ctxText,
      clients: CLIENTS,
      seconds: CLI_SECONDS,
    });
    const freshSdkWindow = () => processWindow('the SDK load process', ['-e', SDK_LOAD_CHILD], { SDK_LOAD: sdkLoad });
    console.log(
      `\nkms-envelope bench vs the SDK clients: Alibaba Encrypt, ${CLIENTS} in flight, ${CLI_SECONDS} s windows, ${ROUNDS} alternating rounds`,
    );
    const ratio = { warm: [] as number[], warm2: [] as number[], fresh: [] as number[], fresh2: [] as number[] };
    const cpu = { warm: [] as number[], fresh: [] as number[] };
    for (let r = 1; r <= ROUNDS; r++) {
      // The child windows block this process's event loop (spawnSync) longer than the emulator keeps
      // an idle connection: let the keep-alive sockets it closed meanwhile be seen as closed before
      // the SDK clients reuse them (else a request goes out on a closed socket: ECONNRESET).
      await new Promise((res) => setTimeout(res, 200));
      const sdk = await sdkWindow();
      const cli = cliWindow();
      const fresh = freshSdkWindow();
      ratio.warm.push(cli.rps / sdk.rps);
      ratio.warm2.push(cli.warmRps / sdk.rps);
      ratio.fresh.push(cli.rps / fresh.rps);
      ratio.fresh2.push(cli.warmRps / fresh.warmRps);
      cpu.warm.push(cli.cpuUs! / sdk.cpuUs!);
      cpu.fresh.push(cli.cpuUs! / fresh.cpuUs!);
      console.log(fmt(`round ${r}: SDK clients (in this process, warm)`, sdk));
      console.log(fmt(`round ${r}: kms-envelope bench --case encrypt (CLI process)`, cli));
      console.log(fmt(`round ${r}: SDK clients (a fresh process of their own)`, fresh));
      console.log(
        `  round ${r}: CLI / warm SDK ${(cli.rps / sdk.rps).toFixed(2)} (from the CLI's 2nd second ${(cli.warmRps / sdk.rps).toFixed(2)}); CLI / fresh SDK process ${(cli.rps / fresh.rps).toFixed(2)} (both from their 2nd second ${(cli.warmRps / fresh.warmRps).toFixed(2)})`,
      );
    }
    const median = (x: number[]) => [...x].sort((p, q) => p - q)[Math.floor(x.length / 2)]!.toFixed(2);
    console.log(`  ratio kms-envelope bench / SDK clients (Alibaba Encrypt, median of ${ROUNDS} rounds, target ≥ 0.8):`);
    console.log(
      `    like with like, both a fresh process measured over the same window: ${median(ratio.fresh)} (from their 2nd second: ${median(ratio.fresh2)})`,
    );
    console.log(
      `    against the SDK clients warm in this long-running process: ${median(ratio.warm)} (from the CLI's 2nd second: ${median(ratio.warm2)})`,
    );
    // The emulator and the client share the machine's cores, so a client's CPU per request decides
    // the rate as much as the emulator's does; it moves less than requests/s with the load other work
    // puts on the machine between windows.
    console.log(
      `  client CPU per request (all its threads, start excluded): CLI / fresh SDK process ${median(cpu.fresh)}, CLI / warm SDK clients ${median(cpu.warm)}`,
    );
  } finally {
    agent.destroy();
    emu.proc.kill('SIGTERM');
    base.proc.kill('SIGTERM');
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
