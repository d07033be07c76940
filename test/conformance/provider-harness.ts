// Factories for the provider conformance suite (providers.test.ts): one per provider, each giving
// a fresh provider plus what differs between clouds (error codes, regions, state rules).
// Cloud providers talk through the official SDKs to a fresh emulator on 127.0.0.1.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ErrorKind } from '../../src/core/errors';
import type { CloudCredentials } from '../../src/core/credentials/types';
import type { KeyState, KmsProvider } from '../../src/core/kms/types';
import { MemorySecretStore } from '../../src/core/secrets';
import { LocalKmsProvider, LOCAL_ERROR_CODES } from '../../src/core/kms/local/index';
import { TencentKmsProvider } from '../../src/core/kms/tencent/index';
import { AlibabaKmsProvider } from '../../src/core/kms/alibaba/index';
import { AwsKmsProvider } from '../../src/core/kms/aws/index';
import { AlibabaInstanceProvider } from '../../src/core/kms/alibaba-instance/provider';
import type { CloudProviderOptions } from '../../src/core/kms/cloud-call';
import type { AccessKeyCredentials } from '../../src/core/kms/access-key';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index';

/** Test retry policy: the production attempt count for errors, four for throttling too, short waits (no seconds of backoff). */
export const TEST_RETRY = {
  maxAttempts: 4,
  baseDelayMs: 5,
  maxDelayMs: 20,
  throttleMaxAttempts: 4,
  throttleBaseDelayMs: 5,
  throttleMaxDelayMs: 20,
};

export type InjectedFault = 'throttle' | 'error' | 'unavailable' | 'drop';

export interface EmulatorControl {
  raw: RunningEmulator;
  resetCounters(): void;
  /** Requests the emulator saw for one action of this cloud. */
  count(action: string): number;
  /** The next `n` requests of this cloud (or of one action) fail with `kind`. */
  injectFailures(kind: InjectedFault, n: number, action?: string): void;
  setLatency(ms: number): void;
  clearFaults(): void;
  /** Requests since the last reset, per gateway (tencent, alibaba, aws, instance). */
  byGateway(): Record<string, number>;
}

export interface Harness {
  provider: KmsProvider;
  regionA: string;
  /** A second region of the same cloud; absent for local (one region). */
  regionB?: string;
  /** A region only the paging test writes to. */
  regionPaging: string;
  codes: { disabled: string; pendingDeletion: string; notPendingDeletion?: string; mustBeDisabled?: string };
  /** How an alias is written in a keyref for this provider. */
  aliasRef(alias: string): string;
  /** A well-formed key id that does not exist. */
  missingKeyId: string;
  /** Error kind of a Decrypt refused for a wrong context / tampered blob. */
  decryptFailureKind: ErrorKind;
  /** State of a key after its deletion is cancelled. */
  stateAfterCancel: KeyState;
  emulator?: EmulatorControl;
  /** The same provider pointed at another endpoint / other credentials (clouds only). */
  withEndpoint(url: string): KmsProvider;
  withCredentials(c: CloudCredentials): KmsProvider;
  accessKeyId: string;
  /** Temporary credentials (with a session token) of the emulator's "sts" account. */
  stsCredentials?: CloudCredentials;
  /** The same cloud provider against a fresh emulator whose clock is `skewMs` ahead. */
  withSkewedEmulator?(skewMs: number): Promise<{ provider: KmsProvider; stop(): Promise<void> }>;
  /** The provider's SDK corrects its clock from the cloud's answer and sends again (AWS), instead of failing. */
  correctsClockSkew?: boolean;
  /** The action that lists keys (Tencent ListKeyDetail, Alibaba ListKeys). */
  listAction: string;
  /**
   * Creates, disables and schedules the deletion of the keys the data-key tests use when the
   * provider under test cannot (an instance-only profile); absent: the provider itself.
   */
  admin?: KmsProvider;
  /**
   * One request that must reach the endpoint (dead endpoint, latency, clock skew, cancellation);
   * absent: listRegions (and listKeys for an already cancelled signal).
   */
  probe?(p: KmsProvider, signal?: AbortSignal): Promise<unknown>;
  /** The provider code of a request refused for its date (absent: SignatureExpire / InvalidTimeStamp.Expired). */
  clockSkewCode?: RegExp;
  /** The same provider with a wrong secret, and what the refusal's hint says (absent: withCredentials, "profiles test"). */
  withWrongSecret?(): { provider: KmsProvider; hint: RegExp };
  /** Which gateway of the emulator gets the key operations and which the management calls (emulator counters). */
  gateways?: { keyOperations: string; management?: string };
  dispose(): Promise<void>;
}

