/**
 * The object store behind a registry root: S3 or a local directory, one contract
 * (test/storage/object-store-contract.ts). Keys are relative `/`-separated paths. Stores count
 * and retry nothing themselves: `RetryingStore` retries, counting wrappers count, so every
 * attempt sent is observable.
 */
import { EpochError, type ErrorKind, type ErrorReason } from "../errors.js";

export interface ObjectInfo {
  key: string;
  size: number;
  /** Quoted, as S3 returns it: `"<hex>"`. Changes whenever the content changes. */
  etag: string;
  lastModified: Date;
}

export type ObjectHead = Omit<ObjectInfo, "key">;

export type GetResult =
  | { status: "ok"; body: Buffer; etag: string; lastModified: Date; size: number }
  | { status: "not_modified"; etag: string };

export interface GetOptions {
  /** ETag the caller holds: an unchanged object answers `not_modified` without a body. */
  ifNoneMatch?: string;
}

export interface PutOptions {
  /** Write only if the current object has this ETag (else PreconditionFailed). */
  ifMatch?: string;
  /** `*`: write only if no object exists under the key (else PreconditionFailed). */
  ifNoneMatch?: "*";
}

/** What a head or a listing must report. */
export interface StatOptions {
  /**
   * false: the ETag may be "" — a directory store then only stats each file instead of hashing it
   * (the garbage collector needs sizes and Last-Modified of blobs that may be gigabytes). Default true.
   */
  etag?: boolean;
}

export interface ListOptions extends StatOptions {
  /** Yield only keys strictly after this one (a full key, not relative to the prefix). */
  startAfter?: string;
  /** Stop after this many keys. */
  limit?: number;
}

export interface ListPage {
  /** In key order; at most `limit` and at most the store's page size (S3: 1000). */
  items: ObjectInfo[];
  /** More keys may follow the last item. */
  truncated: boolean;
}

/** A key of a `listKeys` page, with its size and dates when the listing carried them for free. */
export interface ListedKey {
  key: string;
  /** Present when the store's listing reports it (S3); absent on a directory, which would stat for it. */
  head?: ObjectHead;
}

export interface KeyPage {
  /** In key order, paged as `listPage`. */
  items: ListedKey[];
  truncated: boolean;
}

/** A key `deleteObjects` could not delete, and why. */
export interface DeleteFailure {
  key: string;
  error: StorageError;
}

/** Keys per `deleteObjects` call: S3's DeleteObjects limit, so one call is one request there. */
export const MAX_DELETE_BATCH = 1000;

export interface StoreCapabilities {
  /**
   * True when `put` conditions are enforced atomically by the backend. When false, a store
   * still honours them against a sequential caller (it checks first), but a concurrent writer
   * can slip in between the check and the write.
   */
  conditionalPut: boolean;
}

export interface ObjectStore {
  readonly capabilities: StoreCapabilities;
  /** Throws ObjectNotFound when absent. */
  get(key: string, opts?: GetOptions): Promise<GetResult>;
  /** Null when absent: a head is an existence check, absence is an answer, not an error. */
  head(key: string, opts?: StatOptions): Promise<ObjectHead | null>;
  put(key: string, body: Uint8Array, opts?: PutOptions): Promise<{ etag: string }>;
  /** Idempotent: deleting an absent key succeeds. */
  delete(key: string): Promise<void>;
  /**
   * Deletes up to MAX_DELETE_BATCH keys (more, or an invalid key, is refused before any
   * request): one DeleteObjects request on S3, bounded concurrency on a directory. Idempotent per
   * key, like `delete`. Resolves with the keys that could not be deleted (none: all gone); throws
   * only when the request as a whole failed.
   */
  deleteObjects(keys: readonly string[]): Promise<DeleteFailure[]>;
  /**
   * One page (one request) of the keys starting with `prefix`, in byte-wise (UTF-8) key order.
   * Wrappers count and retry pages; most callers want `list`.
   */
  listPage(prefix: string, opts?: ListOptions): Promise<ListPage>;
  /**
   * `listPage` for a caller that needs the sizes and dates of only some of the keys (the
   * collector's inventory: only objects the index does not reference). A store whose listing
   * carries them (S3) includes them as `head` in the same one request; a directory lists names
   * only, so the caller HEADs the keys it keeps instead of the store statting every file.
   */
  listKeys(prefix: string, opts?: Omit<ListOptions, "etag">): Promise<KeyPage>;
  /** Every key starting with `prefix`, in key order, fetched page by page (`listAll`). */
  list(prefix: string, opts?: ListOptions): AsyncIterable<ObjectInfo>;
  close(): Promise<void>;
}

export type StorageErrorCode = "not_found" | "precondition_failed" | "unavailable" | "invalid_key" | "failed";

