/**
 * `--seed`: a few keys per cloud in two regions of the "default" account, in the states a user
 * wants to see (enabled, disabled, pending deletion). Done once per state file.
 */
import type { Cloud, EmulatorStore, StoredKey } from './state';

export const SEED_REGIONS: Record<Cloud, [string, string]> = {
  tencent: ['ap-guangzhou', 'ap-shanghai'],
  alibaba: ['cn-hangzhou', 'cn-shanghai'],
};

const PENDING_DAYS = 7;

/** Seeds the store unless it was seeded before. Returns the number of keys created. */
export function seedStore(store: EmulatorStore, now: () => number = Date.now): number {
  if (store.seeded) return 0;
  let n = 0;
  for (const cloud of ['tencent', 'alibaba'] as const) {
    for (const region of SEED_REGIONS[cloud]) {
      for (const kind of ['enabled', 'disabled', 'pending-deletion'] as const) {
        const name = `seed-${kind}`;
        const base: Omit<StoredKey, 'keyId' | 'material' | 'versionId' | 'createdAt'> = {
          cloud,
          account: 'default',
          region,
          description: `Seeded by kms-envelope emulator --seed (${kind.replace('-', ' ')})`,
          state: 'Enabled',
          keyUsage: cloud === 'tencent' ? 'ENCRYPT_DECRYPT' : 'ENCRYPT/DECRYPT',
          spec: cloud === 'tencent' ? '1' : 'Aliyun_AES_256',
          origin: cloud === 'tencent' ? 'TENCENT_KMS' : 'Aliyun_KMS',
          protectionLevel: cloud === 'alibaba' ? 'SOFTWARE' : undefined,
          rotationEnabled: false,
          rotateDays: 365,
          ...(cloud === 'tencent' ? { alias: name } : { aliases: [`alias/${name}`] }),
        };
        if (kind === 'disabled') base.state = 'Disabled';
        if (kind === 'pending-deletion') {
          base.state = cloud === 'tencent' ? 'PendingDelete' : 'PendingDeletion';
          base.deletionDate = now() + PENDING_DAYS * 86_400_000;
        }
        store.createKey(base);
        n++;
      }
    }
  }
  store.seeded = true;
  store.changed();
  return n;
}
