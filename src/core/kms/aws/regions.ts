/**
 * AWS regions from the AWS SDK's partition data (`@aws-sdk/core`'s `partition()`, the table the SDK
 * resolves endpoints with, updated with every SDK release): no region list is written here.
 *
 * The SDK exposes the data one region at a time, so the names are found by asking it about every
 * name of AWS's region scheme (`<area>-<direction>-<n>`); `partition(r).description` is set only for
 * the regions in the table. About 1,500 look-ups, once per process.
 */
import { partition } from '@aws-sdk/core/client';

const AREAS = ['us', 'eu', 'ap', 'sa', 'ca', 'me', 'af', 'il', 'mx', 'cn', 'us-gov', 'us-iso', 'us-isob', 'eu-isoe', 'us-isof'];
const DIRECTIONS = ['east', 'west', 'north', 'south', 'central', 'northeast', 'northwest', 'southeast', 'southwest'];

export interface AwsPartitionInfo {
  /** `aws`, `aws-cn`, `aws-us-gov`, ... */
  name: string;
  /** `amazonaws.com`, `amazonaws.com.cn` */
  dnsSuffix: string;
  /** `US East (N. Virginia)` when the region is in the table. */
  description?: string;
}

export function partitionOf(region: string): AwsPartitionInfo {
  const p = partition(region) as { name: string; dnsSuffix: string; description?: string };
  return { name: p.name, dnsSuffix: p.dnsSuffix, description: p.description };
}

let table: Map<string, string[]> | undefined;

/** Every region of the SDK's table, by partition name, sorted. */
export function partitionRegions(): ReadonlyMap<string, readonly string[]> {
  if (!table) {
    const t = new Map<string, string[]>();
    for (const area of AREAS)
      for (const dir of DIRECTIONS)
        for (let n = 1; n <= 9; n++) {
          const region = `${area}-${dir}-${n}`;
          const p = partitionOf(region);
          if (p.description === undefined) continue;
          if (!t.has(p.name)) t.set(p.name, []);
          t.get(p.name)!.push(region);
        }
    for (const list of t.values()) list.sort();
    table = t;
  }
  return table;
}

/** The regions of the partition `region` belongs to (the partition an account lives in), sorted. */
export function regionsOfPartition(region: string): string[] {
  return [...(partitionRegions().get(partitionOf(region).name) ?? [])];
}

/** The public KMS host of a region: `kms.<region>.<dnsSuffix>`. */
export function publicKmsHost(region: string): string {
  return `kms.${region}.${partitionOf(region).dnsSuffix}`;
}
