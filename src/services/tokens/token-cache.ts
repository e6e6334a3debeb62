/**
 * The token cache in front of the token table (DESIGN §5). Three rules make it safe:
 * - Bounded: a positive LRU (size + TTL) holds only tokens that exist; unknown secrets go to a
 *   separate, small negative LRU, so a flood of random secrets can neither evict valid entries
 *   nor grow memory.
 * - Revocation: every replica polls the `token_generation` counter and drops both caches when
 *   it moves. A miss reads the generation *before* its SELECT and caches the result only if no
 *   newer generation was seen meanwhile, so a lookup racing a delete never re-caches the token.
 * - Fail closed: cached entries are served at most `staleMaxMs` after the generation was last
 *   read successfully; after that every lookup is UNAVAILABLE until the database answers again.
 */
import { LRUCache } from "lru-cache";
import { unavailable } from "../../errors.js";

export interface TokenSource<V> {
  readGeneration(): Promise<number>;
  /** The record for this secret hash, or null when there is none. */
  find(hash: string): Promise<V | null>;
}

/** Test-only pause points of a miss, in order: after the generation read, after the SELECT. */
export type TokenCachePoint = "token-cache.after-generation-read" | "token-cache.after-select";

export interface TokenCacheOptions {
  size: number;
  ttlMs: number;
  /** 0 disables negative caching. */
  negativeSize: number;
  /** Default: the TTL, at most one minute (a token adopted later is found within that time). */
  negativeTtlMs?: number;
  staleMaxMs: number;
  pollIntervalMs: number;
  /** Milliseconds clock (tests pass a fake one); also drives the LRU TTLs. */
  now?: () => number;
  /** Test-only: awaited at each named point of a miss. */
  pausePoint?: (point: TokenCachePoint) => Promise<void>;
  /** Called when polls start failing (with the error) and when they succeed again: one call per outage. */
  onPollStateChange?: (ok: boolean, error?: unknown) => void;
}

export interface TokenCacheStats {
  positive: number;
  negative: number;
  /** Successful generation polls, failed polls, and cache drops caused by a moved generation. */
  polls: number;
  pollFailures: number;
  drops: number;
  /** Lookups that went to the database. */
  loads: number;
}

export class TokenCache<V extends object> {
  private readonly positive: LRUCache<string, V>;
  private readonly negative: LRUCache<string, true> | undefined;
  private readonly now: () => number;
  private readonly staleLimitMs: number;
  /** The newest generation seen; undefined until the first successful read. */
  private generation: number | undefined;
  private freshAt: number;
  private readonly loading = new Map<string, Promise<V | null>>();
  private polling: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pollFailing = false;
  private readonly counters = { polls: 0, pollFailures: 0, drops: 0, loads: 0 };

  constructor(
    private readonly source: TokenSource<V>,
    private readonly options: TokenCacheOptions,
  ) {
    this.now = options.now ?? Date.now;
    const perf = { now: this.now };
    // ttlResolution 0: read the (possibly injected) clock on every check rather than once per ms.
    const timing = { perf, ttlResolution: 0 };
    this.positive = new LRUCache<string, V>({ max: Math.max(1, options.size), ttl: options.ttlMs, ...timing });
    if (options.negativeSize > 0) {
      const ttl = options.negativeTtlMs ?? Math.min(options.ttlMs, 60_000);
      this.negative = new LRUCache<string, true>({ max: options.negativeSize, ttl, ...timing });
    }
    // A healthy poller refreshes once per interval, so a bound below two intervals would make
    // a healthy replica fail closed between polls.
    this.staleLimitMs = Math.max(options.staleMaxMs, 2 * options.pollIntervalMs);
    this.freshAt = this.now();
  }

  /**
   * The cached answer for `hash`, synchronously: the record, null when the secret is known not to
   * exist, undefined when `get` must be asked (not cached, or the cache is too stale to serve).
   * The hot path of a cached hit needs no promise.
   */
  peek(hash: string): V | null | undefined {
    if (this.now() - this.freshAt > this.staleLimitMs) return undefined;
    const hit = this.positive.get(hash);
    if (hit !== undefined) return hit;
    return this.negative?.get(hash) ? null : undefined;
  }

  /** The record for `hash` (cached or loaded), or null when no token has it. */
  get(hash: string): Promise<V | null> {
    if (this.now() - this.freshAt > this.staleLimitMs) {
      return Promise.reject(
        unavailable(
          "the token database is unreachable and cached tokens are too stale to trust",
          "DATABASE_UNAVAILABLE",
        ),
      );
    }
    const cached = this.peek(hash);
    if (cached !== undefined) return Promise.resolve(cached);
    // Concurrent misses for one secret share one database lookup.
    let pending = this.loading.get(hash);
    if (!pending) {
      pending = this.load(hash).finally(() => this.loading.delete(hash));
      this.loading.set(hash, pending);
    }
    return pending;
  }

  private async load(hash: string): Promise<V | null> {
    this.counters.loads++;
    const generation = await this.source.readGeneration();
    this.observe(generation);
    await this.options.pausePoint?.("token-cache.after-generation-read");
    const value = await this.source.find(hash);
    await this.options.pausePoint?.("token-cache.after-select");
    // A newer generation seen since our read means a delete may have committed after our
    // SELECT: answer this call, but do not cache what may already be revoked.
    if (generation === this.generation) {
      if (value === null) this.negative?.set(hash, true);
      else this.positive.set(hash, value);
    }
    return value;
  }

  /** Records a generation read from the database: drops both caches when it moved forward. */
  observe(generation: number): void {
    this.freshAt = this.now();
    if (this.generation !== undefined && generation <= this.generation) return;
    if (this.generation !== undefined) {
      this.positive.clear();
      this.negative?.clear();
      this.counters.drops++;
    }
    this.generation = generation;
  }

  /** One generation poll (shared with any poll already running). Never throws. */
  poll(): Promise<void> {
    this.polling ??= (async () => {
      try {
        this.observe(await this.source.readGeneration());
        this.counters.polls++;
        if (this.pollFailing) this.options.onPollStateChange?.(true);
        this.pollFailing = false;
      } catch (e) {
        this.counters.pollFailures++;
        if (!this.pollFailing) this.options.onPollStateChange?.(false, e);
        this.pollFailing = true;
      } finally {
        this.polling = undefined;
      }
    })();
    return this.polling;
  }

  /** Polls now, then every `pollIntervalMs` until `stop()`. */
  async start(): Promise<void> {
    if (this.timer) return;
    this.timer = setInterval(() => void this.poll(), this.options.pollIntervalMs);
    this.timer.unref();
    await this.poll();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.polling;
  }

  stats(): TokenCacheStats {
    return { positive: this.positive.size, negative: this.negative?.size ?? 0, ...this.counters };
  }
}
