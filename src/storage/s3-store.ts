/**
 * A registry root in an S3 bucket (AWS or any S3-compatible endpoint). The SDK's own retries are
 * off (maxAttempts 1): `RetryingStore` retries above, so a counting wrapper between the two sees
 * every HTTP attempt. Checksums are computed only when an operation requires them, which keeps
 * bodies unframed on S3-compatibles (TOOLCHAIN.md: s3rver stores chunk framing otherwise).
 */
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import {
  assertDeleteBatch,
  assertValidKey,
  assertValidPrefix,
  listAll,
  objectNotFound,
  preconditionFailed,
  StorageError,
  storageFailed,
  storageUnavailable,
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

export interface S3StoreOptions {
  bucket: string;
  /** Prepended to every key; normalised to end in `/`. */
  prefix?: string;
  /** Default: AWS_REGION, AWS_DEFAULT_REGION, then us-east-1. */
  region?: string;
  /** A custom S3-compatible endpoint; omitted for AWS S3. */
  endpoint?: string;
  forcePathStyle?: boolean;
  /** Default: the SDK's standard chain (environment, profile, instance role…). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /**
   * Whether the backend enforces If-Match / If-None-Match on PUT. Default: true for AWS S3 (no
   * endpoint), false for a custom endpoint, since several S3-compatibles (s3rver among them)
   * silently ignore the headers. When false, conditions are checked with a HEAD first (racy).
   */
  conditionalPut?: boolean;
  /**
   * Per attempt: the whole request and response must finish within this (default 30 s; the
   * store reads manifests and catalogs, not multi-GB blobs). Also the socket idle limit.
   */
  requestTimeoutMs?: number;
  /** Per attempt: TCP/TLS connect (default 5 s). */
  connectionTimeoutMs?: number;
  /** Keys per ListObjects page (default and S3 maximum: 1000). */
  pageSize?: number;
  maxSockets?: number;
}

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

const THROTTLING = new Set([
  "SlowDown",
  "Throttling",
  "ThrottlingException",
  "RequestLimitExceeded",
  "TooManyRequestsException",
  "RequestThrottled",
]);
const TRANSIENT = new Set([
  "TimeoutError",
  "RequestTimeout",
  "RequestTimeoutException",
  "InternalError",
  "ServiceUnavailable",
]);
const PERMANENT = new Set([
  "NoSuchBucket",
  "AccessDenied",
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "CredentialsProviderError",
  "InvalidBucketName",
]);

export class S3ObjectStore implements ObjectStore {
  readonly capabilities: { conditionalPut: boolean };
  readonly bucket: string;
  readonly prefix: string;
  private readonly client: S3Client;
  private readonly pageSize: number;

  constructor(opts: S3StoreOptions) {
    this.bucket = opts.bucket;
    this.prefix = opts.prefix ? opts.prefix.replace(/^\/+/, "").replace(/\/*$/, "/") : "";
    if (this.prefix === "/") this.prefix = "";
    this.pageSize = Math.max(1, Math.min(opts.pageSize ?? 1000, 1000));
    this.capabilities = { conditionalPut: opts.conditionalPut ?? opts.endpoint === undefined };
    const agentOptions = { keepAlive: true, maxSockets: opts.maxSockets ?? 64 };
    this.client = new S3Client({
      region: opts.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? "us-east-1",
      ...(opts.endpoint !== undefined && { endpoint: opts.endpoint }),
      forcePathStyle: opts.forcePathStyle ?? false,
      ...(opts.credentials !== undefined && { credentials: opts.credentials }),
      maxAttempts: 1,
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      requestHandler: {
        requestTimeout: opts.requestTimeoutMs ?? 30_000,
        // Without it a breached requestTimeout only logs a warning and the call hangs on.
        throwOnRequestTimeout: true,
        socketTimeout: opts.requestTimeoutMs ?? 30_000,
        connectionTimeout: opts.connectionTimeoutMs ?? 5_000,
        httpAgent: new HttpAgent(agentOptions),
        httpsAgent: new HttpsAgent(agentOptions),
      },
    });
  }

  async get(key: string, opts: GetOptions = {}): Promise<GetResult> {
    const Key = this.fullKey(key);
    try {
      const out = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key,
          ...(opts.ifNoneMatch !== undefined && { IfNoneMatch: opts.ifNoneMatch }),
        }),
      );
      if (!out.Body) throw storageUnavailable("response without a body", key);
      const body = Buffer.from(await out.Body.transformToByteArray());
      // A connection cut mid-body can end the stream early without an error: never hand out half an object.
      if (out.ContentLength !== undefined && body.length !== out.ContentLength) {
        throw storageUnavailable(`truncated body (${body.length} of ${out.ContentLength} bytes)`, key);
      }
      return {
        status: "ok",
        body,
        etag: out.ETag ?? "",
        lastModified: out.LastModified ?? new Date(0),
        size: body.length,
      };
    } catch (e) {
      // The SDK surfaces 304 as an error (named "Unknown" on some servers): the status code is what counts.
      if (opts.ifNoneMatch !== undefined && statusOf(e) === 304)
        return { status: "not_modified", etag: opts.ifNoneMatch };
      throw classify(e, key);
    }
  }

  /** S3 reports the ETag with every HEAD and listing: `StatOptions` changes nothing here. */
  async head(key: string, _opts?: StatOptions): Promise<ObjectHead | null> {
    const Key = this.fullKey(key);
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }));
      return { etag: out.ETag ?? "", size: out.ContentLength ?? 0, lastModified: out.LastModified ?? new Date(0) };
    } catch (e) {
      const err = classify(e, key);
      if (err.code === "not_found") return null;
      throw err;
    }
  }

  async put(key: string, body: Uint8Array, opts: PutOptions = {}): Promise<{ etag: string }> {
    const Key = this.fullKey(key);
    const conditional = opts.ifMatch !== undefined || opts.ifNoneMatch !== undefined;
    if (conditional && !this.capabilities.conditionalPut) {
      const current = await this.head(key);
      if (opts.ifNoneMatch === "*" && current) throw preconditionFailed(key);
      if (opts.ifMatch !== undefined && current?.etag !== opts.ifMatch) throw preconditionFailed(key);
    }
    const native = conditional && this.capabilities.conditionalPut;
    try {
      const out = await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key,
          Body: body,
          ContentLength: body.length,
          ...(native && opts.ifMatch !== undefined && { IfMatch: opts.ifMatch }),
          ...(native && opts.ifNoneMatch !== undefined && { IfNoneMatch: opts.ifNoneMatch }),
        }),
      );
      return { etag: out.ETag ?? "" };
    } catch (e) {
      throw classify(e, key);
    }
  }

  async delete(key: string): Promise<void> {
    const Key = this.fullKey(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }));
    } catch (e) {
      const err = classify(e, key);
      if (err.code !== "not_found") throw err;
    }
  }

  /** One DeleteObjects request (quiet: the answer lists only the keys that failed). */
  async deleteObjects(keys: readonly string[]): Promise<DeleteFailure[]> {
    assertDeleteBatch(keys);
    if (keys.length === 0) return [];
    let out;
    try {
      out = await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: keys.map((key) => ({ Key: this.prefix + key })), Quiet: true },
        }),
      );
    } catch (e) {
      throw classify(e, keys[0]!);
    }
    const failures: DeleteFailure[] = [];
    for (const err of out.Errors ?? []) {
      const key = (err.Key ?? "").slice(this.prefix.length);
      // Absent is deleted (some S3-compatibles report it instead of staying quiet).
      if (err.Code === "NoSuchKey") continue;
      failures.push({ key, error: keyError(err.Code ?? "", err.Message ?? "", key) });
    }
    return failures;
  }

  async listPage(prefix: string, opts: ListOptions = {}): Promise<ListPage> {
    assertValidPrefix(prefix);
    const limit = Math.min(this.pageSize, opts.limit ?? Infinity);
    if (limit <= 0) return { items: [], truncated: false };
    let page;
    try {
      // ListObjects (v1) with Marker = the last key seen: every S3-compatible supports it, and
      // s3rver answers any truncated ListObjectsV2 page with a 500 (its continuation token
      // needs the OpenSSL legacy provider), even when paging by StartAfter.
      page = await this.client.send(
        new ListObjectsCommand({
          Bucket: this.bucket,
          Prefix: this.prefix + prefix,
          MaxKeys: limit,
          ...(opts.startAfter !== undefined && { Marker: this.prefix + opts.startAfter }),
        }),
      );
    } catch (e) {
      throw classify(e, prefix);
    }
    const items: ObjectInfo[] = [];
    for (const o of page.Contents ?? []) {
      if (o.Key === undefined) continue;
      items.push({
        key: o.Key.slice(this.prefix.length),
        size: o.Size ?? 0,
        etag: o.ETag ?? "",
        lastModified: o.LastModified ?? new Date(0),
      });
    }
    return { items, truncated: Boolean(page.IsTruncated) };
  }

  /** The same single request as `listPage`: S3's listing carries sizes and dates anyway. */
  async listKeys(prefix: string, opts: Omit<ListOptions, "etag"> = {}): Promise<KeyPage> {
    const page = await this.listPage(prefix, opts);
    return { items: page.items.map(({ key, ...head }) => ({ key, head })), truncated: page.truncated };
  }

  list(prefix: string, opts?: ListOptions): AsyncIterable<ObjectInfo> {
    return listAll(this, prefix, opts);
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private fullKey(key: string): string {
    assertValidKey(key);
    return this.prefix + key;
  }
}

