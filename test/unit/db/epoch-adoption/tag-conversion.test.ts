/**
 * The pure half of `migrate --from-epoch`: Epoch's tag rows and tokens → epoch-meta's rows, with
 * the cases a real Epoch database holds (old rows without kind or platform sizes, NULL push
 * times, kinds that disagree, platform sizes Epoch read only partly or wrote oddly).
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  convertEpochTag,
  mapEpochKind,
  platformSizesOf,
  type EpochTagRow,
} from "../../../../src/db/epoch-adoption/tag-conversion.js";
import { convertEpochToken, tokenProblem } from "../../../../src/db/epoch-adoption/token-conversion.js";
import type { ImageIndex } from "../../../../src/oci/manifest.js";

const hex = (seed: string) => createHash("sha256").update(seed).digest("hex");
const d = (seed: string) => `sha256:${hex(seed)}`;
const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
const LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";

const imageJson = JSON.stringify({
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  config: { mediaType: OCI_CONFIG, digest: d("cfg"), size: 10 },
  layers: [
    { mediaType: LAYER, digest: d("l1"), size: 100 },
    { mediaType: LAYER, digest: d("l1"), size: 100 },
  ],
  annotations: { "org.opencontainers.image.created": "2024-03-01T12:30:00.123456789+02:00" },
});

const amd = {
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  digest: d("amd"),
  size: 500,
  platform: { os: "linux", architecture: "amd64" },
};
const arm = {
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  digest: d("arm"),
  size: 500,
  platform: { os: "linux", architecture: "arm64", variant: "v8" },
};
const indexJson = JSON.stringify({
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.index.v1+json",
  manifests: [amd, arm],
});

const row = (over: Partial<EpochTagRow> = {}): EpochTagRow => ({
  id: 9,
  repositoryId: 3,
  repository: "library/app",
  name: "v1",
  digest: createHash("sha256")
    .update(over.manifestJson ?? imageJson)
    .digest("hex"),
  manifestJson: imageJson,
  totalSize: 210,
  layerCount: 2,
  pushedAt: Date.UTC(2025, 0, 1),
  syncedAt: Date.UTC(2025, 5, 1),
  ...over,
});

describe("Epoch tag conversion", () => {
  it("derives an image manifest's row from its JSON, as a sync does", () => {
    const got = convertEpochTag(row({ kind: "container-image" }));
    if (!got.ok) throw new Error(got.reason);
    expect(got.tag).toMatchObject({
      epochId: 9,
      repositoryId: 3,
      incomplete: false,
      // The created annotation at millisecond precision (Epoch's TIMESTAMP keeps whole seconds).
      pushedAt: new Date("2024-03-01T10:30:00.123Z"),
      manifest: {
        digest: `sha256:${row().digest}`,
        kind: "CONTAINER_IMAGE",
        artifactType: OCI_CONFIG,
        totalSize: 210,
        layerCount: 2,
        platformSizes: null,
        children: [],
        blobs: [
          { digest: d("cfg"), size: 10, mediaType: OCI_CONFIG },
          { digest: d("l1"), size: 100, mediaType: LAYER },
        ].sort((a, b) => (a.digest < b.digest ? -1 : 1)),
      },
    });
    expect(got.tag.disagreement).toBeUndefined();
  });

  it("keeps Epoch's index sizes, adds platforms, and marks a partly read index incomplete", () => {
    const full = convertEpochTag(
      row({
        manifestJson: indexJson,
        digest: hex(indexJson),
        totalSize: 900,
        kind: "image-index",
        platformSizes: JSON.stringify([
          { digest: amd.digest, size: 400, layerCount: 2 },
          { digest: arm.digest, size: 380, layerCount: 2 },
        ]),
      }),
    );
    if (!full.ok) throw new Error(full.reason);
    expect(full.tag.incomplete).toBe(false);
    expect(full.tag.manifest).toMatchObject({
      kind: "IMAGE_INDEX",
      totalSize: 900,
      layerCount: 2,
      blobs: [],
      children: [
        { digest: amd.digest, platform: "linux/amd64" },
        { digest: arm.digest, platform: "linux/arm64/v8" },
      ],
      platformSizes: [
        { digest: amd.digest, size: 400, layerCount: 2, os: "linux", architecture: "amd64", variant: "" },
        { digest: arm.digest, size: 380, layerCount: 2, os: "linux", architecture: "arm64", variant: "v8" },
      ],
    });
    // Pushed: no annotation, so Epoch's push time.
    expect(full.tag.pushedAt).toEqual(new Date(Date.UTC(2025, 0, 1)));

    const partial = convertEpochTag(
      row({
        manifestJson: indexJson,
        digest: hex(indexJson),
        platformSizes: [{ digest: arm.digest, size: 380, layerCount: 2 }],
      }),
    );
    expect(partial.ok && partial.tag.incomplete).toBe(true);
    // Older Epoch: no platform_sizes column at all.
    const old = convertEpochTag(row({ manifestJson: indexJson, digest: hex(indexJson) }));
    expect(old.ok && [old.tag.incomplete, old.tag.manifest.platformSizes]).toEqual([true, []]);
  });

  it("reads odd platform sizes as none read: unknown digests, out of order, malformed", () => {
    const index = JSON.parse(indexJson) as { manifests: ImageIndex["manifests"] };
    const idx: ImageIndex = { type: "index", annotations: {}, manifests: index.manifests };
    expect(platformSizesOf(idx, [{ digest: d("other"), size: 1, layerCount: 1 }])).toEqual([]);
    expect(
      platformSizesOf(idx, [
        { digest: arm.digest, size: 1, layerCount: 1 },
        { digest: amd.digest, size: 1, layerCount: 1 },
      ]),
    ).toEqual([]);
    expect(platformSizesOf(idx, [{ digest: amd.digest, size: "1", layerCount: 1 }])).toEqual([]);
    expect(platformSizesOf(idx, "not json")).toEqual([]);
    expect(platformSizesOf(idx, null)).toEqual([]);
    // A digest listed twice matches its next occurrence.
    const twice: ImageIndex = { ...idx, manifests: [amd, amd] };
    expect(
      platformSizesOf(twice, [
        { digest: amd.digest, size: 1, layerCount: 1 },
        { digest: amd.digest, size: 1, layerCount: 1 },
      ]),
    ).toHaveLength(2);
  });

  it("falls back to synced_at when Epoch has no push time, and flags stored values the bytes contradict", () => {
    const json = JSON.stringify({ ...JSON.parse(imageJson), annotations: {} });
    const got = convertEpochTag(row({ manifestJson: json, digest: "0".repeat(64), pushedAt: null, kind: "snapshot" }));
    if (!got.ok) throw new Error(got.reason);
    expect(got.tag.pushedAt).toEqual(new Date(Date.UTC(2025, 5, 1)));
    expect(got.tag.manifest.digest).toBe(`sha256:${hex(json)}`);
    expect(got.tag.manifest.kind).toBe("CONTAINER_IMAGE");
    expect(got.tag.disagreement).toMatch(/digest .* is not the manifest's/);
    expect(got.tag.disagreement).toMatch(/kind "snapshot" is not the manifest's \(CONTAINER_IMAGE\)/);
  });

  it("leaves behind what a sync would never index", () => {
    expect(convertEpochTag(row({ repository: "Bad/UPPER" }))).toEqual({
      ok: false,
      reason: "repository name fails the OCI rules",
    });
    expect(convertEpochTag(row({ name: "bad tag!" }))).toEqual({ ok: false, reason: "tag name fails the OCI rules" });
    const negative = convertEpochTag(
      row({
        manifestJson: JSON.stringify({ schemaVersion: 2, config: { mediaType: OCI_CONFIG, digest: d("c"), size: -1 } }),
      }),
    );
    expect(negative.ok).toBe(false);
    expect(convertEpochTag(row({ manifestJson: "{" })).ok).toBe(false);
  });

  it("maps Epoch's kind names and nothing else", () => {
    expect(
      ["container-image", "cloud-image", "snapshot", "image-index", "unknown", "", "Container-Image"].map(mapEpochKind),
    ).toEqual(["CONTAINER_IMAGE", "CLOUD_IMAGE", "SNAPSHOT", "IMAGE_INDEX", undefined, undefined, undefined]);
  });
});

describe("Epoch token conversion", () => {
  const token = {
    id: 5,
    name: "ci",
    tokenHash: "AB".repeat(32),
    createdBy: "",
    createdAt: Date.UTC(2025, 0, 1),
    lastUsed: null,
  };

  it("keeps id, name, creator, times; lowercases the hash", () => {
    expect(convertEpochToken(token, new Date(0))).toEqual({
      id: 5,
      name: "ci",
      tokenHash: "ab".repeat(32),
      createdBy: "",
      createdAt: new Date(Date.UTC(2025, 0, 1)),
      lastUsed: null,
    });
    expect(tokenProblem(token)).toBeUndefined();
  });

  it("refuses rows that could never validate", () => {
    expect(tokenProblem({ ...token, tokenHash: "xyz" })).toMatch(/not a SHA-256 hex digest/);
    expect(tokenProblem({ ...token, name: "n".repeat(256) })).toMatch(/longer than 255/);
  });
});
