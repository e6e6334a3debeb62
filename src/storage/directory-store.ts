/**
 * A registry root in a local directory. Writes are atomic (temp file in the target directory,
 * fsync, rename, fsync of the directory), so a reader sees the old or the new object, never a
 * partial one. ETags are the quoted MD5 of the content — what S3 reports for a single-part
 * upload — cached per (inode, size, mtime, ctime) so unchanged files are not re-read.
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, type BigIntStats, type Stats } from "node:fs";
import { mapBounded } from "../bounded.js";
import { errno, mapFsError, syncDir } from "./directory-fs.js";
import { mkdir, open, readdir, rename, rmdir, stat, unlink, type FileHandle } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { LRUCache } from "lru-cache";
import {
  assertDeleteBatch,
  assertValidKey,
  assertValidPrefix,
  listAll,
  compareKeys,
  invalidKey,
  objectNotFound,
  preconditionFailed,
  StorageError,
  storageUnavailable,
  TEMP_MARKER,
  type DeleteFailure,
  type GetOptions,
  type GetResult,
  type KeyPage,
  type ListedKey,
  type ListOptions,
  type ListPage,
  type ObjectHead,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
  type StatOptions,
} from "./object-store.js";

export interface DirectoryStoreOptions {
  /** fsync file and directory on every write (default). `false` is for bulk fixture writes only. */
  durable?: boolean;
  /** Test seam: called at each write stage; throwing simulates a crash or I/O error there. */
  faultHook?: (stage: "write" | "rename", key: string) => void | Promise<void>;
  /** Keys per `listPage` (default 1000, like S3). */
  pageSize?: number;
  /** Files `deleteObjects` unlinks at once (default 16: more only queues on libuv's threads). */
  deleteConcurrency?: number;
  /**
   * The directory whose absence is a misconfiguration (default: the root itself). A namespace
   * rooted under the server's root names the server's root: its own directory appears with its
   * first push, and until then it is an empty registry, like an S3 prefix nobody wrote to.
   */
  requiredRoot?: string;
}

const md5Etag = (data: Uint8Array): string => `"${createHash("md5").update(data).digest("hex")}"`;

export class DirectoryObjectStore implements ObjectStore {
  /**
   * Conditions are checked and applied under a per-key lock, which makes them atomic within
   * this process only: another process writing the same directory can race the check. One
   * epoch-meta process per directory root is the supported setup for writes.
   */
  readonly capabilities = { conditionalPut: true };
  readonly root: string;
  private readonly durable: boolean;
  private readonly faultHook: DirectoryStoreOptions["faultHook"];
  private readonly pageSize: number;
  private readonly deleteConcurrency: number;
  private readonly requiredRoot: string;
  /**
   * File path → `${stamp}\n${etag}` as one flat string, about 200 bytes an entry; the bound keeps
   * it near 2 MB (unbounded per-entry objects and string pieces held 40 MB through a 100k-tag
   * sync). A miss costs one read and MD5 of a manifest-sized file, which a GET does anyway; a
   * conditional re-sync of one repository touches far fewer files than the bound.
   */
  private readonly etags = new LRUCache<string, string>({ max: ETAG_CACHE_ENTRIES });
  private readonly knownDirs = new Set<string>();
  private readonly locks = new Map<string, Promise<unknown>>();
  /**
   * Directories the current listing has read, sorted, for its next pages: a continuation resumes
   * in them without reading and sorting them again. `blobs/sha256/` is one flat directory, so
   * without this every 1000-key page of a 200k-object registry re-read and re-sorted 200k entries
   * (a full GC's inventory was quadratic). A listing's first page (no `startAfter`) clears it and
   * reads afresh. So, like an S3 listing, a page never shows a key deleted before it (each is
   * stat'ed), but unlike one it may miss a key created after the listing read its directory; the
   * GC's inventory is the only lister, and such an object is younger than any grace period.
   * Entries are the names as readdir returned them (a subdirectory's with "/"), not full keys:
   * about 100 bytes per object of a flat directory instead of 250.
   */
  private readonly listed = new LRUCache<string, string[]>({ max: 16 });
  /** Directories read by listings so far (tests count them). */
  directoryReads = 0;

  constructor(root: string, opts: DirectoryStoreOptions = {}) {
    this.root = resolve(root);
    this.durable = opts.durable ?? true;
    this.faultHook = opts.faultHook;
    this.pageSize = Math.max(1, opts.pageSize ?? 1000);
    this.deleteConcurrency = Math.max(1, opts.deleteConcurrency ?? 16);
    this.requiredRoot = resolve(opts.requiredRoot ?? root);
  }

