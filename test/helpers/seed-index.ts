/**
 * Writes index rows straight through the entities, for read-side tests and benchmarks that
 * need a known index without running a sync. Values are whatever the test says; aggregates
 * (repositories.tag_count, registry_stats) are NOT derived — set them explicitly if asserted.
 */
import { createHash } from "node:crypto";
import type { Database } from "../../src/db/data-source.js";
import type {
  BlobRow,
  ManifestBlobRow,
  ManifestRow,
  PlatformSizeJson,
  RegistryStatsRow,
  RepositoryRow,
  TagRow,
} from "../../src/db/entities/index.js";

export interface SeedTag {
  name: string;
  /** Default: a digest derived from the repository and tag name (one manifest per tag). */
  digest?: string;
  kind?: string;
  mediaType?: string;
  artifactType?: string;
  totalSize?: number;
  layerCount?: number;
  platformSizes?: PlatformSizeJson[] | null;
  json?: string;
  pushedAt?: Date;
  incomplete?: boolean;
  indexedAt?: Date;
  syncedAt?: Date | null;
}

export type SeedRepository = Partial<Omit<RepositoryRow, "id" | "namespaceId" | "name">>;

const CHUNK = 400;
const T0 = Date.UTC(2024, 0, 1);

export function fakeDigest(...parts: string[]): string {
  return `sha256:${createHash("sha256").update(parts.join("\u0000")).digest("hex")}`;
}

export class IndexSeeder {
  private namespaceId = 1;
  private readonly repositoryIds = new Map<string, number>();
  private readonly manifestIds = new Map<string, number>();

  constructor(readonly db: Database) {}

  async init(): Promise<this> {
    const rows: Array<{ id: unknown }> = await this.db.ds.query("SELECT id FROM namespaces WHERE name = 'default'");
    this.namespaceId = Number(rows[0]!.id);
    return this;
  }

  async repository(name: string, fields: SeedRepository = {}): Promise<number> {
    const known = this.repositoryIds.get(name);
    if (known !== undefined) return known;
    const when = new Date(T0);
    await this.db.ds.getRepository<RepositoryRow>("Repository").insert({
      namespaceId: this.namespaceId,
      name,
      tagCount: 0,
      totalSize: 0,
      artifactType: "",
      kind: "",
      catalogUpdatedAt: null,
      createdAt: when,
      updatedAt: when,
      ...fields,
    });
    const rows: Array<{ id: unknown }> = await this.db.ds.query(
      "SELECT id FROM repositories WHERE namespace_id = ? AND name = ?",
      [this.namespaceId, name],
    );
    const id = Number(rows[0]!.id);
    this.repositoryIds.set(name, id);
    return id;
  }

  /** Inserts tags (and a manifest per distinct digest) in a few multi-row INSERTs. */
  async tags(repository: string, tags: readonly SeedTag[]): Promise<void> {
    const repositoryId = await this.repository(repository);
    const manifests = new Map<string, Omit<ManifestRow, "id">>();
    for (const t of tags) {
      const digest = t.digest ?? fakeDigest(repository, t.name);
      if (this.manifestIds.has(digest) || manifests.has(digest)) continue;
      manifests.set(digest, {
        namespaceId: this.namespaceId,
        digest,
        mediaType: t.mediaType ?? "application/vnd.oci.image.manifest.v1+json",
        artifactType: t.artifactType ?? "",
        kind: t.kind ?? "CONTAINER_IMAGE",
        json: t.json ?? JSON.stringify({ schemaVersion: 2, tag: t.name }),
        totalSize: t.totalSize ?? 0,
        layerCount: t.layerCount ?? 1,
        platformSizes: t.platformSizes ?? null,
      });
    }
    for (const chunk of chunks([...manifests.values()])) {
      await this.db.ds.getRepository<ManifestRow>("Manifest").insert(chunk);
    }
    for (const chunk of chunks([...manifests.keys()])) {
      const rows: Array<{ id: unknown; digest: string }> = await this.db.ds.query(
        `SELECT id, digest FROM manifests WHERE namespace_id = ? AND digest IN (${chunk.map(() => "?").join(", ")})`,
        [this.namespaceId, ...chunk],
      );
      for (const row of rows) this.manifestIds.set(row.digest, Number(row.id));
    }
    const rows: Array<Omit<TagRow, "id">> = tags.map((t, i) => {
      const digest = t.digest ?? fakeDigest(repository, t.name);
      return {
        repositoryId,
        name: t.name,
        manifestId: this.manifestIds.get(digest)!,
        digest,
        kind: t.kind ?? "CONTAINER_IMAGE",
        totalSize: t.totalSize ?? 0,
        pushedAt: t.pushedAt ?? new Date(T0 + i * 1000),
        objectEtag: null,
        incomplete: t.incomplete ?? false,
        indexedAt: t.indexedAt ?? new Date(T0),
        syncedAt: t.syncedAt ?? null,
      };
    });
    for (const chunk of chunks(rows)) await this.db.ds.getRepository<TagRow>("Tag").insert(chunk);
  }

  async blobs(
    blobs: ReadonlyArray<Omit<BlobRow, "namespaceId" | "mediaType"> & { mediaType?: string }>,
  ): Promise<void> {
    const rows = blobs.map((b) => ({ namespaceId: this.namespaceId, mediaType: "application/octet-stream", ...b }));
    for (const chunk of chunks(rows)) await this.db.ds.getRepository<BlobRow>("Blob").insert(chunk);
  }

  /** Links the manifest of `repository:tag` (a tag seeded before, default digest) to blobs. */
  async manifestBlobs(repository: string, tag: string, blobDigests: readonly string[]): Promise<void> {
    const manifestId = this.manifestIds.get(fakeDigest(repository, tag));
    if (manifestId === undefined) throw new Error(`seed ${repository}:${tag} first`);
    await this.db.ds
      .getRepository<ManifestBlobRow>("ManifestBlob")
      .insert(blobDigests.map((blobDigest) => ({ manifestId, blobDigest })));
  }

  async stats(row: Omit<RegistryStatsRow, "namespaceId">): Promise<void> {
    await this.db.ds.getRepository<RegistryStatsRow>("RegistryStats").save({ namespaceId: this.namespaceId, ...row });
  }
}

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}
