/**
 * Epoch's registry layout on an ObjectStore (DESIGN.md §1): keys, catalog reads, manifest and
 * blob reads, and the writes DeleteTag, tests and the demo need. Names are validated before
 * they become keys; an invalid one is INVALID_NAME and never reaches the store.
 */
import { createHash } from "node:crypto";
import { aborted, notFound } from "../errors.js";
import { computeDigest } from "../oci/digest.js";
import { assertRepositoryName, assertTagName, digestHex, isRepositoryName } from "../oci/names.js";
import {
  emptyCatalogDocument,
  isRepositoryEntry,
  nextTimestamp,
  parseCatalog,
  parseCatalogDocument,
  serializeCatalog,
  type CatalogDocument,
  type ParsedCatalog,
} from "./catalog.js";
import {
  isNotFound,
  isPreconditionFailed,
  type ObjectHead,
  type ObjectStore,
  type PutOptions,
} from "./object-store.js";

export const CATALOG_KEY = "catalog.json";

export function manifestKey(repository: string, tag: string): string {
  assertRepositoryName(repository);
  assertTagName(tag);
  return `manifests/${repository}/${tag}.json`;
}

export function manifestDigestKey(repository: string, digest: string): string {
  assertRepositoryName(repository);
  return `manifests/${repository}/_digests/sha256-${digestHex(digest)}.json`;
}

export function blobKey(digest: string): string {
  return `blobs/sha256/${digestHex(digest)}`;
}

/** Where upload staging objects live (`_uploads/<id>/…`, DESIGN §8.4). */
export const UPLOADS_PREFIX = "_uploads/";
export const BLOBS_PREFIX = "blobs/sha256/";
export const MANIFESTS_PREFIX = "manifests/";

const BLOB_KEY = /^blobs\/sha256\/([0-9a-f]{64})$/;
const DIGEST_MANIFEST_KEY = /^manifests\/(.+)\/_digests\/sha256-([0-9a-f]{64})\.json$/;

/** The digest a `blobs/sha256/<hex>` key holds; undefined for any other key. */
export function blobDigestOfKey(key: string): string | undefined {
  const m = BLOB_KEY.exec(key);
  return m ? `sha256:${m[1]}` : undefined;
}

/** Repository and digest of a `manifests/<repo>/_digests/sha256-<hex>.json` key with a valid repository name. */
export function digestManifestOfKey(key: string): { repository: string; digest: string } | undefined {
  const m = DIGEST_MANIFEST_KEY.exec(key);
  return m && isRepositoryName(m[1]!) ? { repository: m[1]!, digest: `sha256:${m[2]}` } : undefined;
}

/** The upload id of an `_uploads/<id>/…` key. */
export function uploadIdOfKey(key: string): string | undefined {
  if (!key.startsWith(UPLOADS_PREFIX)) return undefined;
  const slash = key.indexOf("/", UPLOADS_PREFIX.length);
  return slash > UPLOADS_PREFIX.length ? key.slice(UPLOADS_PREFIX.length, slash) : undefined;
}

export type CatalogRead =
  | { status: "ok"; catalog: ParsedCatalog; etag: string; lastModified: Date; raw: Buffer; sha256: string }
  | { status: "not_modified"; etag: string }
  | { status: "missing" };

export type ManifestRead =
  { status: "ok"; bytes: Buffer; etag: string; lastModified: Date } | { status: "not_modified"; etag: string };

export interface RegistryLayoutOptions {
  now?: () => Date;
  /** Attempts of a catalog read-modify-write before CATALOG_CONFLICT (default 10). */
  catalogAttempts?: number;
  sleep?: (ms: number) => Promise<void>;
}

/** Edits the catalog in place; returns false when nothing changed (then nothing is written). */
export type CatalogEdit = (doc: CatalogDocument, now: Date) => boolean;

