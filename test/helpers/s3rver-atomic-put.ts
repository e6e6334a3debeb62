/**
 * s3rver 3.7.1 answers a PUT before the object is on disk: for a Buffer body it calls
 * `writeStream.end(body)` and resolves at once, and for a stream it waits for its own Transform,
 * not for the file. Under load a GET right after a PUT then reads a truncated object (seen as
 * "catalog.json is not valid UTF-8 JSON" in the fixture writer). Real S3 never does that, so the
 * test server is fixed rather than the tests: the object, its MD5 and its metadata are each
 * written to a temp file and renamed into place, and the PUT is answered after that.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import type { Readable } from "node:stream";

interface S3rverObject {
  bucket: string;
  key: string;
  content: Buffer | Readable;
  metadata: Record<string, string>;
}

interface FilesystemStore {
  getResourcePath(bucket: string, key: string, resource: string): string;
  putObject(object: S3rverObject): Promise<{ size: number; md5: string }>;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5?: string): Promise<void>;
}

const require = createRequire(import.meta.url);
const store = require("s3rver/lib/stores/filesystem.js") as { prototype: FilesystemStore };
const { ALLOWED_METADATA } = require("s3rver/lib/models/object.js") as { ALLOWED_METADATA: string[] };

async function writeAtomically(path: string, data: Buffer | string): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

async function bodyOf(content: Buffer | Readable): Promise<Buffer> {
  if (Buffer.isBuffer(content)) return content;
  const chunks: Buffer[] = [];
  for await (const chunk of content) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

let patched = false;

export function patchS3rverAtomicPut(): void {
  if (patched) return;
  patched = true;
  store.prototype.putObject = async function (this: FilesystemStore, object: S3rverObject) {
    const body = await bodyOf(object.content);
    const md5 = createHash("md5").update(body).digest("hex");
    const objectPath = this.getResourcePath(object.bucket, object.key, "object");
    await mkdir(dirname(objectPath), { recursive: true });
    // The MD5 (the ETag) lands just before the object: only a GET racing a PUT of the same key
    // could pair them wrongly, and no test does that (listings skip the temp files).
    await this.putMetadata(object.bucket, object.key, object.metadata, md5);
    await writeAtomically(objectPath, body);
    return { size: body.length, md5 };
  };
  store.prototype.putMetadata = async function (this: FilesystemStore, bucket, key, metadata, md5) {
    // As the original (the allowed headers and x-amz-meta-*), but never a half-written file.
    const json = Object.fromEntries(
      Object.entries(metadata).filter(([name]) => ALLOWED_METADATA.includes(name) || name.startsWith("x-amz-meta-")),
    );
    if (md5) await writeAtomically(this.getResourcePath(bucket, key, "object.md5"), md5);
    await writeAtomically(this.getResourcePath(bucket, key, "metadata.json"), JSON.stringify(json, null, 2));
  };
}
