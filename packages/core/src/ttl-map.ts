interface Entry<V> {
  value: V;
  expires: number;
  weight: number;
}

export interface TtlMapOpts<V> {
  /** What an entry costs against `maxWeight` (e.g. the characters it holds); 0 without it. */
  weigh?: (value: V) => number;
  maxWeight?: number;
  /** Told of every entry that leaves (expired, pushed out, deleted, cleared), to drop what points at it. */
  onDrop?: (key: string, value: V) => void;
}

/**
 * A small TTL map with a bound on entries (and optionally on their summed weight); the entries
 * kept longest ago go first when it is full.
 */
export class TtlMap<V> {
  private readonly map = new Map<string, Entry<V>>();
  private weight = 0;
  constructor(
    private readonly ttlMs: number,
    private readonly max: number,
    private readonly opts: TtlMapOpts<V> = {},
  ) {}

  get(key: string): V | undefined {
    const hit = this.map.get(key);
    if (!hit) return undefined;
    if (hit.expires < Date.now()) {
      this.delete(key);
      return undefined;
    }
    return hit.value;
  }

  /** `until`: an earlier end than the TTL's (a credential's own expiry). */
  set(key: string, value: V, until?: number | null): void {
    // Deleted first, so a key kept again counts as the newest rather than keeping its old place.
    this.delete(key);
    const weight = this.opts.weigh?.(value) ?? 0;
    const maxWeight = this.opts.maxWeight ?? Number.POSITIVE_INFINITY;
    while (this.map.size > 0 && (this.map.size >= this.max || this.weight + weight > maxWeight)) {
      const oldest = this.map.keys().next().value;
      if (oldest === undefined) break;
      this.delete(oldest);
    }
    this.map.set(key, {
      value,
      expires: Math.min(Date.now() + this.ttlMs, until ?? Number.POSITIVE_INFINITY),
      weight,
    });
    this.weight += weight;
  }

  /**
   * Puts `value` in the place of the key's live entry, keeping when it expires: a notice moved it on,
   * which says nothing of the changes that send none. False when there is no live entry.
   */
  replace(key: string, value: V): boolean {
    const hit = this.map.get(key);
    if (!hit || hit.expires < Date.now()) return false;
    const weight = this.opts.weigh?.(value) ?? 0;
    this.weight += weight - hit.weight;
    this.map.set(key, { value, expires: hit.expires, weight });
    return true;
  }

  delete(key: string): void {
    const entry = this.map.get(key);
    if (!entry) return;
    this.map.delete(key);
    this.weight -= entry.weight;
    this.opts.onDrop?.(key, entry.value);
  }

  clear(): void {
    for (const key of [...this.map.keys()]) this.delete(key);
  }
}
