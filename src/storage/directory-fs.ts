/**
 * The directory store's file-system helpers: errno codes turned into the store's typed errors,
 * and the directory fsync that makes a rename durable.
 */
import { open } from "node:fs/promises";
import { objectNotFound, StorageError, storageFailed, storageUnavailable } from "./object-store.js";

export async function syncDir(dir: string, key: string): Promise<void> {
  try {
    const fh = await open(dir, "r");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (e) {
    throw mapFsError(e, key);
  }
}

export const errno = (e: unknown): string =>
  typeof e === "object" && e !== null && "code" in e ? String((e as { code: unknown }).code) : "";

export function mapFsError(e: unknown, key: string, writing = false): StorageError {
  const code = errno(e);
  if (writing && ["ENOTDIR", "EISDIR", "EEXIST", "ENOTEMPTY"].includes(code)) {
    return storageFailed(`key ${JSON.stringify(key)} collides with an existing directory or object`, key, e);
  }
  switch (code) {
    case "ENOENT":
    case "ENOTDIR":
    case "EISDIR":
      return objectNotFound(key);
    case "EACCES":
    case "EPERM":
    case "EROFS":
    case "ENAMETOOLONG":
      return storageFailed(`${code} on ${JSON.stringify(key)}`, key, e);
    default:
      // EIO, ENOSPC, EMFILE, EAGAIN and injected faults: the disk may recover; let callers retry.
      return storageUnavailable(
        `${code || (e instanceof Error ? e.message : "I/O error")} on ${JSON.stringify(key)}`,
        key,
        e,
      );
  }
}
