/**
 * `EPOCH_STORAGE_URL` → an ObjectStore:
 *   s3://bucket[/prefix][?endpoint=URL&region=R&forcePathStyle=true&conditionalPut=true]
 *   file:./relative/dir | file:/abs/dir | file:///abs/dir
 * Credentials never go in the URL (it ends up in logs): the SDK's standard chain, or `credentials`.
 */
import { isAbsolute, resolve } from "node:path";
import { invalidArgument } from "../errors.js";
import { DirectoryObjectStore, type DirectoryStoreOptions } from "./directory-store.js";
import type { ObjectStore } from "./object-store.js";
import { RetryingStore, type RetryOptions } from "./retrying-store.js";
import { S3ObjectStore, type S3StoreOptions } from "./s3-store.js";

export type StorageLocation = { type: "file"; path: string } | { type: "s3"; options: S3StoreOptions };

export interface OpenStoreOptions {
  credentials?: S3StoreOptions["credentials"];
  /** Retries of unavailable errors (default on); `false` returns the bare store. */
  retry?: RetryOptions | false;
  /** Wraps the bare store beneath the retry layer, e.g. a counter that must see every attempt. */
  instrument?: (store: ObjectStore) => ObjectStore;
  directory?: DirectoryStoreOptions;
  s3?: Partial<S3StoreOptions>;
}

const S3_PARAMS = new Set(["endpoint", "region", "forcePathStyle", "conditionalPut"]);

const bad = (url: string, why: string) =>
  invalidArgument(
    `EPOCH_STORAGE_URL ${JSON.stringify(url)} is invalid: ${why} (want s3://bucket/prefix?endpoint=…&region=… or file:./dir)`,
  );

export function parseStorageUrl(url: string): StorageLocation {
  if (url.startsWith("file:")) {
    let rest = url.slice("file:".length);
    if (rest.startsWith("//")) {
      // file:///abs → /abs; a host part (file://host/…) is not a local directory.
      if (!rest.startsWith("///")) throw bad(url, "file URLs must not name a host");
      rest = rest.slice(2);
    }
    rest = safeDecode(url, rest);
    if (rest === "" || rest.includes("\0")) throw bad(url, "empty directory path");
    return { type: "file", path: isAbsolute(rest) ? rest : resolve(rest) };
  }
  if (url.startsWith("s3://")) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw bad(url, "not a URL");
    }
    const bucket = u.hostname;
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw bad(url, "missing or invalid bucket name");
    if (u.username || u.password) throw bad(url, "credentials do not belong in the URL");
    for (const key of u.searchParams.keys())
      if (!S3_PARAMS.has(key)) throw bad(url, `unknown parameter ${JSON.stringify(key)}`);
    const prefix = safeDecode(url, u.pathname).replace(/^\/+/, "");
    const endpoint = u.searchParams.get("endpoint") ?? undefined;
    if (endpoint !== undefined && !/^https?:\/\/[^/]+/.test(endpoint))
      throw bad(url, "endpoint must be an http(s) URL");
    const options: S3StoreOptions = {
      bucket,
      ...(prefix !== "" && { prefix }),
      ...(endpoint !== undefined && { endpoint }),
      ...optional("region", u.searchParams.get("region") ?? undefined),
      ...optional("forcePathStyle", bool(url, u.searchParams.get("forcePathStyle"), "forcePathStyle")),
      ...optional("conditionalPut", bool(url, u.searchParams.get("conditionalPut"), "conditionalPut")),
    };
    return { type: "s3", options };
  }
  throw bad(url, "unknown scheme");
}

export function openObjectStore(url: string, opts: OpenStoreOptions = {}): ObjectStore {
  const location = parseStorageUrl(url);
  const bare =
    location.type === "file"
      ? new DirectoryObjectStore(location.path, opts.directory)
      : new S3ObjectStore({ ...location.options, ...opts.s3, ...optional("credentials", opts.credentials) });
  const instrumented = opts.instrument ? opts.instrument(bare) : bare;
  return opts.retry === false ? instrumented : new RetryingStore(instrumented, opts.retry);
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function bool(url: string, value: string | null, name: string): boolean | undefined {
  if (value === null) return undefined;
  if (value === "true" || value === "1") return true;
  if (value === "false" || value === "0") return false;
  throw bad(url, `${name} must be true or false`);
}

function safeDecode(url: string, s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw bad(url, "bad percent-encoding");
  }
}
