/**
 * Test-only ObjectStore wrappers. `CountingStore` counts requests (total, per op, per key) so
 * sync tests can assert exact object-store request counts; `FaultStore` injects latency, typed
 * errors, truncated bodies and ETag changes, by op, key pattern, count or position.
 *
 *   const counting = new CountingStore(inner);   // counting.total, counting.byOp.get, counting.forKey("catalog.json")
 *   const faults = new FaultStore(counting);
 *   faults.failNext({ op: "get", keyMatch: /manifests\//, error: "unavailable", times: 2 });
 */
import { CountingStore as BaseCountingStore, type StoreOp } from "../../src/storage/counting-store.js";
import {
  listAll,
  StorageError,
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
  type StorageErrorCode,
} from "../../src/storage/object-store.js";

export type { StoreOp };

export class CountingStore extends BaseCountingStore {
  readonly byKey = new Map<string, number>();
  /** Every request in order (op and key; a list page's key is its prefix). */
  readonly log: Array<{ op: StoreOp; key: string }> = [];

  protected override record(op: StoreOp, key: string): void {
    super.record(op, key);
    this.byKey.set(key, (this.byKey.get(key) ?? 0) + 1);
    this.log.push({ op, key });
  }

  forKey(key: string): number {
    return this.byKey.get(key) ?? 0;
  }

  /** Requests matching an op and/or key pattern. */
  count(filter: { op?: StoreOp; keyMatch?: KeyMatch } = {}): number {
    return this.log.filter((r) => (!filter.op || r.op === filter.op) && matches(filter.keyMatch, r.key)).length;
  }

  override reset(): void {
    super.reset();
    this.byKey.clear();
    this.log.length = 0;
  }
}

export type KeyMatch = RegExp | string | ((key: string) => boolean);

export interface FaultMatch {
  op?: StoreOp | StoreOp[];
  keyMatch?: KeyMatch;
}

export interface ErrorFault extends FaultMatch {
  error: StorageErrorCode | Error;
  /** How many matching requests fail (default 1; Infinity for all). */
  times?: number;
  /** `after`: the request reaches the store, then the answer is "lost" (default `before`). */
  phase?: "before" | "after";
}

interface Rule extends FaultMatch {
  remaining: number;
  /** Matching requests to let through before this rule applies. */
  skip: number;
  apply: Fault;
}

type Fault =
  | { type: "error"; error: StorageErrorCode | Error; phase: "before" | "after" }
  | { type: "latency"; ms: number }
  | { type: "truncate"; bytes: number }
  | { type: "etag"; rewrite: (etag: string) => string }
  | { type: "hook"; fn: (op: StoreOp, key: string) => void | Promise<void> };

function matches(m: KeyMatch | undefined, key: string): boolean {
  if (m === undefined) return true;
  if (typeof m === "string") return key === m;
  if (m instanceof RegExp) return m.test(key);
  return m(key);
}

export function storageErrorOf(code: StorageErrorCode, key: string): StorageError {
  return new StorageError(code, `injected ${code} fault`, key);
}

export class FaultStore implements ObjectStore {
  private rules: Rule[] = [];
  private keyRules: Array<{ keyMatch?: KeyMatch; error: StorageErrorCode; remaining: number }> = [];
  /** Faults injected so far. */
  injected = 0;

  constructor(readonly inner: ObjectStore) {}

  get capabilities() {
    return this.inner.capabilities;
  }

  failNext(f: ErrorFault): this {
    return this.add(f, f.times ?? 1, 0, { type: "error", error: f.error, phase: f.phase ?? "before" });
  }

  /** The n-th matching request (1-based) fails; earlier ones pass. */
  failNth(n: number, f: ErrorFault): this {
    return this.add(f, f.times ?? 1, n - 1, { type: "error", error: f.error, phase: f.phase ?? "before" });
  }

  addLatency(f: FaultMatch & { ms: number; times?: number }): this {
    return this.add(f, f.times ?? Infinity, 0, { type: "latency", ms: f.ms });
  }

  /** Successful gets return only the first `bytes` bytes, silently (a corrupt read). */
  truncateBodies(f: FaultMatch & { bytes: number; times?: number }): this {
    return this.add({ op: "get", keyMatch: f.keyMatch }, f.times ?? Infinity, 0, { type: "truncate", bytes: f.bytes });
  }

  /** ETags reported by get/head/list/put change (default: `"…-changed"`), as if a writer replaced the object. */
  changeEtags(f: FaultMatch & { times?: number; rewrite?: (etag: string) => string }): this {
    const rewrite = f.rewrite ?? ((e: string) => (e.endsWith('"') ? `${e.slice(0, -1)}-changed"` : `${e}-changed`));
    return this.add(f, f.times ?? Infinity, 0, { type: "etag", rewrite });
  }

  /** Runs `fn` before matching requests (e.g. to change the inner store mid-run). */
  beforeRequest(f: FaultMatch & { times?: number; fn: (op: StoreOp, key: string) => void | Promise<void> }): this {
    return this.add(f, f.times ?? Infinity, 0, { type: "hook", fn: f.fn });
  }

  /** Within `deleteObjects` batches: matching keys fail one by one (the rest of the batch goes through). */
  failKeys(f: { keyMatch?: KeyMatch; error: StorageErrorCode; times?: number }): this {
    this.keyRules.push({ ...f, remaining: f.times ?? 1 });
    return this;
  }