/** A per-key error of DeleteObjects: throttling and server errors may pass on a retry, the rest not. */
function keyError(code: string, message: string, key: string): StorageError {
  const detail = `${code || "error"}: ${message}`;
  return THROTTLING.has(code) || TRANSIENT.has(code) ? storageUnavailable(detail, key) : storageFailed(detail, key);
}

function statusOf(e: unknown): number | undefined {
  return (e as SdkError | undefined)?.$metadata?.httpStatusCode;
}

/** SDK and network errors → the store's typed errors; retryable ones become `unavailable`. */
function classify(e: unknown, key: string): StorageError {
  if (e instanceof StorageError) return e;
  const err = (typeof e === "object" && e !== null ? e : {}) as SdkError;
  const status = statusOf(e);
  const name = err.name ?? "";
  const detail = `${name || "error"}${status ? ` (HTTP ${status})` : ""}: ${err.message ?? String(e)}`;
  // A compact cause: the SDK error holds the raw request (signed headers) and response.
  e = Object.assign(new Error(detail), { name: name || "Error", code: err.code, status });
  if (PERMANENT.has(name)) return storageFailed(detail, key, e);
  if (status === 404 || name === "NoSuchKey" || name === "NotFound") return objectNotFound(key);
  // AWS answers a concurrent conditional write with 409 ConditionalRequestConflict.
  if (status === 412 || name === "PreconditionFailed" || name === "ConditionalRequestConflict")
    return preconditionFailed(key);
  if (
    status === undefined ||
    status >= 500 ||
    status === 429 ||
    status === 408 ||
    THROTTLING.has(name) ||
    TRANSIENT.has(name) ||
    Boolean(err.$retryable)
  ) {
    // No status at all means the request never got an answer: refused, reset, timed out.
    return storageUnavailable(detail, key, e);
  }
  return storageFailed(detail, key, e);
}