  async get(key: string, opts: GetOptions = {}): Promise<GetResult> {
    const file = this.pathFor(key);
    return this.withFile(file, key, async (fh, st) => {
      const cached = this.cachedEtag(file, st);
      if (opts.ifNoneMatch !== undefined && cached === opts.ifNoneMatch)
        return { status: "not_modified", etag: cached };
      const body = await fh.readFile();
      const etag = md5Etag(body);
      this.rememberEtag(file, st, etag);
      if (opts.ifNoneMatch === etag) return { status: "not_modified", etag };
      return { status: "ok", body, etag, lastModified: st.mtime, size: body.length };
    });
  }

  async head(key: string, opts: StatOptions = {}): Promise<ObjectHead | null> {
    try {
      return await this.headFile(this.pathFor(key), key, opts.etag !== false);
    } catch (e) {
      if (e instanceof StorageError && e.code === "not_found") return null;
      throw e;
    }
  }

  async put(key: string, body: Uint8Array, opts: PutOptions = {}): Promise<{ etag: string }> {
    const file = this.pathFor(key);
    if (opts.ifMatch === undefined && opts.ifNoneMatch === undefined) return this.writeAtomically(file, key, body);
    return this.locked(file, async () => {
      const current = await this.head(key);
      if (opts.ifNoneMatch === "*" && current) throw preconditionFailed(key);
      if (opts.ifMatch !== undefined && current?.etag !== opts.ifMatch) throw preconditionFailed(key);
      return this.writeAtomically(file, key, body);
    });
  }

  async delete(key: string): Promise<void> {
    const file = this.pathFor(key);
    if (await this.unlinkObject(file, key)) await this.pruneEmptyDirs(dirname(file));
  }

  /** Unlinks under the file's lock; false when there was nothing to delete. */
  private unlinkObject(file: string, key: string): Promise<boolean> {
    return this.locked(file, async () => {
      try {
        await unlink(file);
      } catch (e) {
        // Absent, or a directory (which is not an object): either way there is nothing to delete.
        if (["ENOENT", "ENOTDIR", "EISDIR", "EPERM"].includes(errno(e))) return false;
        throw mapFsError(e, key);
      }
      this.etags.delete(file);
      return true;
    });
  }

  /**
   * `delete` of each key, a bounded number at a time; a key's error is its failure, not the call's.
   * Empty directories are pruned once per directory at the end, not once per key: a batch from the
   * flat `blobs/sha256/` would otherwise try (and fail, ENOTEMPTY) a thousand rmdirs.
   */
  async deleteObjects(keys: readonly string[]): Promise<DeleteFailure[]> {
    assertDeleteBatch(keys);
    const failures: DeleteFailure[] = [];
    const emptiedFrom = new Set<string>();
    await mapBounded(keys, this.deleteConcurrency, async (key) => {
      try {
        const file = this.pathFor(key);
        if (await this.unlinkObject(file, key)) emptiedFrom.add(dirname(file));
      } catch (e) {
        if (!(e instanceof StorageError)) throw e;
        failures.push({ key, error: e });
      }
    });
    for (const dir of emptiedFrom) await this.pruneEmptyDirs(dir);
    return failures;
  }

  /** The page's keys (`listKeys`), then a look at each file a few at a time (a stat, or a read for an ETag not cached). */
  async listPage(prefix: string, opts: ListOptions = {}): Promise<ListPage> {
    const { items: keys, truncated } = await this.listKeys(prefix, opts);
    const heads = await mapBounded(keys, LIST_STAT_CONCURRENCY, async ({ key }): Promise<ObjectHead | undefined> => {
      try {
        return await this.headFile(join(this.root, key), key, opts.etag !== false);
      } catch (e) {
        if (!(e instanceof StorageError && e.code === "not_found")) throw e;
        return undefined; // deleted meanwhile
      }
    });
    const items = keys.flatMap(({ key }, i) => (heads[i] ? [{ key, ...heads[i] }] : []));
    return { items, truncated };
  }

