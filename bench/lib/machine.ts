// What a bench ran on, printed with its figures: the CPUs, memory, kernel, Node and the load average at
// the time (a shared VM's load decides how far apart the rounds are).
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';

export function machine(): string {
  const cpu = os.cpus()[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown CPU';
  return `${os.cpus().length} CPUs (${cpu}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os.type()} ${os.release()}, node ${process.version}, load ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`;
}

/** The file system a folder is on, as `df` names it (device, type, mount point). */
export function fileSystemOf(dir: string): string {
  const r = spawnSync('df', ['-P', '-T', dir], { encoding: 'utf8' });
  const cols = (r.stdout ?? '').trim().split('\n').at(-1)?.split(/\s+/) ?? [];
  return cols.length >= 7 ? `${cols[0]} (${cols[1]}) on ${cols[6]}` : 'unknown file system';
}
