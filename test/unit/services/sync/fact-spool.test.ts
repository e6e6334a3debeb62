/** The sync's spool file: tags come back in order, in batches, byte-exact, and the file goes away. */
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FactSpool } from "../../../../src/services/sync/fact-spool.js";
import type { TagFacts } from "../../../../src/db/index/tag-facts.js";

const dir = mkdtempSync(join(tmpdir(), "epoch-spool-test-"));
afterEach(() => {
  expect(readdirSync(dir)).toEqual([]);
});

function facts(i: number, jsonBytes = 300): TagFacts {
  const json = JSON.stringify({ schemaVersion: 2, n: i, pad: "é€😀x".repeat(Math.ceil(jsonBytes / 10)) });
  return {
    repository: `team/repo-${i % 7}`,
    tag: `t${i}`,
    pushedAt: new Date(Date.UTC(2024, 0, 1, 0, 0, i)),
    objectEtag: `"etag-${i}"`,
    incomplete: i % 5 === 0,
    manifest: {
      digest: `sha256:${String(i).padStart(64, "0")}`,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      artifactType: "",
      kind: "CONTAINER_IMAGE",
      json,
      totalSize: 1000 + i,
      layerCount: 2,
      platformSizes:
        i % 2
          ? null
          : [{ digest: "sha256:x", size: 1, layerCount: 1, os: "linux", architecture: "amd64", variant: "" }],
      children: [],
      blobs: [{ digest: `sha256:${"a".repeat(64)}`, size: 5, mediaType: "application/octet-stream" }],
      complete: i % 5 !== 0,
    },
  };
}

async function drain(spool: FactSpool, size: number): Promise<TagFacts[][]> {
  const out: TagFacts[][] = [];
  for await (const batch of spool.batches(size)) out.push(batch);
  return out;
}

describe("FactSpool", () => {
  it("returns every tag, in order and in batches, across frames larger than its buffers", async () => {
    const spool = new FactSpool(dir);
    const written = Array.from({ length: 2500 }, (_, i) => facts(i, i === 1234 ? 3 * 2 ** 20 : 300));
    for (const f of written) spool.add(f);
    expect(spool.count).toBe(2500);
    const batches = await drain(spool, 1000);
    expect(batches.map((b) => b.length)).toEqual([1000, 1000, 500]);
    expect(batches.flat()).toEqual(written);
    await spool.close();
  });

  it("round-trips a frame whose header alone is larger than its buffers (an index of 20k children)", async () => {
    const spool = new FactSpool(dir);
    const huge = facts(1);
    huge.manifest.children = Array.from({ length: 20_000 }, (_, i) => ({
      digest: `sha256:${String(i).padStart(64, "0")}`,
      platform: `linux/arm/v${i}`,
    }));
    const written = [facts(0), huge, facts(2)];
    for (const f of written) spool.add(f);
    expect((await drain(spool, 2)).flat()).toEqual(written);
    await spool.close();
  });

  it("creates no file when nothing is added", async () => {
    const spool = new FactSpool(dir);
    expect(await drain(spool, 10)).toEqual([]);
    await spool.close();
    expect(existsSync(dir)).toBe(true);
  });
});

process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