  /**
   * Names only, no stat: walks the tree in key order, skipping whole subtrees that sort before
   * `startAfter`. A file deleted after the directory was read is still listed.
   */
  async listKeys(prefix: string, opts: Omit<ListOptions, "etag"> = {}): Promise<KeyPage> {
    assertValidPrefix(prefix);
    const limit = Math.min(this.pageSize, opts.limit ?? Infinity);
    const keys: ListedKey[] = [];
    if (limit <= 0) return { items: [], truncated: false };
    const startAfter = opts.startAfter;
    if (startAfter === undefined) this.listed.clear();
    // Returns false once the page is full. Every child from resumeIndex on sorts after startAfter,
    // but for the directory that holds it, whose walk resumes inside.
    const walk = async (dirKey: string): Promise<boolean> => {
      const children = await this.sortedChildren(dirKey, prefix);
      if (!children) return true;
      for (let i = resumeIndex(dirKey, children, startAfter); i < children.length; i++) {
        const key = dirKey + children[i]!;
        if (isDirEntry(children[i]!)) {
          if (!(await walk(key))) return false;
          continue;
        }
        if (keys.length >= limit) return false;
        keys.push({ key });
      }
      return true;
    };
    const slash = prefix.lastIndexOf("/");
    const complete = await walk(slash >= 0 ? prefix.slice(0, slash + 1) : "");
    return { items: keys, truncated: !complete };
  }

  list(prefix: string, opts?: ListOptions): AsyncIterable<ObjectInfo> {
    return listAll(this, prefix, opts);
  }

  /**
   * A directory's files and subdirectories (the latter with "/") under `prefix`, in key order
   * (undefined: no such directory). Within one directory, names sort as the keys they end.
   */
  private async sortedChildren(dirKey: string, prefix: string): Promise<string[] | undefined> {
    const cacheKey = `${prefix}\0${dirKey}`;
    const cached = this.listed.get(cacheKey);
    if (cached) return cached;
    let entries;
    this.directoryReads++;
    try {
      entries = await readdir(join(this.root, dirKey), { withFileTypes: true });
    } catch (e) {
      if (["ENOENT", "ENOTDIR"].includes(errno(e))) return undefined;
      throw mapFsError(e, dirKey);
    }
    // The part of `prefix` below this directory ("" when the whole directory is under it).
    const rest = prefix.length > dirKey.length ? prefix.slice(dirKey.length) : "";
    const children: string[] = [];
    for (const d of entries) {
      if (d.name.startsWith(TEMP_MARKER)) continue;
      const name = d.isDirectory() ? `${d.name}/` : d.isFile() ? d.name : undefined;
      if (name !== undefined && (name.startsWith(rest) || (isDirEntry(name) && rest.startsWith(name))))
        children.push(name);
    }
    children.sort(compareKeys);
    this.listed.set(cacheKey, children);
    return children;
  }

  async close(): Promise<void> {
    this.etags.clear();
  }

  private pathFor(key: string): string {
    assertValidKey(key);
    const file = join(this.root, key);
    // The key rules already forbid escapes; this is the belt to those braces.
    if (!file.startsWith(this.root + sep)) throw invalidKey(key, "resolves outside the root");
    return file;
  }

  private async withFile<T>(
    file: string,
    key: string,
    fn: (fh: FileHandle, st: BigIntStats) => Promise<T>,
  ): Promise<T> {
    let fh: FileHandle;
    try {
      fh = await open(file, "r");
    } catch (e) {
      if (errno(e) === "ENOENT") await this.assertRootExists(key);
      throw mapFsError(e, key);
    }
    try {
      const st = await fh.stat({ bigint: true });
      if (!st.isFile()) throw objectNotFound(key);
      return await fn(fh, st);
    } catch (e) {
      throw e instanceof StorageError ? e : mapFsError(e, key);
    } finally {
      await fh.close();
    }
  }

  /**
   * A missing root is a misconfiguration (a wrong EPOCH_STORAGE_URL, an unmounted volume), not
   * an empty registry: every read says so instead of answering "not found". Checked only after
   * a miss, so a read that finds its file costs nothing more.
   */
  private async assertRootExists(key: string): Promise<void> {
    try {
      if ((await stat(this.requiredRoot)).isDirectory()) return;
    } catch (e) {
      if (!["ENOENT", "ENOTDIR"].includes(errno(e))) return;
    }
    throw storageUnavailable(`registry root ${this.requiredRoot} does not exist`, key);
  }

  /**
   * `withEtag` false: one plain stat and an ETag of "" — never a read of the content, nor the
   * nanosecond stamp the ETag cache needs (the collector stats every candidate this way).
   */
  private async headFile(file: string, key: string, withEtag = true): Promise<ObjectHead> {
    if (!withEtag) {
      let st: Stats;
      try {
        st = await stat(file);
      } catch (e) {
        throw mapFsError(e, key);
      }
      if (!st.isFile()) throw objectNotFound(key);
      return { etag: "", size: st.size, lastModified: st.mtime };
    }
    return this.withFile(file, key, async (_fh, st) => {
      let etag = this.cachedEtag(file, st);
      if (etag === undefined) {
        const hash = createHash("md5");
        // Streamed: a head of a large blob must not load it into memory.
        for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
        etag = `"${hash.digest("hex")}"`;
        this.rememberEtag(file, st, etag);
      }
      return { etag, size: Number(st.size), lastModified: st.mtime };
    });
  }

