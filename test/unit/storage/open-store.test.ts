import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { DirectoryObjectStore } from "../../../src/storage/directory-store.js";
import { openObjectStore, parseStorageUrl } from "../../../src/storage/open-store.js";
import { RetryingStore } from "../../../src/storage/retrying-store.js";

describe("parseStorageUrl", () => {
  it("reads s3 URLs", () => {
    expect(
      parseStorageUrl("s3://my-bucket/reg/prefix?endpoint=http://127.0.0.1:9000&region=eu-west-1&forcePathStyle=true"),
    ).toEqual({
      type: "s3",
      options: {
        bucket: "my-bucket",
        prefix: "reg/prefix",
        endpoint: "http://127.0.0.1:9000",
        region: "eu-west-1",
        forcePathStyle: true,
      },
    });
    expect(parseStorageUrl("s3://my-bucket")).toEqual({ type: "s3", options: { bucket: "my-bucket" } });
    expect(
      parseStorageUrl("s3://my-bucket/p?conditionalPut=true").type === "s3" &&
        parseStorageUrl("s3://my-bucket/p?conditionalPut=true"),
    ).toMatchObject({
      options: { conditionalPut: true },
    });
  });

  it("reads file URLs, relative ones against the working directory", () => {
    expect(parseStorageUrl("file:./data/registry")).toEqual({ type: "file", path: resolve("data/registry") });
    expect(parseStorageUrl("file:data")).toEqual({ type: "file", path: resolve("data") });
    expect(parseStorageUrl("file:/srv/registry")).toEqual({ type: "file", path: "/srv/registry" });
    expect(parseStorageUrl("file:///srv/registry")).toEqual({ type: "file", path: "/srv/registry" });
  });

  it.each([
    "",
    "./data",
    "http://x",
    "s3://",
    "s3://ab",
    "s3://Bad_Bucket/x",
    "s3://bucket/x?unknown=1",
    "s3://bucket/x?forcePathStyle=maybe",
    "s3://key:secret@bucket/x",
    "s3://bucket/x?endpoint=ftp://host",
    "file:",
    "file://host/share",
    "file:%zz",
  ])("rejects %j naming EPOCH_STORAGE_URL", (url) => {
    expect(() => parseStorageUrl(url)).toThrow(
      expect.objectContaining({ kind: "invalid_argument", message: expect.stringContaining("EPOCH_STORAGE_URL") }),
    );
  });
});

describe("openObjectStore", () => {
  it("wraps the bare store in retries unless told not to, with instrumentation beneath", () => {
    let seen: unknown;
    const store = openObjectStore("file:/tmp/epoch-open-test", { instrument: (s) => (seen = s) });
    expect(store).toBeInstanceOf(RetryingStore);
    expect(seen).toBeInstanceOf(DirectoryObjectStore);
    expect(openObjectStore("file:/tmp/epoch-open-test", { retry: false })).toBeInstanceOf(DirectoryObjectStore);
  });
});
