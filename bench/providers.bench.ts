// Benchmark of the cloud providers against the emulator (official SDKs, real HTTP on 127.0.0.1).
//
// 1. Listing 2,000 keys spread over 5 regions with 50 ms injected latency per request, through
//    listAllKeys (regions in parallel; pages in parallel once page 1 gives the total):
//    wall time as a ratio to the serial sum of request latencies (requests counted by the
//    emulator × 50 ms). A ratio well below 1 shows the parallelism; 1.0 would be fully serial.
//    For Tencent the fully serial listing is also measured in the same run, as a baseline.
//    AWS: also the first region's first page (what the Keys view shows first) as a ratio to ONE
//    request's latency (ListKeys, then DescribeKey + GetKeyRotationStatus per key in parallel).
// 2. KMS calls per seal / unseal counted by the emulator: must be exactly 1 per recipient.
//
// Key creation happens before timing and is not counted.
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { startEmulator } from '../src/emulator/index';
import { TencentKmsProvider } from '../src/core/kms/tencent/index';
import { AlibabaKmsProvider } from '../src/core/kms/alibaba/index';
import { AwsKmsProvider } from '../src/core/kms/aws/index';
import { listAllKeys } from '../src/core/kms/list-all';
import { mapLimit } from '../src/core/kms/retry';
import { sealBuffer, unsealBuffer, type ProviderResolver } from '../src/core/envelope/index';
import type { KmsProvider } from '../src/core/kms/types';

