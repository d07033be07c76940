/**
 * The KMS emulator: Tencent Cloud KMS (API 3.0, 2019-01-18), Alibaba Cloud KMS (2016-01-20) and
 * AWS KMS (JSON 1.1 + SigV4) wire protocols on one loopback port, for tests and offline trial. In-process:
 *
 *   const em = await startEmulator({ seed: true });   // port 0 = a free port
 *   ... em.url, em.accounts[0].tencent.secretId ...
 *   await em.stop();
 *
 * From the command line: `kms-envelope emulator` (see cli.ts).
 */
import { nullLogger, type Logger } from '../core/log';
import type { FaultConfig } from './faults';
import { seedStore } from './seed';
import { EmulatorServer } from './server';
import { EmulatorStore } from './state';

export interface EmulatorOptions {
  /** Address to bind; 127.0.0.1 unless told otherwise. */
  host?: string;
  /** 0 (default) = a free port. */
  port?: number;
  /** State file (keys, key material, credentials) persisted across restarts; in memory without it. */
  statePath?: string;
  /** Create the seed keys (once per state). */
  seed?: boolean;
  faults?: FaultConfig;
  logger?: Logger;
  /** Clock (unix ms) for signatures' skew checks and deletion dates. */
  now?: () => number;
}

export interface EmulatorAccount {
  name: string;
  /** `token` is set for the "sts" account: requests must then carry it as X-TC-Token. */
  tencent: { secretId: string; secretKey: string; token?: string };
  /** `securityToken` is set for the "sts" account: requests must carry it (SecurityToken / x-acs-security-token). */
  alibaba: { accessKeyId: string; accessKeySecret: string; securityToken?: string };
  /** Tencent account UIN of this account. */
  uin: string;
  /** Alibaba account id of this account (in ARNs). */
  aliUid: string;
  /**
   * AWS credentials; `sessionToken` is set for the "sts" account (requests must carry it as
   * X-Amz-Security-Token), whose `expired` set is refused with ExpiredTokenException.
   */
  aws: {
    accessKeyId: string;
    secretAccessKey: string;
    sessionToken?: string;
    expired?: { accessKeyId: string; secretAccessKey: string; sessionToken: string };
  };
  /** AWS account id of this account (12 digits, in key ARNs). */
  awsAccountId: string;
}

export interface RunningEmulator {
  /** http://127.0.0.1:PORT */
  url: string;
  port: number;
  /** "default", "second" (permanent credentials, separate keys) and "sts" (credentials with a session token). */
  accounts: EmulatorAccount[];
  setFaults(f: FaultConfig): void;
  faults(): FaultConfig;
  /** Requests per cloud:action, e.g. "tencent:Encrypt" or "aws:Decrypt", plus "total". */
  counters(): Record<string, number>;
  resetCounters(): void;
  /** Writes pending state changes to the state file. */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

export async function startEmulator(opts: EmulatorOptions = {}): Promise<RunningEmulator> {
  const now = opts.now ?? Date.now;
  const logger = opts.logger ?? nullLogger;
  const store = await EmulatorStore.open({ statePath: opts.statePath, now, logger });
  if (opts.seed) {
    seedStore(store, now);
    await store.flush();
  }
  const server = new EmulatorServer({ store, faults: opts.faults, logger, now });
  await server.listen(opts.host ?? '127.0.0.1', opts.port ?? 0);
  let stopped = false;
  return {
    url: server.url,
    port: server.port,
    accounts: store.accounts.map((a) => ({
      name: a.name,
      tencent: { ...a.tencent },
      alibaba: { ...a.alibaba },
      uin: a.uin,
      aliUid: a.aliUid,
      aws: { ...a.aws, ...(a.aws.expired ? { expired: { ...a.aws.expired } } : {}) },
      awsAccountId: a.awsAccountId,
    })),
    setFaults: (f) => server.faults.set(f),
    faults: () => server.faults.get(),
    counters: () => server.counters(),
    resetCounters: () => server.resetCounters(),
    flush: () => store.flush(),
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.close();
      await store.flush();
    },
  };
}
