/** Whether EPOCH_STORAGE_URL names a local directory that does not exist (said at start, before any sync fails on it). */
import { stat } from "node:fs/promises";
import { parseStorageUrl } from "./open-store.js";

/** The missing root's path, or undefined (it exists, or the store is not a directory). */
export async function missingDirectoryRoot(storageUrl: string): Promise<string | undefined> {
  const location = parseStorageUrl(storageUrl);
  if (location.type !== "file") return undefined;
  try {
    return (await stat(location.path)).isDirectory() ? undefined : location.path;
  } catch {
    return location.path;
  }
}
