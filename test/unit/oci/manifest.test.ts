import { describe, expect, it } from "vitest";
import { isEpochError } from "../../../src/errors.js";
import { analyzeManifest, completeIndex } from "../../../src/oci/analyze.js";
import { computeDigest } from "../../../src/oci/digest.js";
import { createdAt, effectiveArtifactType, effectiveMediaType, parseManifest } from "../../../src/oci/manifest.js";

const d = (n: number) => `sha256:${n.toString(16).padStart(64, "0")}`;
const desc = (n: number, size: number, mediaType = "application/vnd.oci.image.layer.v1.tar+gzip") => ({
  mediaType,
  digest: d(n),
  size,
});
const bytes = (o: unknown) => Buffer.from(JSON.stringify(o));
const image = (extra: Record<string, unknown> = {}) => ({
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  config: desc(1, 100, "application/vnd.oci.image.config.v1+json"),
  layers: [desc(2, 1000), desc(3, 2000)],
  ...extra,
});

function invalid(input: Uint8Array | unknown): string {
  const b = input instanceof Uint8Array ? input : bytes(input);
  try {
    parseManifest(b);
  } catch (e) {
    expect(isEpochError(e)).toBe(true);
    expect(e).toMatchObject({ kind: "invalid_argument", reason: "MANIFEST_INVALID" });
    return (e as Error).message;
  }
  throw new Error("expected MANIFEST_INVALID");
}

