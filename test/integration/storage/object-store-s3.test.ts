import { createServer, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isStorageUnavailable } from "../../../src/storage/object-store.js";
import { openObjectStore } from "../../../src/storage/open-store.js";
import { S3ObjectStore } from "../../../src/storage/s3-store.js";
import { CountingStore } from "../../helpers/fault-store.js";
import { startS3Server, type TestS3Server } from "../../helpers/s3-server.js";
import { objectStoreContract } from "./object-store-contract.js";

let server: TestS3Server;
let n = 0;
beforeAll(async () => {
  server = await startS3Server();
});
afterAll(async () => {
  await server.close();
});

// Each test gets its own prefix of one bucket: nothing leaks between tests.
objectStoreContract("s3 (s3rver)", async () => {
  const prefix = `contract-${++n}`;
  const store = server.open({ prefix, retry: false });
  const smallPages = server.open({ prefix, retry: false, s3: { pageSize: 2 } });
  return { store, smallPages, listOrderIsDirectoryWalk: true, cleanup: async () => undefined };
});

describe("S3ObjectStore specifics", () => {
  it("reports conditional puts as unsupported on a custom endpoint unless told otherwise", () => {
    expect(server.open().capabilities.conditionalPut).toBe(false);
    expect(
      openObjectStore(`${server.url}&conditionalPut=true`, { credentials: server.credentials }).capabilities
        .conditionalPut,
    ).toBe(true);
    expect(new S3ObjectStore({ bucket: "b" }).capabilities.conditionalPut).toBe(true);
  });

  it("keeps keys under the URL prefix", async () => {
    const a = server.open({ prefix: "iso/a", retry: false });
    const b = server.open({ prefix: "iso/b", retry: false });
    await a.put("catalog.json", Buffer.from("a"));
    expect(await b.head("catalog.json")).toBeNull();
    const root = server.open({ prefix: "", retry: false });
    expect(await root.head("iso/a/catalog.json")).not.toBeNull();
  });

  it("stores bodies byte-exact (no checksum chunk framing)", async () => {
    const store = server.open({ prefix: "framing", retry: false });
    const body = Buffer.from(JSON.stringify({ repositories: {} }));
    await store.put("catalog.json", body);
    const got = await store.get("catalog.json");
    expect(got.status === "ok" && got.body.toString()).toBe(body.toString());
  });

  it("turns a refused connection into a retryable error, and retries each attempt visibly", async () => {
    const url = `s3://unreachable/p?endpoint=${encodeURIComponent("http://127.0.0.1:9")}&forcePathStyle=true&region=us-east-1`;
    let counting: CountingStore | undefined;
    const store = openObjectStore(url, {
      credentials: server.credentials,
      retry: { maxAttempts: 3, baseDelayMs: 1 },
      instrument: (s) => (counting = new CountingStore(s)),
    });
    const e = await store.get("catalog.json").catch((err: unknown) => err);
    expect(isStorageUnavailable(e)).toBe(true);
    expect(counting?.total).toBe(3);
    await store.close();
  });

  it("times out a request the server never answers, as a retryable error", async () => {
    const sockets: Socket[] = [];
    const silent = createServer((s) => void sockets.push(s)); // accepts, never answers
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const port = (silent.address() as { port: number }).port;
    const store = new S3ObjectStore({
      bucket: "silent",
      endpoint: `http://127.0.0.1:${port}`,
      forcePathStyle: true,
      credentials: server.credentials,
      requestTimeoutMs: 300,
    });
    const start = performance.now();
    const e = await store.get("catalog.json").catch((err: unknown) => err);
    expect(isStorageUnavailable(e)).toBe(true);
    expect(performance.now() - start).toBeLessThan(5_000);
    await store.close();
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
  });
});
