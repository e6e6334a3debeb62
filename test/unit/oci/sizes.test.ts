import { describe, expect, it } from "vitest";
import { parseManifest, type ImageIndex, type ParsedManifest } from "../../../src/oci/manifest.js";
import { distinctBlobs, summarizeImage, summarizeIndex } from "../../../src/oci/sizes.js";

const d = (n: number) => `sha256:${n.toString(16).padStart(64, "0")}`;
const L = "application/vnd.oci.image.layer.v1.tar+gzip";
const C = "application/vnd.oci.image.config.v1+json";
const parse = (o: unknown) => parseManifest(Buffer.from(JSON.stringify(o)));
const img = (cfg: [number, number], layers: Array<[number, number]>) =>
  parse({
    schemaVersion: 2,
    config: { mediaType: C, digest: d(cfg[0]), size: cfg[1] },
    layers: layers.map(([n, s]) => ({ mediaType: L, digest: d(n), size: s })),
  });
const index = (children: Array<[number, { os: string; architecture: string; variant?: string }?]>) =>
  parse({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: children.map(([n, platform]) => ({
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: d(n),
      size: 500,
      ...(platform && { platform }),
    })),
  }) as ImageIndex;

describe("summarizeImage", () => {
  it("sums config and layers without dedup (Epoch) but lists blobs once", () => {
    const m = img(
      [1, 10],
      [
        [2, 100],
        [2, 100],
        [3, 1000],
      ],
    );
    if (m.type !== "manifest") throw new Error();
    const s = summarizeImage(m);
    expect(s.totalSize).toBe(1210);
    expect(s.layerCount).toBe(3);
    expect(s.blobs.map((b) => [b.digest, b.size])).toEqual([
      [d(1), 10],
      [d(2), 100],
      [d(3), 1000],
    ]);
  });

  it("handles an image with no layers and zero sizes", () => {
    const m = img([1, 0], []);
    if (m.type !== "manifest") throw new Error();
    expect(summarizeImage(m)).toEqual({
      totalSize: 0,
      layerCount: 0,
      blobs: [{ digest: d(1), size: 0, mediaType: C }],
    });
  });

  it("rejects a total above 2^53", () => {
    const big = 2 ** 52;
    const m = img(
      [1, big],
      [
        [2, big],
        [3, big],
      ],
    );
    if (m.type !== "manifest") throw new Error();
    expect(() => summarizeImage(m)).toThrow(expect.objectContaining({ reason: "MANIFEST_INVALID" }));
  });
});

describe("summarizeIndex", () => {
  const amd = img(
    [10, 5],
    [
      [1, 100],
      [2, 200],
    ],
  );
  const arm = img(
    [11, 6],
    [
      [1, 100],
      [3, 300],
    ],
  );
  const att = img([12, 7], [[4, 40]]);
  const idx = index([
    [20, { os: "linux", architecture: "amd64" }],
    [21, { os: "linux", architecture: "arm64", variant: "v8" }],
    [22, { os: "unknown", architecture: "unknown" }],
  ]);
  const children = new Map<string, ParsedManifest>([
    [d(20), amd],
    [d(21), arm],
    [d(22), att],
  ]);

  it("dedups blobs across children, counts children and lists platform sizes in index order", () => {
    const s = summarizeIndex(idx, children);
    expect(s.totalSize).toBe(5 + 6 + 7 + 100 + 200 + 300 + 40);
    expect(s.layerCount).toBe(3);
    expect(s.incomplete).toBe(false);
    expect(s.platformSizes).toEqual([
      { digest: d(20), size: 305, layerCount: 2, os: "linux", architecture: "amd64", variant: "" },
      { digest: d(21), size: 406, layerCount: 2, os: "linux", architecture: "arm64", variant: "v8" },
      { digest: d(22), size: 47, layerCount: 1, os: "unknown", architecture: "unknown", variant: "" },
    ]);
    expect(s.blobs.map((b) => b.digest)).toEqual([d(1), d(2), d(3), d(4), d(10), d(11), d(12)]);
  });

  it("sums the readable children only when one is missing, and says so", () => {
    const partial = new Map(children);
    partial.delete(d(21));
    const s = summarizeIndex(idx, partial);
    expect(s.incomplete).toBe(true);
    expect(s.missingChildren).toEqual([d(21)]);
    expect(s.layerCount).toBe(3);
    expect(s.totalSize).toBe(5 + 7 + 100 + 200 + 40);
    expect(s.platformSizes.map((p) => p.digest)).toEqual([d(20), d(22)]);
  });

  it("treats an explicitly undefined child as missing and a nested index as empty", () => {
    const nested = index([[30]]);
    const s = summarizeIndex(
      index([[20], [23], [24]]),
      new Map<string, ParsedManifest | undefined>([
        [d(20), amd],
        [d(23), undefined],
        [d(24), nested],
      ]),
    );
    expect(s.missingChildren).toEqual([d(23)]);
    expect(s.platformSizes[1]).toEqual({
      digest: d(24),
      size: 0,
      layerCount: 0,
      os: "",
      architecture: "",
      variant: "",
    });
    expect(s.totalSize).toBe(305);
  });

  it("is empty for an index without children", () => {
    expect(summarizeIndex(index([]), new Map())).toEqual({
      totalSize: 0,
      layerCount: 0,
      blobs: [],
      platformSizes: [],
      incomplete: false,
      missingChildren: [],
    });
  });
});

describe("distinctBlobs", () => {
  it("resolves conflicting sizes the same way whatever the order", () => {
    const a = { digest: d(1), size: 5, mediaType: "b" };
    const b = { digest: d(1), size: 9, mediaType: "a" };
    expect(distinctBlobs([a, b])).toEqual(distinctBlobs([b, a]));
    expect(distinctBlobs([a, b])[0]?.size).toBe(9);
  });
});