export interface HarnessFactory {
  /** The provider's name (suite titles). */
  label: string;
  remote: boolean;
  deletionRequiresDisabled: boolean;
  /** False for a profile that cannot list or manage keys (an instance-only profile); default true. */
  manages?: boolean;
  /** False when the profile does not sign with an AccessKey (no STS tests); default true. */
  accessKey?: boolean;
  create(): Promise<Harness>;
}

/**
 * The emulator's counters and faults for one cloud. `route` names the counter of an action when it
 * is not `<cloud>:<action>` (the instance gateway's Advance* APIs); an action without one is `cloud`'s.
 */
function control(em: RunningEmulator, cloud: 'tencent' | 'alibaba' | 'aws', route: Record<string, string> = {}): EmulatorControl {
  const selector = (action: string) => route[action] ?? `${cloud}:${action}`;
  return {
    raw: em,
    resetCounters: () => em.resetCounters(),
    count: (action) => em.counters()[selector(action)] ?? 0,
    injectFailures: (kind, n, action) =>
      em.setFaults(
        action
          ? { [selector(action)]: { [kind]: { count: n } } }
          : Object.fromEntries(
              [...new Set([`${cloud}:*`, ...Object.values(route).map((r) => `${r.split(':')[0]}:*`)])].map((g) => [
                g,
                { [kind]: { count: n } },
              ]),
            ),
      ),
    setLatency: (ms) => em.setFaults({ '*': { latencyMs: ms } }),
    clearFaults: () => em.setFaults({}),
    byGateway: () => {
      const out: Record<string, number> = {};
      for (const [k, v] of Object.entries(em.counters())) {
        const i = k.indexOf(':');
        if (i > 0 && v > 0) out[k.slice(0, i)] = (out[k.slice(0, i)] ?? 0) + v;
      }
      return out;
    },
  };
}

const local: HarnessFactory = {
  label: 'local',
  remote: false,
  deletionRequiresDisabled: true,
  async create() {
    const dir = await mkdtemp(join(tmpdir(), 'kms-conformance-local-'));
    const provider = new LocalKmsProvider({ secretStore: new MemorySecretStore(), configDir: dir });
    const unsupported = (): KmsProvider => {
      throw new Error('the local provider has no endpoint or credentials');
    };
    return {
      provider,
      regionA: 'local',
      regionPaging: 'local',
      codes: {
        disabled: LOCAL_ERROR_CODES.disabled,
        pendingDeletion: LOCAL_ERROR_CODES.pendingDeletion,
        notPendingDeletion: LOCAL_ERROR_CODES.notPendingDeletion,
        mustBeDisabled: LOCAL_ERROR_CODES.mustBeDisabled,
      },
      aliasRef: (a) => a,
      missingKeyId: 'local-00000000-0000-4000-8000-000000000000',
      decryptFailureKind: 'format',
      stateAfterCancel: 'Disabled',
      withEndpoint: unsupported,
      withCredentials: unsupported,
      accessKeyId: '',
      listAction: '',
      dispose: () => rm(dir, { recursive: true, force: true }),
    };
  },
};