  private cachedEtag(file: string, st: BigIntStats): string | undefined {
    const hit = this.etags.get(file);
    if (hit === undefined) return undefined;
    const current = stamp(st);
    return hit.length > current.length && hit.charCodeAt(current.length) === 10 && hit.startsWith(current)
      ? hit.slice(current.length + 1)
      : undefined;
  }

  private rememberEtag(file: string, st: BigIntStats, etag: string): void {
    // Copied into a flat string: a template literal keeps its pieces alive as a rope.
    this.etags.set(file, Buffer.from(`${stamp(st)}\n${etag}`, "latin1").toString("latin1"));
  }

  private async writeAtomically(file: string, key: string, body: Uint8Array): Promise<{ etag: string }> {
    const dir = dirname(file);
    const tmp = join(dir, `${TEMP_MARKER}${randomBytes(8).toString("hex")}`);
    // A concurrent delete may prune the directory between mkdir and open: recreate and retry.
    for (let attempt = 0; ; attempt++) {
      await this.ensureDir(dir, key);
      try {
        await this.writeTemp(tmp, key, body);
        break;
      } catch (e) {
        await unlink(tmp).catch(() => undefined);
        if (errno(e) === "ENOENT" && attempt < 3) {
          this.knownDirs.delete(dir);
          continue;
        }
        throw e instanceof StorageError ? e : mapFsError(e, key, true);
      }
    }
    try {
      await this.faultHook?.("rename", key);
      await rename(tmp, file);
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      throw e instanceof StorageError ? e : mapFsError(e, key, true);
    }
    if (this.durable) await syncDir(dir, key);
    return { etag: md5Etag(body) };
  }

  private async writeTemp(tmp: string, key: string, body: Uint8Array): Promise<void> {
    const fh = await open(tmp, "wx");
    try {
      await this.faultHook?.("write", key);
      await fh.writeFile(body);
      if (this.durable) await fh.sync();
    } finally {
      await fh.close();
    }
  }

  private async ensureDir(dir: string, key: string): Promise<void> {
    if (this.knownDirs.has(dir)) return;
    try {
      await mkdir(dir, { recursive: true });
    } catch (e) {
      throw mapFsError(e, key, true);
    }
    if (this.knownDirs.size > 100_000) this.knownDirs.clear();
    this.knownDirs.add(dir);
  }

  /** Removes directories emptied by a delete, so the tree does not fill with empty folders. */
  private async pruneEmptyDirs(dir: string): Promise<void> {
    while (dir.startsWith(this.root + sep)) {
      try {
        await rmdir(dir);
      } catch {
        return; // not empty (or already gone): stop climbing
      }
      this.knownDirs.delete(dir);
      dir = dirname(dir);
    }
  }

  /** Serialises conditional writes and deletes per file. */
  private async locked<T>(file: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(file) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(file, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(file) === tail) this.locks.delete(file);
    }
  }
}

const isDirEntry = (name: string): boolean => name.endsWith("/");

/**
 * Where a walk of the sorted `children` of `dirKey` resumes after `startAfter`: the first child
 * after it, or the directory just before that when `startAfter` lies inside it (a binary search:
 * a page of a flat 200k-entry directory must not compare its way past everything before it).
 */
function resumeIndex(dirKey: string, children: readonly string[], startAfter: string | undefined): number {
  if (startAfter === undefined) return 0;
  // Every child's key starts with dirKey: a startAfter outside it is before or after them all.
  if (!startAfter.startsWith(dirKey)) return compareKeys(dirKey, startAfter) > 0 ? 0 : children.length;
  const rest = startAfter.slice(dirKey.length);
  let lo = 0;
  let hi = children.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKeys(children[mid]!, rest) <= 0) lo = mid + 1;
    else hi = mid;
  }
  const before = children[lo - 1];
  return before !== undefined && isDirEntry(before) && rest.startsWith(before) ? lo - 1 : lo;
}

const ETAG_CACHE_ENTRIES = 10_000;
/** Files a listing page looks at at once (libuv runs 4 by default; more keeps them busy). */
const LIST_STAT_CONCURRENCY = 16;

const stamp = (st: BigIntStats): string => `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
