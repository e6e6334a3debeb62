/**
 * A real S3-compatible server (s3rver) in this process on 127.0.0.1:<random>, with its own temp
 * directory and bucket. Credentials go to the store explicitly (`open()`, or `env` for a child
 * process), never into this process's environment.
 */
import { mkdtemp, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import S3rver from "s3rver";
import { afterAll, beforeAll } from "vitest";
import type { ObjectStore } from "../../src/storage/object-store.js";
import { openObjectStore, type OpenStoreOptions } from "../../src/storage/open-store.js";
import { patchS3rverAtomicPut } from "./s3rver-atomic-put.js";

export interface TestS3Server {
  endpoint: string;
  bucket: string;
  prefix: string;
  /** s3://bucket/prefix?endpoint=…&forcePathStyle=true&region=us-east-1 */
  url: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** For a child process: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_REGION. */
  env: Record<string, string>;
  /** Opens a store on `url` (or another prefix of the same bucket) with the right credentials. */
  open(opts?: OpenStoreOptions & { prefix?: string }): ObjectStore;
  close(): Promise<void>;
}

export async function startS3Server(opts: { bucket?: string; prefix?: string } = {}): Promise<TestS3Server> {
  const bucket = opts.bucket ?? "epoch-test";
  const prefix = opts.prefix ?? "registry";
  patchS3rverAtomicPut();
  const directory = await mkdtemp(join(tmpdir(), "epoch-s3rver-"));
  const server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket }],
  });
  const address: AddressInfo = await server.run();
  const endpoint = `http://127.0.0.1:${address.port}`;
  const urlFor = (p: string) =>
    `s3://${bucket}/${p}?endpoint=${encodeURIComponent(endpoint)}&forcePathStyle=true&region=us-east-1`;
  const credentials = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };
  const opened: ObjectStore[] = [];
  return {
    endpoint,
    bucket,
    prefix,
    url: urlFor(prefix),
    credentials,
    env: {
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      AWS_REGION: "us-east-1",
    },
    open({ prefix: p, ...storeOpts } = {}) {
      const store = openObjectStore(urlFor(p ?? prefix), { credentials, ...storeOpts });
      opened.push(store);
      return store;
    },
    async close() {
      await Promise.all(opened.map((s) => s.close()));
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** One s3rver for a test file: started before its tests, closed after them; call the getter inside tests and hooks. */
export function useS3Server(): () => TestS3Server {
  let s3: TestS3Server | undefined;
  beforeAll(async () => {
    s3 = await startS3Server();
  });
  afterAll(async () => {
    await s3?.close();
  });
  return () => {
    if (!s3) throw new Error("the s3rver is not running");
    return s3;
  };
}
