/**
 * Where a namespace's registry root is. A namespace created without a storage_url lives under
 * the server's root at `namespaces/<name>/`; `default` is the server's root itself
 * (EPOCH_STORAGE_URL). What callers see never carries credentials.
 */
import { invalidArgument, isEpochError } from "../../errors.js";
import { parseStorageUrl } from "../../storage/open-store.js";
import { DEFAULT_NAMESPACE } from "./namespace-name.js";

/** The URL the namespace's store is opened with. */
export function effectiveStorageUrl(serverUrl: string, namespace: { name: string; storageUrl: string }): string {
  if (namespace.storageUrl !== "") return namespace.storageUrl;
  if (namespace.name === DEFAULT_NAMESPACE) return serverUrl;
  return prefixedUrl(serverUrl, `namespaces/${namespace.name}`);
}

/**
 * For a namespace under the server's directory root, that root: it must exist (else the server is
 * misconfigured), while the namespace's own directory appears with its first push.
 */
export function requiredDirectoryRoot(
  serverUrl: string,
  namespace: { name: string; storageUrl: string },
): string | undefined {
  if (namespace.storageUrl !== "" || namespace.name === DEFAULT_NAMESPACE) return undefined;
  const location = parseStorageUrl(serverUrl);
  return location.type === "file" ? location.path : undefined;
}

/** `file:` paths and `s3://bucket/prefix` both gain the sub-path; query parameters stay as they are. */
function prefixedUrl(url: string, sub: string): string {
  const location = parseStorageUrl(url);
  if (location.type === "file") return `file:${location.path.replace(/\/+$/, "")}/${sub}`;
  const u = new URL(url);
  u.pathname = `${u.pathname.replace(/\/+$/, "")}/${sub}/`;
  return u.toString();
}

/**
 * A storage_url from a CreateNamespace request: one the server can open, without credentials
 * (parseStorageUrl refuses them), or '' for the default layout.
 */
export function checkStorageUrl(url: string): string {
  if (url === "") return "";
  try {
    parseStorageUrl(url);
  } catch (e) {
    if (!isEpochError(e)) throw e;
    throw invalidArgument(e.message.replace("EPOCH_STORAGE_URL", "storage_url"));
  }
  return url;
}

/** The URL as shown to callers: user info and secret-looking query parameters removed. */
export function redactStorageUrl(url: string): string {
  if (!url.startsWith("s3://")) return url;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return "s3://(unparseable)";
  }
  u.username = "";
  u.password = "";
  const endpoint = u.searchParams.get("endpoint");
  if (endpoint !== null) {
    try {
      const e = new URL(endpoint);
      e.username = "";
      e.password = "";
      u.searchParams.set("endpoint", e.toString().replace(/\/$/, ""));
    } catch {
      u.searchParams.delete("endpoint");
    }
  }
  return u.toString();
}
