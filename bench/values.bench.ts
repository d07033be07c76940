// Benchmark of sealed config values against the emulator (official SDKs, real HTTP on 127.0.0.1) with
// 50 ms latency on every KMS request:
//
// - a 200-value YAML file and a 200-value .env file sealed by policy (one header per file), unsealed,
//   and re-sealed after one value changed: KMS calls per operation counted by the emulator (must be one
//   per recipient to seal, one to unseal), wall time as a ratio to one request's latency (target <= 3x);
// - the same 200 values sealed one by one as standalone kmsenv:v1 values (what Seal Selection does), as
//   the baseline measured in the same run;
// - after one warm-up round at full size without latency (connections, lazy modules, JIT);
// - the sealed size of a 16-character value, and the header line, for 1 and 2 recipients.
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { startEmulator } from '../src/emulator/index';
import { TencentKmsProvider } from '../src/core/kms/tencent/index';
import { AlibabaKmsProvider } from '../src/core/kms/alibaba/index';
import { mapLimit } from '../src/core/kms/retry';
import { armor, sealBuffer, type ProviderResolver, type Recipient } from '../src/core/envelope/index';
import { applyEdits, parsePolicy, parseValues, ruleSelects, sealValues, unsealValues, type ValuesFormat } from '../src/core/values/index';
import { PASSWORD_POLICY, envFile as envOf, value16, yamlFile as yamlOf } from './lib/values-files';

const N = 200;
const LATENCY_MS = 50;
const yamlFile = () => yamlOf(N);
const envFile = () => envOf(N);

async function main(): Promise<void> {
  const em = await startEmulator({ port: 0 });
  const a = em.accounts[0];
  const tc = new TencentKmsProvider({
    profile: 'bench',
    endpoint: em.url,
    credentials: async () => ({ accessKeyId: a.tencent.secretId, accessKeySecret: a.tencent.secretKey }),
  });
  const ali = new AlibabaKmsProvider({
    profile: 'bench',
    endpoint: em.url,
    credentials: async () => ({ accessKeyId: a.alibaba.accessKeyId, accessKeySecret: a.alibaba.accessKeySecret }),
  });
  try {
    const tcKey = (await tc.createKey('ap-guangzhou', { alias: `bench-values-${randomBytes(3).toString('hex')}` })).keyId;
    const aliKey = (await ali.createKey('cn-hangzhou', {})).keyId;
    const rT: Recipient = { provider: tc, region: 'ap-guangzhou', key: tcKey };
    const rA: Recipient = { provider: ali, region: 'cn-hangzhou', key: aliKey };
    const resolve: ProviderResolver = async (n) => (n === 'tencent' ? tc : n === 'alibaba' ? ali : undefined);
    const rule = parsePolicy(PASSWORD_POLICY, '/b/.kms-envelope.yaml').rules[0]!;
    const select = (s: Parameters<typeof ruleSelects>[1]) => ruleSelects(rule, s);

    // Warm-up, not counted: connections, lazily loaded modules, the JIT on full-size files.
    for (const [format, make] of [
      ['yaml', yamlFile],
      ['dotenv', envFile],
    ] as Array<[ValuesFormat, () => string]>) {
      const w = await sealValues(make(), { format, name: 'warm-up', select, recipients: async () => [rT, rA], resolve });
      await unsealValues(w.text, { format, name: 'warm-up', resolve });
    }
    em.setFaults({ '*': { latencyMs: LATENCY_MS } });

    const timed = async <T>(fn: () => Promise<T>) => {
      em.resetCounters();
      const s = performance.now();
      const out = await fn();
      const wall = performance.now() - s;
      const c = em.counters();
      const calls = Object.entries(c)
        .filter(([k]) => k !== 'total')
        .map(([k, v]) => `${k}×${v}`)
        .join(' ');
      return { out, wall, total: c.total ?? 0, calls };
    };
    const row = (label: string, r: { wall: number; total: number; calls: string }, expectCalls: number) => {
      const ok = r.total === expectCalls;
      if (!ok) process.exitCode = 1;
      process.stdout.write(
        `${label.padEnd(46)} KMS calls ${String(r.total).padStart(3)} (${r.calls || 'none'})  wall ${r.wall.toFixed(0).padStart(5)} ms = ${(r.wall / LATENCY_MS).toFixed(2)}× one request  ${ok ? 'OK' : `UNEXPECTED (want ${expectCalls})`}\n`,
      );
    };

    process.stdout.write(`${N} values per file, ${LATENCY_MS} ms latency per KMS request\n`);
    for (const [format, make] of [
      ['yaml', yamlFile],
      ['dotenv', envFile],
    ] as Array<[ValuesFormat, () => string]>) {
      const text = make();
      const name = format === 'yaml' ? 'values.yaml' : 'app.env';
      for (const recipients of [[rT], [rT, rA]]) {
        const label = `${name} (${recipients.length} recipient${recipients.length > 1 ? 's' : ''})`;
        const sealed = await timed(() => sealValues(text, { format, name, select, recipients: async () => recipients, resolve }));
        if (sealed.out.sealed.length !== N) throw new Error(`sealed ${sealed.out.sealed.length} values, expected ${N}`);
        row(`${label}: seal`, sealed, recipients.length);
        const opened = await timed(() => unsealValues(sealed.out.text, { format, name, resolve }));
        if (opened.out.text !== text) throw new Error('round trip failed');
        row(`${label}: unseal`, opened, 1);
        // One value changed in place (written in plaintext over its record), sealed again.
        const slot = parseValues(sealed.out.text, format, name).slots.find(
          (s) => s.pathText.endsWith('password') || s.pathText.endsWith('PASSWORD'),
        )!;
        const edited = applyEdits(sealed.out.text, [{ start: slot.start, end: slot.end, text: value16(9999) }]);
        const resealed = await timed(() => sealValues(edited, { format, name, select, recipients: async () => recipients, resolve }));
        const changedLines = sealed.out.text.split('\n').filter((l, i) => l !== resealed.out.text.split('\n')[i]).length;
        row(`${label}: re-seal one value (${changedLines} line changed)`, resealed, 1);
      }
    }

    // Baseline: the same 200 values as standalone kmsenv:v1 blobs, one message (and one GenerateDataKey) each.
    const values = Array.from({ length: N }, (_, i) => Buffer.from(value16(i)));
    const standalone = await timed(() => mapLimit(values, 16, (v) => sealBuffer(v, { recipients: [rT] })));
    row(`baseline: ${N} standalone kmsenv:v1 values (16 at once)`, standalone, N);
    em.setFaults({});

    process.stdout.write('\nsealed size of a 16-character value\n');
    for (const recipients of [[rT], [rT, rA]]) {
      const v = value16(1);
      const sealed = await sealValues(`password: ${v}\n`, {
        format: 'yaml',
        name: 's.yaml',
        select,
        recipients: async () => recipients,
        resolve,
      });
      const [valueLine, headerLine] = sealed.text.split('\n');
      const record = valueLine!.slice('password: '.length);
      const blob = armor(await sealBuffer(Buffer.from(v), { recipients }));
      process.stdout.write(
        `${recipients.length} recipient${recipients.length > 1 ? 's' : ' '}: record ${record.length} characters (file header line ${headerLine!.length}, once per file); standalone kmsenv:v1 value ${blob.length} characters\n`,
      );
      if (record.length > 120) process.exitCode = 1;
    }
  } finally {
    tc.dispose();
    ali.dispose();
    await em.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
