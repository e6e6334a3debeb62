/** A `file:` registry root at start: said when missing (before any sync fails on it), or created for the embedded default. */
import { mkdir, stat } from "node:fs/promises";
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

/** Creates the directory a `file:` storage URL names (the embedded default's, at start). */
export async function createDefaultRoot(storageUrl: string): Promise<void> {
  const location = parseStorageUrl(storageUrl);
  if (location.type === "file") await mkdir(location.path, { recursive: true });
}
