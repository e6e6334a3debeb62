/**
 * Counts the requests that reach the store below it (one per get/head/put/delete call, one per
 * list page, one per `deleteObjects` batch — a DeleteObjects request on S3). Placed under `RetryingStore`, it counts retries too: this is the number behind a
 * sync run's `object_store_requests`.
 */
import {
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

export const STORE_OPS = ["get", "head", "put", "delete", "deleteBatch", "list"] as const;
export type StoreOp = (typeof STORE_OPS)[number];

export class CountingStore implements ObjectStore {
  total = 0;
  byOp: Record<StoreOp, number> = { get: 0, head: 0, put: 0, delete: 0, deleteBatch: 0, list: 0 };
  /** Keys sent in `deleteObjects` batches (objects asked to be deleted, not requests). */
  batchDeletedKeys = 0;

  constructor(
    readonly inner: ObjectStore,
    private readonly onRequest?: (op: StoreOp, key: string) => void,
  ) {}

  get capabilities() {
    return this.inner.capabilities;
  }

  reset(): void {
    this.total = 0;
    for (const op of STORE_OPS) this.byOp[op] = 0;
    this.batchDeletedKeys = 0;
  }

  /** Subclasses add detail (per key); the base only tallies. */
  protected record(op: StoreOp, key: string): void {
    this.total++;
    this.byOp[op]++;
    this.onRequest?.(op, key);
  }

  get(key: string, opts?: GetOptions): Promise<GetResult> {
    this.record("get", key);
    return this.inner.get(key, opts);
  }

  head(key: string, opts?: StatOptions): Promise<ObjectHead | null> {
    this.record("head", key);
    return this.inner.head(key, opts);
  }

  put(key: string, body: Uint8Array, opts?: PutOptions): Promise<{ etag: string }> {
    this.record("put", key);
    return this.inner.put(key, body, opts);
  }

  delete(key: string): Promise<void> {
    this.record("delete", key);
    return this.inner.delete(key);
  }

  /** One request, recorded under its first key. */
  deleteObjects(keys: readonly string[]): Promise<DeleteFailure[]> {
    this.record("deleteBatch", keys[0] ?? "");
    this.batchDeletedKeys += keys.length;
    return this.inner.deleteObjects(keys);
  }

  listPage(prefix: string, opts?: ListOptions): Promise<ListPage> {
    this.record("list", prefix);
    return this.inner.listPage(prefix, opts);
  }

  listKeys(prefix: string, opts?: Omit<ListOptions, "etag">): Promise<KeyPage> {
    this.record("list", prefix);
    return this.inner.listKeys(prefix, opts);
  }

  list(prefix: string, opts?: ListOptions): AsyncIterable<ObjectInfo> {
    return listAll(this, prefix, opts);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
