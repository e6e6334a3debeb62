/**
 * Builds sample registries through the layout and records, for every tag, the values the index
 * must end up with — computed here from what was built, not by src/oci, so tests that compare
 * the two check the analysis independently.
 */
import { createHash } from "node:crypto";
import type { ArtifactKind } from "../oci/kinds.js";
import type { BlobRef, PlatformSize } from "../oci/sizes.js";
import type { RegistryLayout } from "../storage/registry-layout.js";

/** A blob built into the registry: the shape src/oci reports (only the type is shared, not the computation). */
export type BlobSpec = BlobRef;

/** Why a tag cannot be indexed fully; the sync reports it as a TagFailure with this reason. */
export type BrokenReason = "MANIFEST_MISSING" | "MANIFEST_INVALID" | "INDEX_CHILD_MISSING" | "INVALID_NAME";

export interface ExpectedTag {
  repository: string;
  tag: string;
  /** Absent when there is no manifest to hash (missing object, invalid name). */
  digest?: string;
  kind?: ArtifactKind;
  mediaType?: string;
  artifactType?: string;
  totalSize: number;
  layerCount: number;
  /** Distinct config+layer blobs (union over readable children for an index), sorted by digest. */
  blobs: BlobSpec[];
  platformSizes?: PlatformSize[];
  incomplete: boolean;
  /** `org.opencontainers.image.created` when it is valid RFC 3339. */
  createdAt?: string;
  broken?: BrokenReason;
}

export interface ImageSpec {
  mediaType?: string;
  artifactType?: string;
  config: BlobSpec;
  layers: BlobSpec[];
  annotations?: Record<string, string>;
}

export interface IndexChildSpec {
  image: ImageSpec;
  platform: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
  /** Leave the child out of `_digests/` (a broken index). */
  omit?: boolean;
}

/** Deterministic pseudo-random bytes, so a demo registry is the same on every run. */
export function seededBytes(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let off = 0, n = 0; off < size; n++) off += createHash("sha256").update(`${seed}:${n}`).digest().copy(out, off);
  return out;
}

export const fakeDigest = (seed: string): string => `sha256:${createHash("sha256").update(seed).digest("hex")}`;

const byDigest = (a: BlobSpec, b: BlobSpec) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0);

export function distinctSorted(blobs: Iterable<BlobSpec>): BlobSpec[] {
  const m = new Map<string, BlobSpec>();
  for (const b of blobs) if (!m.has(b.digest)) m.set(b.digest, b);
  return [...m.values()].sort(byDigest);
}

const descriptor = (b: BlobSpec, extra: Record<string, unknown> = {}) => ({
  mediaType: b.mediaType,
  digest: b.digest,
  size: b.size,
  ...extra,
});

export function imageManifestBytes(spec: ImageSpec): Buffer {
  return Buffer.from(
    JSON.stringify(
      {
        schemaVersion: 2,
        mediaType: spec.mediaType ?? "application/vnd.oci.image.manifest.v1+json",
        ...(spec.artifactType !== undefined && { artifactType: spec.artifactType }),
        config: descriptor(spec.config),
        layers: spec.layers.map((l) => descriptor(l)),
        ...(spec.annotations !== undefined && { annotations: spec.annotations }),
      },
      null,
      2,
    ),
  );
}

export class DemoBuilder {
  readonly expected: ExpectedTag[] = [];

  constructor(readonly layout: RegistryLayout) {}

  /** Writes a blob of `size` seeded bytes and returns its descriptor. */
  async blob(seed: string, size: number, mediaType: string): Promise<BlobSpec> {
    const { digest } = await this.layout.pushBlob(seededBytes(seed, size));
    return { digest, size, mediaType };
  }

  /** A JSON config blob (real content, so its size and digest are exact). */
  async config(content: unknown, mediaType: string): Promise<BlobSpec> {
    const bytes = Buffer.from(JSON.stringify(content));
    const { digest } = await this.layout.pushBlob(bytes);
    return { digest, size: bytes.length, mediaType };
  }

  async image(repository: string, tags: string[], spec: ImageSpec, kind: ArtifactKind): Promise<string> {
    const bytes = imageManifestBytes(spec);
    let digest = "";
    for (const tag of tags) digest = (await this.layout.pushManifest(repository, tag, bytes)).digest;
    for (const tag of tags) {
      this.expected.push({
        repository,
        tag,
        digest,
        kind,
        mediaType: spec.mediaType ?? "application/vnd.oci.image.manifest.v1+json",
        artifactType: spec.artifactType ?? spec.config.mediaType,
        totalSize: spec.config.size + spec.layers.reduce((s, l) => s + l.size, 0),
        layerCount: spec.layers.length,
        blobs: distinctSorted([spec.config, ...spec.layers]),
        incomplete: false,
        ...createdOf(spec.annotations),
      });
    }
    return digest;
  }

  async index(
    repository: string,
    tags: string[],
    children: IndexChildSpec[],
    opts: {
      mediaType?: string;
      childMediaType?: string;
      artifactType?: string;
      kind?: ArtifactKind;
      annotations?: Record<string, string>;
    } = {},
  ): Promise<string> {
    const mediaType = opts.mediaType ?? "application/vnd.oci.image.index.v1+json";
    const entries = [];
    const platformSizes: PlatformSize[] = [];
    const readable: BlobSpec[] = [];
    for (const child of children) {
      const bytes = imageManifestBytes({ mediaType: opts.childMediaType, ...child.image });
      const digest = fakeDigestOf(bytes);
      if (!child.omit) {
        await this.layout.pushManifestByDigest(repository, bytes);
        const parts = [child.image.config, ...child.image.layers];
        readable.push(...parts);
        platformSizes.push({
          digest,
          size: parts.reduce((s, p) => s + p.size, 0),
          layerCount: child.image.layers.length,
          os: child.platform.os,
          architecture: child.platform.architecture,
          variant: child.platform.variant ?? "",
        });
      }
      entries.push({
        mediaType: child.image.mediaType ?? opts.childMediaType ?? "application/vnd.oci.image.manifest.v1+json",
        digest,
        size: bytes.length,
        platform: child.platform,
        ...(child.annotations !== undefined && { annotations: child.annotations }),
      });
    }
    const bytes = Buffer.from(
      JSON.stringify(
        {
          schemaVersion: 2,
          mediaType,
          ...(opts.artifactType !== undefined && { artifactType: opts.artifactType }),
          manifests: entries,
          ...(opts.annotations !== undefined && { annotations: opts.annotations }),
        },
        null,
        2,
      ),
    );
    let digest = "";
    for (const tag of tags) digest = (await this.layout.pushManifest(repository, tag, bytes)).digest;
    const blobs = distinctSorted(readable);
    const incomplete = children.some((c) => c.omit);
    for (const tag of tags) {
      this.expected.push({
        repository,
        tag,
        digest,
        kind: opts.kind ?? "IMAGE_INDEX",
        mediaType,
        ...(opts.artifactType !== undefined && { artifactType: opts.artifactType }),
        totalSize: blobs.reduce((s, b) => s + b.size, 0),
        layerCount: children.length,
        blobs,
        platformSizes,
        incomplete,
        ...createdOf(opts.annotations),
        ...(incomplete && { broken: "INDEX_CHILD_MISSING" as const }),
      });
    }
    return digest;
  }
}

function fakeDigestOf(bytes: Buffer): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function createdOf(annotations: Record<string, string> | undefined): { createdAt?: string } {
  const created = annotations?.["org.opencontainers.image.created"];
  return created !== undefined && RFC3339.test(created) ? { createdAt: created } : {};
}