function cloudFactory(label: 'tencent' | 'alibaba'): HarnessFactory {
  return {
    label,
    remote: true,
    deletionRequiresDisabled: label === 'tencent',
    async create() {
      const em = await startEmulator({ port: 0 });
      const acct = em.accounts.find((a) => a.name === 'default') ?? em.accounts[0];
      const creds: AccessKeyCredentials =
        label === 'tencent'
          ? { accessKeyId: acct.tencent.secretId, accessKeySecret: acct.tencent.secretKey }
          : { accessKeyId: acct.alibaba.accessKeyId, accessKeySecret: acct.alibaba.accessKeySecret };
      const made: Array<{ dispose(): void }> = [];
      const build = (endpoint: string, c: CloudCredentials): KmsProvider => {
        const opts: CloudProviderOptions = {
          profile: 'conformance',
          credentials: async () => c,
          endpoint,
          retry: TEST_RETRY,
          timeoutMs: 5000,
        };
        const p = label === 'tencent' ? new TencentKmsProvider(opts) : new AlibabaKmsProvider(opts);
        made.push(p);
        return p;
      };
      const provider = build(em.url, creds);
      const credsOf = (x: (typeof em.accounts)[number]): CloudCredentials =>
        label === 'tencent'
          ? { accessKeyId: x.tencent.secretId, accessKeySecret: x.tencent.secretKey, securityToken: x.tencent.token }
          : { accessKeyId: x.alibaba.accessKeyId, accessKeySecret: x.alibaba.accessKeySecret, securityToken: x.alibaba.securityToken };
      const sts = em.accounts.find((x) => x.name === 'sts');
      return {
        provider,
        regionA: label === 'tencent' ? 'ap-guangzhou' : 'cn-hangzhou',
        regionB: label === 'tencent' ? 'ap-shanghai' : 'cn-shanghai',
        regionPaging: label === 'tencent' ? 'ap-tokyo' : 'ap-northeast-1',
        codes:
          label === 'tencent'
            ? {
                disabled: 'ResourceUnavailable.CmkDisabled',
                pendingDeletion: 'ResourceUnavailable.KeyPendingDelete',
                notPendingDeletion: 'ResourceUnavailable.CmkNotPendingDelete',
                mustBeDisabled: 'ResourceUnavailable.CmkShouldBeDisabled',
              }
            : {
                disabled: 'Rejected.Disabled',
                pendingDeletion: 'Rejected.PendingDeletion',
                notPendingDeletion: 'Rejected.StateModifiedFailed',
              },
        aliasRef: (a) => (label === 'tencent' ? a : `alias/${a}`),
        missingKeyId: '00000000-0000-4000-8000-000000000000',
        decryptFailureKind: 'provider',
        // Alibaba documents that a cancelled deletion re-enables the key; Tencent leaves it disabled.
        stateAfterCancel: label === 'tencent' ? 'Disabled' : 'Enabled',
        emulator: control(em, label),
        withEndpoint: (url) => build(url, creds),
        withCredentials: (c) => build(em.url, c),
        accessKeyId: creds.accessKeyId,
        stsCredentials: sts ? credsOf(sts) : undefined,
        async withSkewedEmulator(skewMs) {
          const skewed = await startEmulator({ port: 0, now: () => Date.now() + skewMs });
          const p = build(skewed.url, credsOf(skewed.accounts[0]));
          return { provider: p, stop: () => skewed.stop() };
        },
        listAction: label === 'tencent' ? 'ListKeyDetail' : 'ListKeys',
        gateways: { keyOperations: label, management: label },
        async dispose() {
          for (const p of made) p.dispose();
          await em.stop();
        },
      };
    },
  };
}

/** AWS KMS through @aws-sdk/client-kms against the emulator's AWS JSON 1.1 front end. */
const aws: HarnessFactory = {
  label: 'aws',
  remote: true,
  deletionRequiresDisabled: false,
  async create() {
    const em = await startEmulator({ port: 0 });
    const credsOf = (x: (typeof em.accounts)[number]): CloudCredentials => ({
      accessKeyId: x.aws.accessKeyId,
      accessKeySecret: x.aws.secretAccessKey,
      securityToken: x.aws.sessionToken,
    });
    const creds = credsOf(em.accounts.find((a) => a.name === 'default') ?? em.accounts[0]);
    const made: AwsKmsProvider[] = [];
    const build = (endpoint: string, c: CloudCredentials): KmsProvider => {
      const p = new AwsKmsProvider({ profile: 'conformance', credentials: async () => c, endpoint, retry: TEST_RETRY, timeoutMs: 5000 });
      made.push(p);
      return p;
    };
    const sts = em.accounts.find((x) => x.name === 'sts');
    return {
      provider: build(em.url, creds),
      regionA: 'us-east-1',
      regionB: 'eu-west-1',
      regionPaging: 'ap-southeast-2',
      codes: {
        disabled: 'DisabledException',
        pendingDeletion: 'KMSInvalidStateException',
        notPendingDeletion: 'KMSInvalidStateException',
      },
      aliasRef: (a) => `alias/${a}`,
      missingKeyId: '00000000-0000-4000-8000-000000000000',
      decryptFailureKind: 'provider',
      stateAfterCancel: 'Disabled',
      emulator: control(em, 'aws'),
      withEndpoint: (url) => build(url, creds),
      withCredentials: (c) => build(em.url, c),
      accessKeyId: creds.accessKeyId!,
      stsCredentials: sts ? credsOf(sts) : undefined,
      async withSkewedEmulator(skewMs) {
        const skewed = await startEmulator({ port: 0, now: () => Date.now() + skewMs });
        const p = build(skewed.url, credsOf(skewed.accounts[0]));
        return { provider: p, stop: () => skewed.stop() };
      },
      correctsClockSkew: true,
      listAction: 'ListKeys',
      gateways: { keyOperations: 'aws', management: 'aws' },
      async dispose() {
        for (const p of made) p.dispose();
        await em.stop();
      },
    };
  },
};

