/**
 * The emulator's fake cloud: accounts (credential sets) and keys per cloud, account and region,
 * with their key material. Kept in memory; with a state file it is loaded at start and written
 * back atomically (mode 0600) shortly after every change and on stop.
 *
 * The state file holds emulator credentials and key material in the clear: it is a test fixture
 * of the emulator's own fake cloud, never a place for real secrets, and never used for real data.
 */
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { writeFileAtomic } from '../core/atomic';
import { nullLogger, type Logger } from '../core/log';
import type { StoredInstance } from './instance';

export type Cloud = 'tencent' | 'alibaba' | 'aws';
export const CLOUDS: readonly Cloud[] = ['tencent', 'alibaba', 'aws'];

export const STATE_FORMAT = 'kms-envelope-emulator-state';
export const STATE_VERSION = 1;

export interface TencentCredential {
  secretId: string;
  secretKey: string;
  /** When set, requests with this SecretId must carry it as X-TC-Token (STS-style temporary credentials). */
  token?: string;
}

export interface AlibabaCredential {
  accessKeyId: string;
  accessKeySecret: string;
  /** When set, requests with this AccessKeyId must carry it (V2 SecurityToken / V3 x-acs-security-token). */
  securityToken?: string;
}

export interface AwsCredential {
  accessKeyId: string;
  secretAccessKey: string;
  /** When set, requests with this access key id must carry it as X-Amz-Security-Token (STS session credentials). */
  sessionToken?: string;
  /** Session credentials of the same account whose session has ended (ExpiredTokenException); "sts" only. */
  expired?: { accessKeyId: string; secretAccessKey: string; sessionToken: string };
}

export interface StoredAccount {
  name: string;
  /** Tencent account UIN (CreatorUin / owner of the keys). */
  uin: string;
  /** Alibaba account id (in ARNs). */
  aliUid: string;
  tencent: TencentCredential;
  alibaba: AlibabaCredential;
  /** AWS account id (12 digits, in ARNs). */
  awsAccountId: string;
  aws: AwsCredential;
}

export interface StoredKey {
  cloud: Cloud;
  /** Account name. */
  account: string;
  region: string;
  keyId: string;
  /** 32 bytes of AES-256 key material, base64. */
  material: string;
  /** Alibaba key version id (one version per key in the emulator). */
  versionId: string;
  /** Creation time, unix ms. */
  createdAt: number;
  /** Creation order (keys created in the same millisecond still list in order). */
  seq?: number;
  description: string;
  /** Tencent: Enabled|Disabled|PendingDelete|PendingImport|Archived. Alibaba: Enabled|Disabled|PendingDeletion|PendingImport. */
  state: string;
  keyUsage: string;
  /** Tencent: Type (1 KMS-generated, 2 EXTERNAL). Alibaba: KeySpec. */
  spec: string;
  origin: string;
  protectionLevel?: string;
  /** Tencent: the one alias of the key. */
  alias?: string;
  /** Alibaba and AWS: alias names (alias/...) of the key. */
  aliases?: string[];
  /** AWS: creation and last update (unix ms) of each alias of the key. */
  aliasDates?: Record<string, { created: number; updated: number }>;
  /** AWS: who manages the key (CUSTOMER, or AWS for an AWS managed key). */
  manager?: string;
  /** Unix ms when a scheduled deletion happens. */
  deletionDate?: number;
  rotationEnabled: boolean;
  /** Rotation period in days. */
  rotateDays: number;
  lastRotation?: number;
  tags?: unknown;
  /** Alibaba: the KMS 3.0 instance (kst-…) that holds the key (DKMSInstanceId). */
  instanceId?: string;
}

