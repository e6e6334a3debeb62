/** Content digests: `sha256:` + the SHA-256 hex of the raw bytes (Epoch's tag digest). */
import { createHash } from "node:crypto";

export function computeDigest(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}