/** Key operations of an Alibaba KMS 3.0 profile go to the instance gateway's Advance* APIs. */
const INSTANCE_ROUTE = {
  GenerateDataKey: 'instance:AdvanceGenerateDataKey',
  Encrypt: 'instance:AdvanceEncrypt',
  Decrypt: 'instance:AdvanceDecrypt',
};

/**
 * Alibaba Cloud KMS 3.0 profiles against the emulator's instance gateway (HTTPS, its own CA, a
 * client key): `transfer` also holds an AccessKey, so management goes to the public gateway
 * (keys are created in the instance); `instance` has the client key only: it seals and unseals,
 * and the keys it uses are made through a transfer profile of the same instance.
 */
function instanceFactory(kind: 'instance' | 'transfer'): HarnessFactory {
  return {
    label: `alibaba-instance (${kind === 'transfer' ? 'transfer profile: client key + AccessKey' : 'instance-only profile: client key'})`,
    remote: true,
    deletionRequiresDisabled: false,
    manages: kind === 'transfer',
    accessKey: false,
    async create() {
      const em = await startEmulator({ port: 0, instance: true });
      const made: Array<{ dispose(): void }> = [];
      const build = (
        target: RunningEmulator,
        o: { endpoint?: string; password?: string; management: boolean },
      ): AlibabaInstanceProvider => {
        const i = target.instance!;
        const a = target.accounts[0].alibaba;
        const p = new AlibabaInstanceProvider({
          name: 'alibaba-instance',
          profile: 'conformance',
          endpoint: o.endpoint ?? i.url,
          region: i.region,
          caPem: i.caPem,
          secrets: async () => ({ clientKey: i.clientKey.json, password: o.password ?? i.clientKey.password }),
          management: o.management
            ? async () => {
                const pub = new AlibabaKmsProvider({
                  profile: 'conformance',
                  credentials: async () => ({ accessKeyId: a.accessKeyId, accessKeySecret: a.accessKeySecret }),
                  endpoint: target.url,
                  retry: TEST_RETRY,
                  timeoutMs: 5000,
                });
                made.push(pub);
                return pub;
              }
            : undefined,
          retry: TEST_RETRY,
          timeoutMs: 5000,
        });
        made.push(p);
        return p;
      };
      const management = kind === 'transfer';
      const provider = build(em, { management });
      const region = em.instance!.region;
      const unsupported = (): KmsProvider => {
        throw new Error('an instance profile signs with its client key, not an AccessKey');
      };
      return {
        provider,
        regionA: region,
        regionPaging: region,
        codes: {
          disabled: 'Rejected.Disabled',
          pendingDeletion: 'Rejected.PendingDeletion',
          notPendingDeletion: 'Rejected.StateModifiedFailed',
        },
        aliasRef: (alias) => `alias/${alias}`,
        missingKeyId: '00000000-0000-4000-8000-000000000000',
        decryptFailureKind: 'provider',
        stateAfterCancel: 'Enabled',
        emulator: control(em, 'alibaba', INSTANCE_ROUTE),
        // The instance gateway is HTTPS only: the dead endpoint is the same closed port over https.
        withEndpoint: (url) => build(em, { endpoint: url.replace(/^http:/, 'https:'), management }),
        withCredentials: unsupported,
        accessKeyId: '',
        async withSkewedEmulator(skewMs) {
          const skewed = await startEmulator({ port: 0, instance: true, now: () => Date.now() + skewMs });
          return { provider: build(skewed, { management }), stop: () => skewed.stop() };
        },
        listAction: 'ListKeys',
        admin: management ? undefined : build(em, { management: true }),
        probe: (p, signal) => p.generateDataKey(region, 'alias/conformance-probe', {}, { signal }),
        clockSkewCode: /^RequestTimeTooSkewed$|^InvalidParam/,
        withWrongSecret: () => ({ provider: build(em, { password: 'not-the-password', management }), hint: /_Password\.txt/ }),
        gateways: { keyOperations: 'instance', management: management ? 'alibaba' : undefined },
        async dispose() {
          for (const p of made) p.dispose();
          await em.stop();
        },
      };
    },
  };
}

export const harnesses: HarnessFactory[] = [
  local,
  cloudFactory('tencent'),
  cloudFactory('alibaba'),
  aws,
  instanceFactory('transfer'),
  instanceFactory('instance'),
];
