import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EpochError } from "../../../src/errors.js";
import { analyzeManifest } from "../../../src/oci/analyze.js";
import { parseManifest, type ImageIndex, type ParsedManifest } from "../../../src/oci/manifest.js";
import { distinctBlobs, summarizeImage, summarizeIndex } from "../../../src/oci/sizes.js";

const hexDigest = fc.integer({ min: 0, max: 40 }).map((n) => `sha256:${n.toString(16).padStart(64, "0")}`);
const size = fc.integer({ min: 0, max: 2 ** 40 });
// One size per digest, as content addressing guarantees.
const sizeOf = (digest: string) => (parseInt(digest.slice(-4), 16) * 7919) % 1_000_000;
const descriptor = hexDigest.map((digest) => ({
  mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
  digest,
  size: sizeOf(digest),
}));
const image = fc
  .record({ config: descriptor, layers: fc.array(descriptor, { maxLength: 8 }) })
  .map((m) => ({ schemaVersion: 2, ...m }));

function expectOnlyTypedError(run: () => unknown): void {
  try {
    run();
  } catch (e) {
    expect(e).toBeInstanceOf(EpochError);
    expect((e as EpochError).reason).toBe("MANIFEST_INVALID");
  }
}

describe("OCI properties", () => {
  it("parses arbitrary bytes or throws MANIFEST_INVALID, nothing else", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (b) => expectOnlyTypedError(() => analyzeManifest(b))),
      { numRuns: 2000 },
    );
  });

  it("parses arbitrary JSON values or throws MANIFEST_INVALID, nothing else", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) =>
        expectOnlyTypedError(() => analyzeManifest(Buffer.from(JSON.stringify(v) ?? "null"))),
      ),
      {
        numRuns: 2000,
      },
    );
  });

  it("survives near-miss manifests (random fields swapped in)", () => {
    const field = fc.constantFrom(
      "schemaVersion",
      "mediaType",
      "config",
      "layers",
      "manifests",
      "annotations",
      "artifactType",
      "subject",
    );
    fc.assert(
      fc.property(image, field, fc.jsonValue(), (m, k, v) => {
        expectOnlyTypedError(() => analyzeManifest(Buffer.from(JSON.stringify({ ...m, [k]: v }))));
      }),
      { numRuns: 2000 },
    );
  });

  it("never yields a negative or unsafe size", () => {
    const anySizes = fc.record({
      config: fc.record({ mediaType: fc.constant("x/y"), digest: hexDigest, size }),
      layers: fc.array(fc.record({ mediaType: fc.constant("x/y"), digest: hexDigest, size }), { maxLength: 8 }),
    });
    fc.assert(
      fc.property(anySizes, (m) => {
        let parsed: ParsedManifest;
        try {
          parsed = parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, ...m })));
        } catch (e) {
          expect((e as EpochError).reason).toBe("MANIFEST_INVALID"); // conflicting sizes for one digest
          return;
        }
        if (parsed.type !== "manifest") throw new Error("expected an image");
        const s = summarizeImage(parsed);
        expect(s.totalSize).toBeGreaterThanOrEqual(0);
        expect(Number.isSafeInteger(s.totalSize)).toBe(true);
        for (const b of s.blobs) expect(b.size).toBeGreaterThanOrEqual(0);
      }),
    );
  });

  it("dedups independently of order: permuting layers or index children changes no total", () => {
    fc.assert(
      fc.property(fc.array(image, { minLength: 1, maxLength: 5 }), fc.integer(), (images, seed) => {
        const children = new Map<string, ParsedManifest>();
        const entries = images.map((m, i) => {
          const digest = `sha256:${(1000 + i).toString(16).padStart(64, "0")}`;
          children.set(digest, parseManifest(Buffer.from(JSON.stringify(m))));
          return { mediaType: "application/vnd.oci.image.manifest.v1+json", digest, size: 1 };
        });
        const shuffled = [...entries].sort(
          (a, b) => ((a.digest.charCodeAt(70) * seed) % 7) - ((b.digest.charCodeAt(70) * seed) % 7),
        );
        const idx = (manifests: typeof entries) =>
          parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, manifests }))) as ImageIndex;
        const a = summarizeIndex(idx(entries), children);
        const b = summarizeIndex(idx(shuffled), children);
        expect(b.totalSize).toBe(a.totalSize);
        expect(b.blobs).toEqual(a.blobs);
        expect(a.totalSize).toBe(
          distinctBlobs(
            [...children.values()].flatMap((c) => (c.type === "manifest" ? [c.config, ...c.layers] : [])),
          ).reduce((s, x) => s + x.size, 0),
        );
        expect(a.totalSize).toBeLessThanOrEqual(a.platformSizes.reduce((s, p) => s + p.size, 0));
      }),
    );
  });

  it("distinctBlobs is order-independent even for inconsistent input", () => {
    const d = fc.record({ digest: hexDigest, size, mediaType: fc.constantFrom("a", "b", "c") });
    fc.assert(
      fc.property(fc.array(d, { maxLength: 20 }), (list) => {
        expect(distinctBlobs([...list].reverse())).toEqual(distinctBlobs(list));
      }),
    );
  });
});
