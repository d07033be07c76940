// One timed operation in a fresh process, so its peak RSS is its own. Bundled by
// bench/envelope.bench.ts with esbuild and run with plain `node` (no tsx in the measurement).
//   node child.js <op> <input> <output> [frameLength]
// op: seal | unseal (sealFile/unsealFile, the CLI's path) | gcm-enc | gcm-dec (raw AES-256-GCM,
// node:crypto streaming) | esdk-seal | esdk-unseal (stock ESDK streams, for reference).
// The wrapping key arrives hex-encoded in BENCH_KEY_HEX (env, never argv). Prints one JSON line.
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import { pipeline } from 'node:stream/promises';
// Stock ESDK streams from the narrow packages @aws-crypto/client-node re-exports (no AWS SDK load).
import { buildEncrypt } from '@aws-crypto/encrypt-node';
import { buildDecrypt } from '@aws-crypto/decrypt-node';
import { AlgorithmSuiteIdentifier, CommitmentPolicy } from '@aws-crypto/material-management-node';
import { rawAesKeyring, sealFile, unsealFile } from '../../src/core/envelope';
import { BenchLocalProvider } from './raw-aes-provider';

const [op, input, output, frameArg] = process.argv.slice(2) as [string, string, string, string | undefined];
const key = Buffer.from(process.env.BENCH_KEY_HEX ?? '', 'hex');
if (key.length !== 32) throw new Error('BENCH_KEY_HEX must hold 32 bytes');
const frameLength = frameArg ? Number(frameArg) : undefined;
const provider = new BenchLocalProvider('bench-key', key);
const CHUNK = 1 << 20;
const iv = Buffer.alloc(12, 7);

async function main() {
  const t0 = process.hrtime.bigint();
  switch (op) {
    case 'seal':
      await sealFile(input, output, { recipients: [{ provider, region: 'local', key: 'bench-key' }], frameLength });
      break;
    case 'unseal':
      await unsealFile(input, output, { resolve: async () => provider });
      break;
    case 'gcm-enc': {
      const c = createCipheriv('aes-256-gcm', key, iv);
      await pipeline(createReadStream(input, { highWaterMark: CHUNK }), c, createWriteStream(output, { highWaterMark: CHUNK }));
      await fsp.writeFile(`${output}.tag`, c.getAuthTag());
      break;
    }
    case 'gcm-dec': {
      const d = createDecipheriv('aes-256-gcm', key, iv);
      d.setAuthTag(await fsp.readFile(`${input}.tag`));
      await pipeline(createReadStream(input, { highWaterMark: CHUNK }), d, createWriteStream(output, { highWaterMark: CHUNK }));
      break;
    }
    case 'esdk-seal':
    case 'esdk-unseal': {
      const policy = CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT;
      const kr = rawAesKeyring('local', 'bench-key', key);
      const t =
        op === 'esdk-seal'
          ? buildEncrypt(policy).encryptStream(kr, {
              suiteId: AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY,
              frameLength,
            })
          : buildDecrypt(policy).decryptUnsignedMessageStream(kr);
      await pipeline(createReadStream(input, { highWaterMark: CHUNK }), t, createWriteStream(output, { highWaterMark: CHUNK }));
      break;
    }
    default:
      throw new Error(`unknown op ${op}`);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stdout.write(`${JSON.stringify({ seconds, maxRssKiB: process.resourceUsage().maxRSS })}\n`);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
