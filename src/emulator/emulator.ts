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
import { InstanceGateway, instanceDirFor, type InstanceFiles } from './instance';
import type { IssueOptions } from './instance-pki';
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
  /**
   * Also run an Alibaba Cloud KMS 3.0 instance gateway (HTTPS, its own CA; instance.ts) on another
   * port. `dir` holds its CA and client key files (default: beside the state file, else a
   * temporary directory removed on stop).
   */
  instance?: boolean | { port?: number; dir?: string };
}

/** A client key of the emulated instance, as the console hands it out. */
export interface EmulatorClientKey {
  id: string;
  /** The clientKey_<id>.json text. */
  json: string;
  password: string;
  notAfter: string;
}

export interface RunningInstance {
  /** https://127.0.0.1:PORT */
  url: string;
  port: number;
  /** kst-… */
  id: string;
  region: string;
  /** Account that owns the instance ("default"). */
  account: string;
  caPem: string;
  /** Paths of the CA PEM, the client key JSON and its password file. */
  files: InstanceFiles;
  clientKey: EmulatorClientKey;
  /** Issues another client key (e.g. an expired one: `{ notAfter: Date.now() - 1 }`). */
  issueClientKey(o?: IssueOptions): Promise<EmulatorClientKey>;
  revokeClientKey(id: string): void;
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
  /** The KMS 3.0 instance gateway, when started with `instance`. */
  instance?: RunningInstance;
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
  let gateway: InstanceGateway | undefined;
  if (opts.instance) {
    const io = typeof opts.instance === 'object' ? opts.instance : {};
    const where = io.dir ? { dir: io.dir, temporary: false } : instanceDirFor(opts.statePath);
    try {
      gateway = await InstanceGateway.start({
        store,
        server,
        host: opts.host ?? '127.0.0.1',
        port: io.port ?? 0,
        dir: where.dir,
        removeDirOnClose: where.temporary,
        seed: opts.seed,
        logger,
        now,
      });
    } catch (err) {
      await server.close();
      throw err;
    }
    await store.flush();
  }
  const ck = (k: { id: string; json: string; password: string; notAfter: string }): EmulatorClientKey => ({
    id: k.id,
    json: k.json,
    password: k.password,
    notAfter: k.notAfter,
  });
  const gw = gateway;
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
    instance: gw && {
      url: gw.url,
      port: gw.port,
      id: gw.id,
      region: gw.region,
      account: gw.instance.account,
      caPem: gw.instance.ca.certPem,
      files: gw.files,
      clientKey: ck(gw.clientKey),
      issueClientKey: async (o) => ck(await gw.issueClientKey(o)),
      revokeClientKey: (id) => gw.revokeClientKey(id),
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await gw?.close();
      await server.close();
      await store.flush();
    },
  };
}