const KEYS = 2000;
const LATENCY_MS = 50;
const TC_REGIONS = ['ap-guangzhou', 'ap-shanghai', 'ap-beijing', 'ap-singapore', 'eu-frankfurt'];
const ALI_REGIONS = ['cn-hangzhou', 'cn-shanghai', 'cn-beijing', 'ap-southeast-1', 'eu-central-1'];
const AWS_REGIONS = ['us-east-1', 'eu-west-1', 'ap-southeast-2', 'us-west-2', 'eu-central-1'];

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
  const aws = new AwsKmsProvider({
    profile: 'bench',
    endpoint: em.url,
    credentials: async () => ({ accessKeyId: a.aws.accessKeyId, accessKeySecret: a.aws.secretAccessKey }),
  });
  try {
    process.stdout.write(`setup: creating ${KEYS} keys per cloud over 5 regions (not timed)…\n`);
    const t0 = performance.now();
    await mapLimit([...Array(KEYS).keys()], 32, (i) => tc.createKey(TC_REGIONS[i % 5], { alias: `bench-${i}` }));
    await mapLimit([...Array(KEYS).keys()], 32, (i) => ali.createKey(ALI_REGIONS[i % 5], {}));
    await mapLimit([...Array(KEYS).keys()], 32, (i) => aws.createKey(AWS_REGIONS[i % 5], i % 2 ? {} : { alias: `bench-${i}` }));
    process.stdout.write(`setup done in ${((performance.now() - t0) / 1000).toFixed(1)} s\n\n`);

    const listing = async (label: string, p: KmsProvider, regions: string[], concurrency: number, pageSize?: number) => {
      em.setFaults({ '*': { latencyMs: LATENCY_MS } });
      em.resetCounters();
      const s = performance.now();
      const out = await listAllKeys(p, regions, { concurrency, pageSize });
      const wall = performance.now() - s;
      em.setFaults({});
      const keys = out.reduce((n, r) => n + r.keys.length, 0);
      const failed = out.filter((r) => r.error);
      if (failed.length) throw failed[0].error;
      if (keys !== KEYS) throw new Error(`${label}: listed ${keys} keys, expected ${KEYS}`);
      const requests = em.counters().total ?? 0;
      const serialSum = requests * LATENCY_MS;
      process.stdout.write(
        `${label.padEnd(44)} keys=${keys} pages=${out.reduce((n, r) => n + r.pages, 0)} requests=${requests} ` +
          `wall=${wall.toFixed(0)} ms serial-sum=${serialSum} ms ratio=${(wall / serialSum).toFixed(3)}\n`,
      );
      return { wall, requests, serialSum };
    };

    process.stdout.write(`listing ${KEYS} keys over 5 regions, ${LATENCY_MS} ms latency per request\n`);
    const tcPar = await listing('tencent  listAllKeys (parallel, page 200)', tc, TC_REGIONS, 16);
    const tcSmall = await listing('tencent  listAllKeys (parallel, page 50)', tc, TC_REGIONS, 16, 50);
    const tcSerial = await listing('tencent  serial baseline (concurrency 1)', tc, TC_REGIONS, 1);
    const aliPar = await listing('alibaba  listAllKeys (parallel, +DescribeKey×8)', ali, ALI_REGIONS, 16);
    const awsPar = await listing('aws      listAllKeys (parallel, +DescribeKey×10)', aws, AWS_REGIONS, 16);
    process.stdout.write(
      `\nratio wall/serial-sum: tencent ${(tcPar.wall / tcPar.serialSum).toFixed(3)} (page 50: ${(tcSmall.wall / tcSmall.serialSum).toFixed(3)}), ` +
        `alibaba ${(aliPar.wall / aliPar.serialSum).toFixed(3)}, aws ${(awsPar.wall / awsPar.serialSum).toFixed(3)}; ` +
        `tencent parallel vs measured serial: ${(tcPar.wall / tcSerial.wall).toFixed(3)}\n`,
    );
    // AWS, the first region's first page (the Keys view's first rows) against one request's latency.
    em.setFaults({ '*': { latencyMs: LATENCY_MS } });
    for (const pageSize of [100, 25]) {
      em.resetCounters();
      const s = performance.now();
      const page = await aws.listKeys(AWS_REGIONS[0], { pageSize });
      const wall = performance.now() - s;
      process.stdout.write(
        `aws      first page of ${AWS_REGIONS[0]} (${page.keys.length} keys, ${em.counters().total} requests): ` +
          `wall=${wall.toFixed(0)} ms = ${(wall / LATENCY_MS).toFixed(1)} × one request's ${LATENCY_MS} ms\n`,
      );
    }
    em.setFaults({});
    process.stdout.write('\n');

    // KMS calls per seal / unseal.
    const tcKey = (await tc.createKey('ap-guangzhou', { alias: `bench-seal-${randomBytes(3).toString('hex')}` })).keyId;
    const aliKey = (await ali.createKey('cn-hangzhou', {})).keyId;
    const awsA = (await aws.createKey('us-east-1', { alias: `bench-seal-${randomBytes(3).toString('hex')}` })).alias!;
    const awsB = (await aws.createKey('eu-west-1', {})).keyId;
    const only =
      (p: KmsProvider): ProviderResolver =>
      async (n) =>
        n === p.name ? p : undefined;
    const both: ProviderResolver = async (n) => (n === 'tencent' ? tc : n === 'alibaba' ? ali : undefined);
    const all: ProviderResolver = async (n, r) => (n === 'aws' ? aws : await both(n, r));
    const N = 20;
    const cases: Array<[string, Parameters<typeof sealBuffer>[1]['recipients'], ProviderResolver]> = [
      ['1 recipient (tencent)', [{ provider: tc, region: 'ap-guangzhou', key: tcKey }], only(tc)],
      ['1 recipient (alibaba)', [{ provider: ali, region: 'cn-hangzhou', key: aliKey }], only(ali)],
      [
        '2 recipients (tencent + alibaba)',
        [
          { provider: tc, region: 'ap-guangzhou', key: tcKey },
          { provider: ali, region: 'cn-hangzhou', key: aliKey },
        ],
        both,
      ],
      ['1 recipient (aws, by alias)', [{ provider: aws, region: 'us-east-1', key: `alias/${awsA}` }], only(aws)],
      [
        '2 recipients (aws us-east-1 + eu-west-1)',
        [
          { provider: aws, region: 'us-east-1', key: `alias/${awsA}` },
          { provider: aws, region: 'eu-west-1', key: awsB },
        ],
        only(aws),
      ],
      [
        '3 recipients (aws + tencent + alibaba)',
        [
          { provider: aws, region: 'us-east-1', key: `alias/${awsA}` },
          { provider: tc, region: 'ap-guangzhou', key: tcKey },
          { provider: ali, region: 'cn-hangzhou', key: aliKey },
        ],
        all,
      ],
    ];
    process.stdout.write(`KMS calls counted by the emulator, average over ${N} seals / unseals of 64 KiB\n`);
    const data = randomBytes(64 * 1024);
    for (const [label, recipients, resolve] of cases) {
      em.resetCounters();
      const blobs: Buffer[] = [];
      for (let i = 0; i < N; i++) blobs.push(await sealBuffer(data, { recipients, context: { bench: String(i) } }));
      const sealCalls = (em.counters().total ?? 0) / N;
      em.resetCounters();
      for (const b of blobs) {
        const out = await unsealBuffer(b, { resolve });
        if (!out.plaintext.equals(data)) throw new Error('round trip failed');
      }
      const unsealCalls = (em.counters().total ?? 0) / N;
      const ok = sealCalls === recipients.length && unsealCalls === 1;
      process.stdout.write(
        `${label.padEnd(36)} per seal: ${sealCalls} (per recipient ${(sealCalls / recipients.length).toFixed(2)})  per unseal: ${unsealCalls}  ${ok ? 'OK' : 'UNEXPECTED'}\n`,
      );
      if (!ok) process.exitCode = 1;
    }
  } finally {
    tc.dispose();
    ali.dispose();
    aws.dispose();
    await em.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