export class RegistryLayout {
  private readonly now: () => Date;
  private readonly catalogAttempts: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    readonly store: ObjectStore,
    opts: RegistryLayoutOptions = {},
  ) {
    this.now = opts.now ?? (() => new Date());
    this.catalogAttempts = Math.max(1, opts.catalogAttempts ?? 10);
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** A missing catalog is an answer (an empty registry, or a lost one: the caller decides). */
  async readCatalog(opts: { ifNoneMatch?: string } = {}): Promise<CatalogRead> {
    let got;
    try {
      got = await this.store.get(CATALOG_KEY, opts);
    } catch (e) {
      if (isNotFound(e)) return { status: "missing" };
      throw e;
    }
    if (got.status === "not_modified") return got;
    return {
      status: "ok",
      catalog: parseCatalog(got.body),
      etag: got.etag,
      lastModified: got.lastModified,
      raw: got.body,
      sha256: createHash("sha256").update(got.body).digest("hex"),
    };
  }

  readManifest(repository: string, tag: string, opts: { ifNoneMatch?: string } = {}): Promise<ManifestRead> {
    return this.readManifestKey(manifestKey(repository, tag), `manifest of ${repository}:${tag}`, opts);
  }

  /** Missing → MANIFEST_MISSING; a sync reading index children reports it as INDEX_CHILD_MISSING. */
  readManifestByDigest(repository: string, digest: string, opts: { ifNoneMatch?: string } = {}): Promise<ManifestRead> {
    return this.readManifestKey(manifestDigestKey(repository, digest), `manifest ${repository}@${digest}`, opts);
  }

  headBlob(digest: string): Promise<ObjectHead | null> {
    return this.store.head(blobKey(digest));
  }

  async pushBlob(bytes: Uint8Array): Promise<{ digest: string; size: number }> {
    const digest = computeDigest(bytes);
    await this.store.put(blobKey(digest), bytes);
    return { digest, size: bytes.length };
  }

  /** Stores a manifest under `_digests/` only (index children): no tag, no catalog change. */
  async pushManifestByDigest(repository: string, bytes: Uint8Array): Promise<{ digest: string }> {
    const digest = computeDigest(bytes);
    await this.store.put(manifestDigestKey(repository, digest), bytes);
    return { digest };
  }

  /** As Epoch: the `_digests/` copy, the tag key, then the catalog (repository and catalog `updatedAt` bumped). */
  async pushManifest(repository: string, tag: string, bytes: Uint8Array): Promise<{ digest: string; etag: string }> {
    const key = manifestKey(repository, tag);
    const { digest } = await this.pushManifestByDigest(repository, bytes);
    const { etag } = await this.store.put(key, bytes);
    await this.updateCatalog((doc, now) => setCatalogTag(doc, repository, tag, now));
    return { digest, etag };
  }

  /**
   * Deletes the tag key, then its catalog entry: the catalog's `updatedAt` moves, the
   * repository's does not (Epoch), and a repository left without tags disappears.
   */
  async removeTag(repository: string, tag: string): Promise<{ removed: boolean }> {
    // `removed` says whether the catalog listed the tag; the key is deleted either way.
    await this.store.delete(manifestKey(repository, tag));
    let listed = false;
    await this.updateCatalog((doc, now) => (listed = removeCatalogTag(doc, repository, tag, now)));
    return { removed: listed };
  }

  /**
   * Read-modify-write of catalog.json. Where the store enforces conditional puts the write is
   * If-Match on the ETag read (If-None-Match `*` when absent) and a lost race is retried on a
   * fresh read; elsewhere it is a plain put, as Epoch's writer does, and a concurrent writer can win.
   */
  async updateCatalog(edit: CatalogEdit): Promise<void> {
    const conditional = this.store.capabilities.conditionalPut;
    for (let attempt = 1; ; attempt++) {
      let doc: CatalogDocument;
      let condition: PutOptions;
      try {
        const got = await this.store.get(CATALOG_KEY);
        if (got.status !== "ok") throw new Error("unreachable: unconditional get");
        doc = parseCatalogDocument(got.body);
        condition = { ifMatch: got.etag };
      } catch (e) {
        if (!isNotFound(e)) throw e;
        doc = emptyCatalogDocument();
        condition = { ifNoneMatch: "*" };
      }
      if (!edit(doc, this.now())) return;
      try {
        await this.store.put(CATALOG_KEY, serializeCatalog(doc), conditional ? condition : {});
        return;
      } catch (e) {
        if (!isPreconditionFailed(e)) throw e;
        if (attempt >= this.catalogAttempts) {
          throw aborted(`catalog.json kept changing: gave up after ${attempt} attempts`, "CATALOG_CONFLICT", {
            cause: e,
          });
        }
        await this.sleep(Math.round(Math.random() * Math.min(500, 10 * 2 ** attempt)));
      }
    }
  }

  /** One unconditional write of a whole catalog (bulk fixture generation). */
  async writeCatalog(doc: CatalogDocument): Promise<{ etag: string }> {
    return this.store.put(CATALOG_KEY, serializeCatalog(doc));
  }

  private async readManifestKey(key: string, what: string, opts: { ifNoneMatch?: string }): Promise<ManifestRead> {
    try {
      const got = await this.store.get(key, opts);
      return got.status === "ok"
        ? { status: "ok", bytes: got.body, etag: got.etag, lastModified: got.lastModified }
        : got;
    } catch (e) {
      if (isNotFound(e)) throw notFound(`${what} not found`, "MANIFEST_MISSING", { cause: e });
      throw e;
    }
  }
}

/** Adds or repoints a tag; bumps the repository's and the catalog's `updatedAt`. */
export function setCatalogTag(doc: CatalogDocument, repository: string, tag: string, now: Date): boolean {
  const existing = doc.repositories.get(repository);
  const entry = isRepositoryEntry(existing) ? existing : { tags: new Map<string, unknown>(), updatedAt: undefined };
  entry.tags.set(tag, manifestKey(repository, tag));
  entry.updatedAt = nextTimestamp(entry.updatedAt, now);
  doc.repositories.set(repository, entry);
  doc.updatedAt = nextTimestamp(doc.updatedAt, now);
  return true;
}

/** Removes a tag without touching the repository's `updatedAt`; false if it was not listed. */
export function removeCatalogTag(doc: CatalogDocument, repository: string, tag: string, now: Date): boolean {
  const entry = doc.repositories.get(repository);
  if (!isRepositoryEntry(entry) || !entry.tags.has(tag)) return false;
  entry.tags.delete(tag);
  if (entry.tags.size === 0) doc.repositories.delete(repository);
  doc.updatedAt = nextTimestamp(doc.updatedAt, now);
  return true;
}