describe("parseManifest", () => {
  it("parses an OCI image manifest", () => {
    const m = parseManifest(bytes(image({ annotations: { a: "b" } })));
    expect(m.type).toBe("manifest");
    if (m.type !== "manifest") return;
    expect(m.config.size).toBe(100);
    expect(m.layers.map((l) => l.size)).toEqual([1000, 2000]);
    expect(m.annotations).toEqual({ a: "b" });
    expect(effectiveMediaType(m)).toBe("application/vnd.oci.image.manifest.v1+json");
  });

  it("parses a Docker schema 2 manifest and a manifest list", () => {
    const docker = parseManifest(bytes(image({ mediaType: "application/vnd.docker.distribution.manifest.v2+json" })));
    expect(docker.declaredMediaType).toBe("application/vnd.docker.distribution.manifest.v2+json");
    const list = parseManifest(
      bytes({
        schemaVersion: 2,
        mediaType: "application/vnd.docker.distribution.manifest.list.v2+json",
        manifests: [
          {
            ...desc(9, 500, "application/vnd.docker.distribution.manifest.v2+json"),
            platform: { os: "linux", architecture: "arm", variant: "v7" },
          },
        ],
      }),
    );
    expect(list.type).toBe("index");
    if (list.type === "index")
      expect(list.manifests[0]?.platform).toEqual({ os: "linux", architecture: "arm", variant: "v7" });
  });

  it("infers an index from its shape when mediaType is absent", () => {
    const m = parseManifest(
      bytes({ schemaVersion: 2, manifests: [desc(4, 10, "application/vnd.oci.image.manifest.v1+json")] }),
    );
    expect(m.type).toBe("index");
    expect(effectiveMediaType(m)).toBe("application/vnd.oci.image.index.v1+json");
  });

  it("reads a missing layers array as empty", () => {
    const m = parseManifest(bytes({ schemaVersion: 2, config: desc(1, 2, "application/vnd.oci.empty.v1+json") }));
    expect(m.type === "manifest" && m.layers).toEqual([]);
  });

  it("uses artifactType, else the config media type, and keeps the declared one apart", () => {
    const plain = parseManifest(bytes(image()));
    expect(effectiveArtifactType(plain)).toBe("application/vnd.oci.image.config.v1+json");
    expect(plain.declaredArtifactType).toBeUndefined();
    const art = parseManifest(bytes(image({ artifactType: "application/x.thing" })));
    expect(effectiveArtifactType(art)).toBe("application/x.thing");
    expect(art.declaredArtifactType).toBe("application/x.thing");
    const index = parseManifest(bytes({ schemaVersion: 2, manifests: [] }));
    expect(effectiveArtifactType(index)).toBeUndefined();
  });

  it("reads org.opencontainers.image.created only when it is RFC 3339", () => {
    const created = (v: string) =>
      createdAt(parseManifest(bytes(image({ annotations: { "org.opencontainers.image.created": v } }))));
    expect(created("2024-01-15T10:00:00Z")?.toISOString()).toBe("2024-01-15T10:00:00.000Z");
    expect(created("2024-03-01T12:30:00.123456789+02:00")?.toISOString()).toBe("2024-03-01T10:30:00.123Z");
    expect(created("2024-01-15")).toBeUndefined();
    expect(created("yesterday")).toBeUndefined();
    expect(created("2024-02-30T00:00:00Z")).toBeUndefined();
    expect(createdAt(parseManifest(bytes(image())))).toBeUndefined();
  });

  it("keeps a __proto__ annotation as data", () => {
    const m = parseManifest(
      Buffer.from('{"schemaVersion":2,"config":' + JSON.stringify(desc(1, 1)) + ',"annotations":{"__proto__":"x"}}'),
    );
    expect(Object.keys(m.annotations)).toEqual(["__proto__"]);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  describe("rejects malformed manifests with a reason", () => {
    const cases: Array<[string, unknown, RegExp]> = [
      ["not JSON", Buffer.from("{not json"), /UTF-8 JSON/],
      ["invalid UTF-8", Buffer.from([0x7b, 0xff, 0x7d]), /UTF-8 JSON/],
      ["empty", Buffer.alloc(0), /UTF-8 JSON/],
      ["an array", [], /not a JSON object/],
      ["null", null, /not a JSON object/],
      ["schema 1", { schemaVersion: 1, name: "x", fsLayers: [] }, /schemaVersion 1/],
      ["no schemaVersion", { config: desc(1, 1) }, /schemaVersion/],
      ["no config", { schemaVersion: 2, layers: [] }, /config/],
      ["config not an object", { schemaVersion: 2, config: "x" }, /config is not an object/],
      ["layers not an array", image({ layers: {} }), /layers is not an array/],
      ["negative size", image({ layers: [desc(2, -1)] }), /size/],
      ["fractional size", image({ layers: [desc(2, 1.5)] }), /size/],
      ["size above 2^53", image({ layers: [desc(2, 2 ** 53)] }), /size/],
      ["size as string", image({ layers: [{ ...desc(2, 1), size: "1" }] }), /size/],
      ["bad digest", image({ layers: [{ ...desc(2, 1), digest: "sha256:XYZ" }] }), /digest/],
      ["sha512 digest", image({ layers: [{ ...desc(2, 1), digest: `sha512:${"a".repeat(128)}` }] }), /digest/],
      ["missing mediaType", image({ layers: [{ digest: d(2), size: 1 }] }), /mediaType is missing/],
      ["mediaType not a string", image({ mediaType: 5 }), /mediaType is not a string/],
      ["artifactType not a string", image({ artifactType: {} }), /artifactType/],
      ["annotation not a string", image({ annotations: { a: 1 } }), /annotations/],
      [
        "index without manifests",
        { schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json" },
        /manifests array/,
      ],
      ["index child bad platform", { schemaVersion: 2, manifests: [{ ...desc(4, 1), platform: "linux" }] }, /platform/],
      ["same blob, two sizes", image({ layers: [desc(2, 1), desc(2, 2)] }), /two sizes|sizes 1 and 2/],
    ];
    it.each(cases)("%s", (_name, input, message) => {
      expect(invalid(input)).toMatch(message);
    });
  });
});

describe("analyzeManifest", () => {
  it("computes the digest of the raw bytes and the plain summary", () => {
    const b = bytes(image());
    const a = analyzeManifest(b);
    expect(a.digest).toBe(computeDigest(b));
    expect(a.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(a.kind).toBe("CONTAINER_IMAGE");
    expect(a.summary).toEqual({
      totalSize: 3100,
      layerCount: 2,
      blobs: [
        { digest: d(1), size: 100, mediaType: "application/vnd.oci.image.config.v1+json" },
        { digest: d(2), size: 1000, mediaType: "application/vnd.oci.image.layer.v1.tar+gzip" },
        { digest: d(3), size: 2000, mediaType: "application/vnd.oci.image.layer.v1.tar+gzip" },
      ],
    });
    expect(a.childDigests).toEqual([]);
  });

  it("hashes bytes, not parsed JSON: whitespace changes the digest", () => {
    expect(analyzeManifest(Buffer.from(JSON.stringify(image(), null, 2))).digest).not.toBe(
      analyzeManifest(bytes(image())).digest,
    );
  });

  it("lists index children to fetch and completes the index", () => {
    const idx = bytes({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [desc(7, 10), desc(8, 10), desc(7, 10)],
    });
    const a = analyzeManifest(idx);
    expect(a.summary).toBeUndefined();
    expect(a.childDigests).toEqual([d(7), d(8)]);
    const child = parseManifest(bytes(image()));
    const s = completeIndex(a, new Map([[d(7), child]]));
    expect(s).toMatchObject({ layerCount: 3, incomplete: true, missingChildren: [d(8)], totalSize: 3100 });
    expect(() => completeIndex(analyzeManifest(bytes(image())), new Map())).toThrow(TypeError);
  });
});