const KIND: Record<StorageErrorCode, [ErrorKind, ErrorReason]> = {
  // Layers above rename these into their own reasons (MANIFEST_MISSING, CATALOG_CONFLICT, …).
  not_found: ["not_found", "STORAGE_ERROR"],
  precondition_failed: ["failed_precondition", "STORAGE_ERROR"],
  unavailable: ["unavailable", "STORAGE_UNAVAILABLE"],
  invalid_key: ["invalid_argument", "INVALID_ARGUMENT"],
  // Refused for good (access denied, bad request, a key that collides with a directory…).
  failed: ["failed_precondition", "STORAGE_ERROR"],
};

export class StorageError extends EpochError {
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    readonly key?: string,
    options?: { cause?: unknown },
  ) {
    super(KIND[code][0], KIND[code][1], message, options);
    this.name = "StorageError";
  }
}

const quote = (key: string): string => JSON.stringify(key.length > 200 ? `${key.slice(0, 200)}…` : key);

export const objectNotFound = (key: string): StorageError =>
  new StorageError("not_found", `object ${quote(key)} not found`, key);
export const preconditionFailed = (key: string): StorageError =>
  new StorageError("precondition_failed", `object ${quote(key)} changed (conditional write refused)`, key);
export const storageUnavailable = (message: string, key?: string, cause?: unknown): StorageError =>
  new StorageError("unavailable", `object store unavailable: ${message}`, key, { cause });
export const invalidKey = (key: string, why: string): StorageError =>
  new StorageError("invalid_key", `invalid object key ${quote(key)}: ${why}`, key);
export const storageFailed = (message: string, key?: string, cause?: unknown): StorageError =>
  new StorageError("failed", `object store error: ${message}`, key, { cause });

const isCode =
  (code: StorageErrorCode) =>
  (e: unknown): e is StorageError =>
    e instanceof StorageError && e.code === code;
export const isNotFound = isCode("not_found");
export const isPreconditionFailed = isCode("precondition_failed");
export const isStorageUnavailable = isCode("unavailable");
export const isInvalidKey = isCode("invalid_key");

/** Marks temp files of the directory store; keys may not use it, so listings never show one. */
export const TEMP_MARKER = ".epoch-tmp-";

/**
 * The key rules every store enforces, so a key valid on one backend is valid on all: relative,
 * `/`-separated, no empty, `.` or `..` segment, no NUL, no backslash, ≤ 1024 UTF-8 bytes (S3's limit).
 */
export function assertValidKey(key: string): void {
  if (key.length === 0) throw invalidKey(key, "empty");
  if (Buffer.byteLength(key) > 1024) throw invalidKey(key, "longer than 1024 bytes");
  if (key.includes("\0")) throw invalidKey(key, "contains NUL");
  if (key.includes("\\")) throw invalidKey(key, "contains a backslash");
  if (key.startsWith("/")) throw invalidKey(key, "absolute");
  for (const segment of key.split("/")) {
    if (segment === "") throw invalidKey(key, "empty path segment");
    if (segment === "." || segment === "..") throw invalidKey(key, "relative path segment");
    if (segment.startsWith(TEMP_MARKER)) throw invalidKey(key, "reserved temp-file name");
  }
}

/** `deleteObjects`' argument rules: at most MAX_DELETE_BATCH keys, each valid. */
export function assertDeleteBatch(keys: readonly string[]): void {
  if (keys.length > MAX_DELETE_BATCH)
    throw new StorageError("failed", `deleteObjects takes at most ${MAX_DELETE_BATCH} keys (got ${keys.length})`);
  for (const key of keys) assertValidKey(key);
}

/** A list prefix may end in `/` or be empty; otherwise the key rules apply. */
export function assertValidPrefix(prefix: string): void {
  if (prefix === "") return;
  assertValidKey(prefix.endsWith("/") ? prefix.slice(0, -1) : prefix);
}

/**
 * Byte-wise UTF-8 order, S3's list order. JS `<` compares UTF-16 code units, which differs only
 * once a surrogate (≥ U+D800) is involved, so the common path stays a plain comparison.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x < 0xd800 && y < 0xd800) return x - y;
    // Start at the whole code point when the difference is in a low surrogate.
    const start = i > 0 && (a.charCodeAt(i - 1) & 0xfc00) === 0xd800 ? i - 1 : i;
    return Buffer.compare(Buffer.from(a.slice(start)), Buffer.from(b.slice(start)));
  }
  return a.length - b.length;
}

/** `list` for every store: pages through `listPage`, resuming after the last key seen. */
export async function* listAll(
  store: Pick<ObjectStore, "listPage">,
  prefix: string,
  opts: ListOptions = {},
): AsyncIterable<ObjectInfo> {
  let remaining = opts.limit ?? Infinity;
  let startAfter = opts.startAfter;
  while (remaining > 0) {
    const page = await store.listPage(prefix, {
      ...(opts.etag === false && { etag: false }),
      ...(startAfter !== undefined && { startAfter }),
      ...(Number.isFinite(remaining) && { limit: remaining }),
    });
    for (const item of page.items) {
      yield item;
      if (--remaining <= 0) return;
    }
    const last = page.items.at(-1);
    if (!page.truncated || last === undefined) return;
    startAfter = last.key;
  }
}
