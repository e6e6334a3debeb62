/**
 * Retries `unavailable` errors with capped exponential backoff and full jitter. Wrap it around
 * a counting layer (if any) so each attempt is counted: Retrying(Counting(S3)).
 */
import {
  isStorageUnavailable,
  listAll,
  type DeleteFailure,
  type GetOptions,
  type GetResult,
  type ListOptions,
  type KeyPage,
  type ListPage,
  type ObjectHead,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
  type StatOptions,
} from "./object-store.js";

export interface RetryOptions {
  /** Total attempts per operation, first one included (default 4). */
  maxAttempts?: number;
  /** Backoff before retry n is random in [0, min(maxDelayMs, baseDelayMs·2^(n-1))] (default 100 ms). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Told about each retry (for logs and metrics). */
  onRetry?: (info: { op: string; key: string; attempt: number; delayMs: number; error: unknown }) => void;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class RetryingStore implements ObjectStore {
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly random: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly onRetry: RetryOptions["onRetry"];

  constructor(
    readonly inner: ObjectStore,
    opts: RetryOptions = {},
  ) {
    this.maxAttempts = Math.max(1, opts.maxAttempts ?? 4);
    this.baseDelayMs = opts.baseDelayMs ?? 100;
    this.maxDelayMs = opts.maxDelayMs ?? 2_000;
    this.random = opts.random ?? Math.random;
    this.sleep = opts.sleep ?? defaultSleep;
    this.onRetry = opts.onRetry;
  }

  get capabilities() {
    return this.inner.capabilities;
  }

  get(key: string, opts?: GetOptions): Promise<GetResult> {
    return this.retry("get", key, () => this.inner.get(key, opts));
  }

  head(key: string, opts?: StatOptions): Promise<ObjectHead | null> {
    return this.retry("head", key, () => this.inner.head(key, opts));
  }

  /**
   * A conditional put whose first attempt landed but whose answer was lost fails its retry with
   * PreconditionFailed (the ETag moved). Catalog writers re-read and re-apply on that error, so
   * the outcome is still right.
   */
  put(key: string, body: Uint8Array, opts?: PutOptions): Promise<{ etag: string }> {
    return this.retry("put", key, () => this.inner.put(key, body, opts));
  }

  delete(key: string): Promise<void> {
    return this.retry("delete", key, () => this.inner.delete(key));
  }

  /**
   * Retries the whole batch when the request failed, and then only the keys that failed
   * retryably (a throttled key, a server error), each attempt one request below.
   */
  async deleteObjects(keys: readonly string[]): Promise<DeleteFailure[]> {
    let pending = keys;
    const final: DeleteFailure[] = [];
    for (let attempt = 1; ; attempt++) {
      let failures: DeleteFailure[];
      try {
        failures = await this.inner.deleteObjects(pending);
      } catch (e) {
        await this.backoffOrThrow("deleteBatch", pending[0] ?? "", attempt, e);
        continue;
      }
      const retryable = failures.filter((f) => isStorageUnavailable(f.error));
      final.push(...failures.filter((f) => !isStorageUnavailable(f.error)));
      if (retryable.length === 0 || attempt >= this.maxAttempts) return [...final, ...retryable];
      pending = retryable.map((f) => f.key);
      await this.backoffOrThrow("deleteBatch", pending[0]!, attempt, retryable[0]!.error);
    }
  }

  listPage(prefix: string, opts?: ListOptions): Promise<ListPage> {
    return this.retry("list", prefix, () => this.inner.listPage(prefix, opts));
  }

  listKeys(prefix: string, opts?: Omit<ListOptions, "etag">): Promise<KeyPage> {
    return this.retry("list", prefix, () => this.inner.listKeys(prefix, opts));
  }

  /** Pages through the retried `listPage`, so one failed page is retried, not the whole listing. */
  list(prefix: string, opts?: ListOptions): AsyncIterable<ObjectInfo> {
    return listAll(this, prefix, opts);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async retry<T>(op: string, key: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        await this.backoffOrThrow(op, key, attempt, e);
      }
    }
  }

  private async backoffOrThrow(op: string, key: string, attempt: number, error: unknown): Promise<void> {
    if (!isStorageUnavailable(error) || attempt >= this.maxAttempts) throw error;
    const cap = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
    const delayMs = Math.round(this.random() * cap);
    this.onRetry?.({ op, key, attempt, delayMs, error });
    await this.sleep(delayMs);
  }
}