interface StateFile {
  format: typeof STATE_FORMAT;
  version: number;
  note: string;
  seeded: boolean;
  /** The clouds --seed has added keys to (absent in older files: Tencent and Alibaba when seeded). */
  seededClouds?: Cloud[];
  accounts: StoredAccount[];
  keys: StoredKey[];
  /** Alibaba KMS 3.0 instances (instance.ts). */
  instances?: StoredInstance[];
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
function randomAlnum(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += ALNUM[randomInt(ALNUM.length)];
  return s;
}
const digits = (n: number, lead = '1') => lead + Array.from({ length: n - lead.length }, () => String(randomInt(10))).join('');

const AWS_KEY_ID = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const awsKeyId = (prefix: 'AKIA' | 'ASIA') => prefix + Array.from({ length: 16 }, () => AWS_KEY_ID[randomInt(32)]).join('');
const awsSecret = () => randomBytes(30).toString('base64');
const awsSessionToken = () => 'IQoJb3JpZ2luX2VjE' + randomBytes(180).toString('base64');

/** AWS credentials in AWS's shapes (AKIA… permanent, ASIA… + session token for STS). */
export function newAwsCredential(sts: boolean): AwsCredential {
  if (!sts) return { accessKeyId: awsKeyId('AKIA'), secretAccessKey: awsSecret() };
  return {
    accessKeyId: awsKeyId('ASIA'),
    secretAccessKey: awsSecret(),
    sessionToken: awsSessionToken(),
    expired: { accessKeyId: awsKeyId('ASIA'), secretAccessKey: awsSecret(), sessionToken: awsSessionToken() },
  };
}

/** A fresh account with random credentials in each cloud's usual shape. */
export function newAccount(name: string, opts: { sts?: boolean } = {}): StoredAccount {
  return {
    awsAccountId: digits(12, String(1 + randomInt(9))),
    aws: newAwsCredential(!!opts.sts),
    name,
    uin: digits(10, '100'),
    aliUid: digits(16, '1'),
    tencent: { secretId: 'AKID' + randomAlnum(32), secretKey: randomAlnum(32), ...(opts.sts ? { token: randomAlnum(64) } : {}) },
    alibaba: {
      accessKeyId: (opts.sts ? 'STS.' : 'LTAI') + randomAlnum(opts.sts ? 24 : 20),
      accessKeySecret: randomAlnum(30),
      ...(opts.sts ? { securityToken: randomAlnum(96) } : {}),
    },
  };
}

/** The accounts every emulator has: two permanent credential sets and one with an STS token. */
export const DEFAULT_ACCOUNT_NAMES = ['default', 'second', 'sts'] as const;

const bucketKey = (cloud: Cloud, account: string, region: string) => `${cloud}|${account}|${region}`;

export interface StoreOptions {
  statePath?: string;
  now?: () => number;
  logger?: Logger;
  /** Delay before a change is written to the state file (ms). */
  saveDelayMs?: number;
}

export class EmulatorStore {
  readonly accounts: StoredAccount[];
  readonly instances: StoredInstance[];
  seeded: boolean;
  /** The clouds --seed has added keys to. */
  seededClouds: Cloud[];
  private readonly buckets = new Map<string, Map<string, StoredKey>>();
  private readonly byTencentId = new Map<string, StoredAccount>();
  private readonly byAlibabaId = new Map<string, StoredAccount>();
  private readonly byAwsId = new Map<string, StoredAccount>();
  private readonly now: () => number;
  private readonly log: Logger;
  private saveTimer?: NodeJS.Timeout;
  private saving: Promise<void> = Promise.resolve();
  private dirty = false;
  private seq = 0;

  private constructor(
    data: { accounts: StoredAccount[]; keys: StoredKey[]; seeded: boolean; seededClouds?: Cloud[]; instances?: StoredInstance[] },
    private readonly opts: StoreOptions,
  ) {
    this.accounts = data.accounts;
    this.instances = data.instances ?? [];
    this.seeded = data.seeded;
    this.seededClouds = data.seededClouds ?? (data.seeded ? ['tencent', 'alibaba'] : []);
    this.now = opts.now ?? Date.now;
    this.log = opts.logger ?? nullLogger;
    for (const a of this.accounts) {
      this.byTencentId.set(a.tencent.secretId, a);
      this.byAlibabaId.set(a.alibaba.accessKeyId, a);
      this.byAwsId.set(a.aws.accessKeyId, a);
      if (a.aws.expired) this.byAwsId.set(a.aws.expired.accessKeyId, a);
    }
    for (const k of data.keys) {
      this.bucket(k.cloud, k.account, k.region).set(k.keyId, k);
      this.seq = Math.max(this.seq, k.seq ?? 0);
    }
  }

