/**
 * `--seed`: a few keys per cloud in two regions of the "default" account, in the states a user
 * wants to see (enabled, disabled, pending deletion); AWS also gets an AWS managed key. Done once
 * per cloud and state file (a state seeded before a cloud existed gets that cloud's keys later).
 */
import { CLOUDS, type Cloud, type EmulatorStore, type StoredKey } from './state';

export const SEED_REGIONS: Record<Cloud, [string, string]> = {
  tencent: ['ap-guangzhou', 'ap-shanghai'],
  alibaba: ['cn-hangzhou', 'cn-shanghai'],
  aws: ['us-east-1', 'eu-west-1'],
};

const SEED_SHAPE: Record<Cloud, Pick<StoredKey, 'keyUsage' | 'spec' | 'origin' | 'protectionLevel' | 'manager'> & { pending: string }> = {
  tencent: { keyUsage: 'ENCRYPT_DECRYPT', spec: '1', origin: 'TENCENT_KMS', pending: 'PendingDelete' },
  alibaba: {
    keyUsage: 'ENCRYPT/DECRYPT',
    spec: 'Aliyun_AES_256',
    origin: 'Aliyun_KMS',
    protectionLevel: 'SOFTWARE',
    pending: 'PendingDeletion',
  },
  aws: { keyUsage: 'ENCRYPT_DECRYPT', spec: 'SYMMETRIC_DEFAULT', origin: 'AWS_KMS', manager: 'CUSTOMER', pending: 'PendingDeletion' },
};

const PENDING_DAYS = 7;

/** Seeds the store unless it was seeded before. Returns the number of keys created. */
export function seedStore(store: EmulatorStore, now: () => number = Date.now): number {
  let n = 0;
  for (const cloud of CLOUDS) {
    if (store.seededClouds.includes(cloud)) continue;
    const { pending, ...shape } = SEED_SHAPE[cloud];
    for (const region of SEED_REGIONS[cloud]) {
      for (const kind of ['enabled', 'disabled', 'pending-deletion'] as const) {
        const name = `seed-${kind}`;
        const base: Omit<StoredKey, 'keyId' | 'material' | 'versionId' | 'createdAt'> = {
          cloud,
          account: 'default',
          region,
          description: `Seeded by kms-envelope emulator --seed (${kind.replace('-', ' ')})`,
          state: 'Enabled',
          ...shape,
          rotationEnabled: false,
          rotateDays: 365,
          ...(cloud === 'tencent' ? { alias: name } : { aliases: [`alias/${name}`] }),
        };
        if (kind === 'disabled') base.state = 'Disabled';
        if (kind === 'pending-deletion') {
          base.state = pending;
          base.deletionDate = now() + PENDING_DAYS * 86_400_000;
        }
        store.createKey(base);
        n++;
      }
    }
    if (cloud === 'aws') {
      // What every AWS account has: a key that an AWS service created and manages (alias/aws/…).
      store.createKey({
        cloud,
        account: 'default',
        region: SEED_REGIONS.aws[0],
        description: 'Default key that protects my Secrets Manager data when no other key is defined',
        state: 'Enabled',
        ...shape,
        manager: 'AWS',
        rotationEnabled: true,
        rotateDays: 365,
        aliases: ['alias/aws/secretsmanager'],
      });
      n++;
    }
    store.seededClouds.push(cloud);
  }
  store.seeded = true;
  if (n > 0) store.changed();
  return n;
}