  clear(): void {
    this.rules = [];
    this.keyRules = [];
  }

  async get(key: string, opts?: GetOptions): Promise<GetResult> {
    const faults = await this.before("get", key);
    // With a rewritten ETag the caller's If-None-Match is judged here, so ask for the body.
    const innerOpts = faults.some((f) => f.type === "etag") ? {} : opts;
    const result = await this.run(faults, key, () => this.inner.get(key, innerOpts));
    if (result.status !== "ok") return result;
    let out = result;
    for (const f of faults) {
      if (f.type === "truncate")
        out = { ...out, body: out.body.subarray(0, f.bytes), size: Math.min(out.size, f.bytes) };
      if (f.type === "etag") out = { ...out, etag: f.rewrite(out.etag) };
    }
    // An If-None-Match on a changed ETag must not say "not modified": compare after rewriting.
    if (opts?.ifNoneMatch !== undefined && out.etag === opts.ifNoneMatch)
      return { status: "not_modified", etag: out.etag };
    return out;
  }

  async head(key: string, opts?: StatOptions): Promise<ObjectHead | null> {
    const faults = await this.before("head", key);
    const head = await this.run(faults, key, () => this.inner.head(key, opts));
    return head ? { ...head, etag: rewriteEtag(faults, head.etag) } : head;
  }

  async put(key: string, body: Uint8Array, opts?: PutOptions): Promise<{ etag: string }> {
    const faults = await this.before("put", key);
    const out = await this.run(faults, key, () => this.inner.put(key, body, opts));
    return { etag: rewriteEtag(faults, out.etag) };
  }

  async delete(key: string): Promise<void> {
    const faults = await this.before("delete", key);
    await this.run(faults, key, () => this.inner.delete(key));
  }

  /** Whole-request faults match op `deleteBatch` and the batch's first key; `failKeys` fails single keys. */
  async deleteObjects(keys: readonly string[]): Promise<DeleteFailure[]> {
    const faults = await this.before("deleteBatch", keys[0] ?? "");
    const failed: DeleteFailure[] = [];
    const passed = keys.filter((key) => {
      const rule = this.keyRules.find((r) => r.remaining > 0 && matches(r.keyMatch, key));
      if (!rule) return true;
      rule.remaining--;
      this.injected++;
      failed.push({ key, error: storageErrorOf(rule.error, key) });
      return false;
    });
    const inner =
      passed.length > 0 ? await this.run(faults, keys[0] ?? "", () => this.inner.deleteObjects(passed)) : [];
    return [...failed, ...inner];
  }

  async listPage(prefix: string, opts?: ListOptions): Promise<ListPage> {
    const faults = await this.before("list", prefix);
    const page = await this.run(faults, prefix, () => this.inner.listPage(prefix, opts));
    return { ...page, items: page.items.map((i) => ({ ...i, etag: rewriteEtag(faults, i.etag) })) };
  }

  async listKeys(prefix: string, opts?: Omit<ListOptions, "etag">): Promise<KeyPage> {
    const faults = await this.before("list", prefix);
    const page = await this.run(faults, prefix, () => this.inner.listKeys(prefix, opts));
    return {
      ...page,
      items: page.items.map((i) =>
        i.head ? { ...i, head: { ...i.head, etag: rewriteEtag(faults, i.head.etag) } } : i,
      ),
    };
  }

  list(prefix: string, opts?: ListOptions): AsyncIterable<ObjectInfo> {
    return listAll(this, prefix, opts);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private add(m: FaultMatch, times: number, skip: number, apply: Fault): this {
    this.rules.push({ ...m, remaining: times, skip, apply });
    return this;
  }

  /** Picks the rules that apply to this request, runs latency and hooks, throws `before` errors. */
  private async before(op: StoreOp, key: string): Promise<Fault[]> {
    const faults: Fault[] = [];
    for (const rule of this.rules) {
      if (rule.remaining <= 0) continue;
      const ops = rule.op === undefined ? undefined : Array.isArray(rule.op) ? rule.op : [rule.op];
      if ((ops && !ops.includes(op)) || !matches(rule.keyMatch, key)) continue;
      if (rule.skip > 0) {
        rule.skip--;
        continue;
      }
      rule.remaining--;
      this.injected++;
      faults.push(rule.apply);
    }
    for (const f of faults) {
      if (f.type === "latency") await new Promise((r) => setTimeout(r, f.ms));
      if (f.type === "hook") await f.fn(op, key);
    }
    const early = faults.find((f) => f.type === "error" && f.phase === "before");
    if (early?.type === "error") throw toError(early.error, key);
    return faults;
  }

  private async run<T>(faults: Fault[], key: string, fn: () => Promise<T>): Promise<T> {
    const result = await fn();
    const late = faults.find((f) => f.type === "error" && f.phase === "after");
    if (late?.type === "error") throw toError(late.error, key);
    return result;
  }
}

function toError(e: StorageErrorCode | Error, key: string): Error {
  return typeof e === "string" ? storageErrorOf(e, key) : e;
}

function rewriteEtag(faults: Fault[], etag: string): string {
  return faults.reduce((e, f) => (f.type === "etag" ? f.rewrite(e) : e), etag);
}