  /** Loads the state file (creating accounts when it is new or absent), or a fresh in-memory store. */
  static async open(opts: StoreOptions = {}): Promise<EmulatorStore> {
    let data: StateFile | undefined;
    if (opts.statePath) {
      let text: string | undefined;
      try {
        text = await fsp.readFile(opts.statePath, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      if (text !== undefined) {
        try {
          data = JSON.parse(text) as StateFile;
        } catch {
          throw new Error(
            `The emulator state file ${opts.statePath} is not valid JSON. Move it away (or delete it) to start with a new fake cloud.`,
          );
        }
        if (data.format !== STATE_FORMAT || !Array.isArray(data.accounts) || !Array.isArray(data.keys)) {
          throw new Error(
            `${opts.statePath} is not a kms-envelope emulator state file (format "${STATE_FORMAT}"). Pass another --state path.`,
          );
        }
        if (data.version > STATE_VERSION) {
          throw new Error(
            `The emulator state file ${opts.statePath} has version ${data.version}; this emulator reads version ${STATE_VERSION}. Use a newer kms-envelope or another --state path.`,
          );
        }
      }
    }
    const accounts = data?.accounts ?? [];
    for (const name of DEFAULT_ACCOUNT_NAMES) {
      if (!accounts.some((a) => a.name === name)) accounts.push(newAccount(name, { sts: name === 'sts' }));
    }
    // State files from before the AWS front end: their accounts get AWS credentials now.
    let upgraded = false;
    for (const a of accounts) {
      if (a.aws) continue;
      const fresh = newAccount(a.name, { sts: a.name === 'sts' });
      a.awsAccountId = fresh.awsAccountId;
      a.aws = fresh.aws;
      upgraded = true;
    }
    const store = new EmulatorStore(
      { accounts, keys: data?.keys ?? [], seeded: data?.seeded ?? false, seededClouds: data?.seededClouds, instances: data?.instances },
      opts,
    );
    if (opts.statePath && (!data || upgraded || accounts.length !== data.accounts.length)) {
      store.dirty = true;
      await store.flush();
    }
    return store;
  }

  get statePath(): string | undefined {
    return this.opts.statePath;
  }

  accountByTencentId(secretId: string): StoredAccount | undefined {
    return this.byTencentId.get(secretId);
  }

  accountByAlibabaId(accessKeyId: string): StoredAccount | undefined {
    return this.byAlibabaId.get(accessKeyId);
  }

  /** The account an AWS access key id (current or expired session) belongs to. */
  accountByAwsId(accessKeyId: string): StoredAccount | undefined {
    return this.byAwsId.get(accessKeyId);
  }

  account(name: string): StoredAccount | undefined {
    return this.accounts.find((a) => a.name === name);
  }

  private bucket(cloud: Cloud, account: string, region: string): Map<string, StoredKey> {
    const k = bucketKey(cloud, account, region);
    let b = this.buckets.get(k);
    if (!b) {
      b = new Map();
      this.buckets.set(k, b);
    }
    return b;
  }

  /** Removes keys whose scheduled deletion date has passed (the cloud deletes them then). */
  private purge(b: Map<string, StoredKey>): void {
    const now = this.now();
    for (const [id, k] of b) {
      if (k.deletionDate !== undefined && k.deletionDate <= now && (k.state === 'PendingDelete' || k.state === 'PendingDeletion')) {
        b.delete(id);
        this.changed();
      }
    }
  }

  /** Keys of one cloud, account and region, oldest first (in creation order). */
  keys(cloud: Cloud, account: string, region: string): StoredKey[] {
    const b = this.bucket(cloud, account, region);
    this.purge(b);
    return [...b.values()].sort((x, y) => x.createdAt - y.createdAt || (x.seq ?? 0) - (y.seq ?? 0) || (x.keyId < y.keyId ? -1 : 1));
  }

  key(cloud: Cloud, account: string, region: string, keyId: string): StoredKey | undefined {
    const b = this.bucket(cloud, account, region);
    const k = b.get(keyId);
    if (k && k.deletionDate !== undefined && k.deletionDate <= this.now()) this.purge(b);
    return b.get(keyId);
  }

  count(cloud: Cloud, account: string, region: string): number {
    return this.bucket(cloud, account, region).size;
  }

  /** Creates a key with fresh material; the caller fills in cloud-specific fields. */
  createKey(init: Omit<StoredKey, 'keyId' | 'material' | 'versionId' | 'createdAt'> & { createdAt?: number; keyId?: string }): StoredKey {
    const key: StoredKey = {
      ...init,
      keyId: init.keyId ?? randomUUID(),
      material: randomBytes(32).toString('base64'),
      versionId: randomUUID(),
      createdAt: init.createdAt ?? this.now(),
      seq: ++this.seq,
    };
    this.bucket(key.cloud, key.account, key.region).set(key.keyId, key);
    this.changed();
    return key;
  }

  /** Marks the state as changed: it is written to the state file shortly. */
  changed(): void {
    if (!this.opts.statePath) return;
    this.dirty = true;
    if (this.saveTimer) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      void this.flush().catch((err: unknown) =>
        this.log.error(`emulator: writing the state file ${this.opts.statePath} failed: ${(err as Error).message}`),
      );
    }, this.opts.saveDelayMs ?? 100);
    this.saveTimer.unref();
  }

  /** Writes pending changes now (atomic write, mode 0600). */
  async flush(): Promise<void> {
    if (this.saveTimer) {
      clearTimeout(this.saveTimer);
      this.saveTimer = undefined;
    }
    const path = this.opts.statePath;
    if (!path) return;
    this.saving = this.saving.then(async () => {
      if (!this.dirty) return;
      this.dirty = false;
      const file: StateFile = {
        format: STATE_FORMAT,
        version: STATE_VERSION,
        note: 'kms-envelope emulator state: fake test credentials and key material in the clear. For testing only; never put real secrets or data under these keys.',
        seeded: this.seeded,
        seededClouds: this.seededClouds,
        accounts: this.accounts,
        keys: [...this.buckets.values()].flatMap((b) => [...b.values()]),
        instances: this.instances,
      };
      try {
        await writeFileAtomic(path, JSON.stringify(file, null, 1) + '\n', 0o600);
      } catch (err) {
        this.dirty = true;
        throw err;
      }
    });
    return this.saving;
  }
}
