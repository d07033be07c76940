/** A short TTL cache of promises, single flight per key (alias lookups, alias maps of a region). */
export class TtlCache<V> {
  private readonly m = new Map<string, { at: number; v: Promise<V> }>();
  constructor(private readonly ttlMs: number) {}
  get(key: string, load: () => Promise<V>): Promise<V> {
    const hit = this.m.get(key);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.v;
    const v = load();
    this.m.set(key, { at: Date.now(), v });
    v.catch(() => {
      if (this.m.get(key)?.v === v) this.m.delete(key);
    });
    return v;
  }
  set(key: string, value: V): void {
    this.m.set(key, { at: Date.now(), v: Promise.resolve(value) });
  }
  /** Drops every entry whose key starts with `prefix`. */
  delete(prefix: string): void {
    for (const k of this.m.keys()) if (k.startsWith(prefix)) this.m.delete(k);
  }
}
