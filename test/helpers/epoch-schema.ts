/**
 * An Epoch (cocoonstack/epoch v0.1.x) database for adoption tests: Epoch's own DDL — the
 * v0.1.7 shape, or an older one without the columns later releases ALTERed in (artifact_type,
 * kind, platform_sizes) and with the token_plain column v0.1.7 dropped — filled the way Epoch's
 * sync fills it from a registry, plus tokens with known 64-hex secrets. Epoch's values are
 * computed here from the registry's JSON, independently of src/oci, through a raw mysql2
 * connection whose session time zone is not UTC (Epoch's TIMESTAMPs must still read as UTC).
 */
import { createHash } from "node:crypto";
import mysql from "mysql2/promise";
import type { ObjectStore } from "../../src/storage/object-store.js";

export type EpochShape = "v0.1.7" | "older";

const REPOSITORIES = `CREATE TABLE IF NOT EXISTS repositories (
  id         BIGINT AUTO_INCREMENT PRIMARY KEY,
  name       VARCHAR(255) NOT NULL UNIQUE,
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  INDEX idx_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;

const TAGS = (shape: EpochShape) => `CREATE TABLE IF NOT EXISTS tags (
  id              BIGINT AUTO_INCREMENT PRIMARY KEY,
  repository_id   BIGINT NOT NULL,
  name            VARCHAR(255) NOT NULL,
  digest          CHAR(64) NOT NULL,
  ${shape === "v0.1.7" ? "artifact_type   VARCHAR(255) NOT NULL DEFAULT '',\n  kind            VARCHAR(32) NOT NULL DEFAULT ''," : ""}
  manifest_json   MEDIUMTEXT NOT NULL,
  total_size      BIGINT NOT NULL DEFAULT 0,
  layer_count     INT NOT NULL DEFAULT 0,
  pushed_at       TIMESTAMP NULL,
  synced_at       TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  UNIQUE KEY uk_repo_tag (repository_id, name),
  FOREIGN KEY (repository_id) REFERENCES repositories(id) ON DELETE CASCADE,
  INDEX idx_digest (digest)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;

const BLOBS = `CREATE TABLE IF NOT EXISTS blobs (
  digest     CHAR(64) PRIMARY KEY,
  size       BIGINT NOT NULL DEFAULT 0,
  media_type VARCHAR(127) NOT NULL DEFAULT 'application/octet-stream',
  ref_count  INT NOT NULL DEFAULT 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;

const TOKENS = (shape: EpochShape) => `CREATE TABLE IF NOT EXISTS tokens (
  id          BIGINT AUTO_INCREMENT PRIMARY KEY,
  name        VARCHAR(255) NOT NULL,
  token_hash  CHAR(64) NOT NULL UNIQUE,
  ${shape === "older" ? "token_plain VARCHAR(255) NOT NULL DEFAULT ''," : ""}
  created_by  VARCHAR(255) NOT NULL DEFAULT '',
  created_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  last_used   TIMESTAMP NULL,
  INDEX idx_hash (token_hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;

export interface EpochTokenFixture {
  id: number;
  name: string;
  createdBy: string;
  /** Epoch's secret: 64 lowercase hex. */
  secret: string;
  hash: string;
  createdAt: Date;
  lastUsed: Date | null;
}

/** Two tokens as Epoch hands them out; the ids are not 1 and 2 so "ids kept" is visible. */
export const EPOCH_TOKENS: EpochTokenFixture[] = [
  token(7, "ci", "alice", "1f".repeat(32), new Date("2025-01-02T03:04:05Z"), new Date("2025-05-06T07:08:09Z")),
  token(42, "laptop", "", "c0ffee".repeat(10) + "beef", new Date("2025-02-03T04:05:06Z"), null),
];

function token(
  id: number,
  name: string,
  createdBy: string,
  secret: string,
  createdAt: Date,
  lastUsed: Date | null,
): EpochTokenFixture {
  return { id, name, createdBy, secret, hash: sha256hex(secret), createdAt, lastUsed };
}

export interface EpochTagFixture {
  repository: string;
  tag: string;
  /** Bare hex, as Epoch stores it. */
  digest: string;
  kind: string;
  totalSize: number;
  layerCount: number;
  platformSizes: Array<{ digest: string; size: number; layerCount: number }> | null;
  pushedAt: Date;
}

export interface EpochDatabase {
  shape: EpochShape;
  /** The rows Epoch ended up with (names as stored, values of the manifest they point at). */
  tags: EpochTagFixture[];
  tokens: EpochTokenFixture[];
  /** When Epoch "synced" (its synced_at, and pushed_at for tags without a created annotation). */
  syncedAt: Date;
  /** Runs SQL on the Epoch database (for tests that tamper with it). */
  query(sql: string, params?: unknown[]): Promise<unknown>;
  close(): Promise<void>;
}

export interface EpochFillOptions {
  shape?: EpochShape;
  syncedAt?: Date;
}

/** Creates Epoch's tables in the (empty) database at `url` and fills them from `store`. */
export async function createEpochDatabase(
  url: string,
  store: ObjectStore,
  opts: EpochFillOptions = {},
): Promise<EpochDatabase> {
  const shape = opts.shape ?? "v0.1.7";
  const syncedAt = opts.syncedAt ?? new Date("2025-06-01T12:00:00Z");
  const u = new URL(url);
  const conn = await mysql.createConnection({
    host: u.hostname,
    port: Number(u.port || 3306),
    user: decodeURIComponent(u.username || "root"),
    password: decodeURIComponent(u.password),
    database: decodeURIComponent(u.pathname.slice(1)),
  });
  // Not UTC on purpose: TIMESTAMPs written here must still be adopted as the right instants.
  await conn.query("SET time_zone = '+05:00'");
  for (const ddl of [REPOSITORIES, TAGS(shape), BLOBS, TOKENS(shape)]) await conn.query(ddl);
  if (shape === "v0.1.7") await conn.query("ALTER TABLE tags ADD COLUMN platform_sizes JSON NULL");

  const tags = await readAsEpoch(store, syncedAt);
  const repoIds = new Map<string, number>();
  for (const t of tags) {
    if (repoIds.has(t.repository)) continue;
    const [res] = await conn.query(
      "INSERT INTO repositories (name, created_at, updated_at) VALUES (?, FROM_UNIXTIME(?), FROM_UNIXTIME(?))",
      [t.repository, seconds(syncedAt) - 86_400, seconds(syncedAt)],
    );
    repoIds.set(t.repository, (res as mysql.ResultSetHeader).insertId);
  }
  const blobs = new Map<string, { size: number; mediaType: string; refs: number }>();
  for (const t of tags) {
    const optional = shape === "v0.1.7" ? ", artifact_type, kind, platform_sizes" : "";
    const values =
      shape === "v0.1.7"
        ? [t.artifactType, t.fixture.kind, t.fixture.platformSizes && JSON.stringify(t.fixture.platformSizes)]
        : [];
    // Epoch's upsert: under its _ci collation `Latest` and `latest` are one row, which keeps the
    // first name and takes the last manifest (a tag Epoch lost; the first sync brings it back).
    await conn.query(
      `INSERT INTO tags (repository_id, name, digest, manifest_json, total_size, layer_count, pushed_at, synced_at${optional})
VALUES (?, ?, ?, ?, ?, ?, FROM_UNIXTIME(?), FROM_UNIXTIME(?)${values.map(() => ", ?").join("")})
ON DUPLICATE KEY UPDATE digest = VALUES(digest), manifest_json = VALUES(manifest_json), total_size = VALUES(total_size),
  layer_count = VALUES(layer_count), pushed_at = VALUES(pushed_at), synced_at = VALUES(synced_at)${
    shape === "v0.1.7"
      ? ", artifact_type = VALUES(artifact_type), kind = VALUES(kind), platform_sizes = VALUES(platform_sizes)"
      : ""
  }`,
      [
        repoIds.get(t.repository),
        t.tag,
        t.fixture.digest,
        t.json,
        t.fixture.totalSize,
        t.fixture.layerCount,
        seconds(t.fixture.pushedAt),
        seconds(syncedAt),
        ...values,
      ],
    );
    for (const d of t.descriptors) {
      const seen = blobs.get(d.digest);
      blobs.set(d.digest, { size: d.size, mediaType: d.mediaType, refs: (seen?.refs ?? 0) + 1 });
    }
  }
  for (const [digest, b] of blobs) {
    await conn.query("INSERT INTO blobs (digest, size, media_type, ref_count) VALUES (?, ?, ?, ?)", [
      digest.replace(/^sha256:/, ""),
      b.size,
      b.mediaType,
      b.refs,
    ]);
  }
  for (const t of EPOCH_TOKENS) {
    const plain = shape === "older" ? ", token_plain" : "";
    await conn.query(
      `INSERT INTO tokens (id, name, token_hash, created_by, created_at, last_used${plain}) VALUES (?, ?, ?, ?, FROM_UNIXTIME(?), FROM_UNIXTIME(?)${plain ? ", ?" : ""})`,
      [
        t.id,
        t.name,
        t.hash,
        t.createdBy,
        seconds(t.createdAt),
        t.lastUsed && seconds(t.lastUsed),
        ...(plain ? [t.secret] : []),
      ],
    );
  }
  const byDigest = new Map(tags.map((t) => [t.fixture.digest, t.fixture]));
  const [stored] = await conn.query(
    "SELECT r.name AS repository, t.name AS tag, t.digest FROM tags t JOIN repositories r ON r.id = t.repository_id",
  );
  return {
    shape,
    tags: (stored as Array<{ repository: string; tag: string; digest: string }>).map((r) => ({
      ...byDigest.get(r.digest)!,
      repository: r.repository,
      tag: r.tag,
    })),
    tokens: EPOCH_TOKENS,
    syncedAt,
    query: async (sql, params = []) => (await conn.query(sql, params))[0],
    close: () => conn.end(),
  };
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

interface ReadTag {
  repository: string;
  tag: string;
  json: string;
  artifactType: string;
  descriptors: Descriptor[];
  fixture: EpochTagFixture;
}

/** Epoch v0.1.7's sync over the registry: what it would store for every tag it can read. */
async function readAsEpoch(store: ObjectStore, syncedAt: Date): Promise<ReadTag[]> {
  const catalog = JSON.parse((await getText(store, "catalog.json"))!) as {
    repositories: Record<string, { tags: Record<string, string> }>;
  };
  const out: ReadTag[] = [];
  for (const [repository, entry] of Object.entries(catalog.repositories)) {
    for (const tag of Object.keys(entry.tags).sort()) {
      const json = await getText(store, entry.tags[tag]!);
      const doc = json === undefined ? undefined : parseJson(json);
      if (json === undefined || doc === undefined) continue; // Epoch logs the failure and moves on
      const kind = epochKind(doc);
      let totalSize: number;
      let layerCount: number;
      let descriptors: Descriptor[];
      let platformSizes: EpochTagFixture["platformSizes"] = null;
      if (kind === "image-index") {
        const entries = (doc.manifests ?? []) as Descriptor[];
        platformSizes = [];
        const seen = new Map<string, Descriptor>();
        for (const child of entries) {
          const text = await getText(store, `manifests/${repository}/_digests/sha256-${child.digest.slice(7)}.json`);
          const c = text === undefined ? undefined : parseJson(text);
          if (c === undefined) continue;
          const parts = [c.config as Descriptor, ...((c.layers ?? []) as Descriptor[])];
          platformSizes.push({
            digest: child.digest,
            size: parts.reduce((s, p) => s + p.size, 0),
            layerCount: parts.length - 1,
          });
          for (const p of parts) if (!seen.has(p.digest)) seen.set(p.digest, p);
        }
        descriptors = [...seen.values()];
        totalSize = descriptors.reduce((s, p) => s + p.size, 0);
        layerCount = entries.length;
        if (platformSizes.length === 0) platformSizes = null; // Epoch stores an empty list as NULL
      } else {
        const layers = (doc.layers ?? []) as Descriptor[];
        descriptors = [doc.config as Descriptor, ...layers];
        totalSize = descriptors.reduce((s, p) => s + p.size, 0);
        layerCount = layers.length;
      }
      const created = (doc.annotations as Record<string, string> | undefined)?.["org.opencontainers.image.created"];
      const pushedAt = created !== undefined && RFC3339.test(created) ? new Date(created) : syncedAt;
      out.push({
        repository,
        tag,
        json,
        artifactType: typeof doc.artifactType === "string" ? doc.artifactType : "",
        descriptors,
        fixture: { repository, tag, digest: sha256hex(json), kind, totalSize, layerCount, platformSizes, pushedAt },
      });
    }
  }
  return out;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** Epoch's manifest.classifyFields, by its string names. */
function epochKind(doc: Record<string, unknown>): string {
  const artifactType = doc.artifactType;
  if (
    artifactType === "application/vnd.cocoonstack.os-image.v1+json" ||
    artifactType === "application/vnd.cocoonstack.windows-image.v1+json"
  )
    return "cloud-image";
  if (artifactType === "application/vnd.cocoonstack.snapshot.v1+json") return "snapshot";
  const config = (doc.config as { mediaType?: string } | undefined)?.mediaType;
  if (
    config === "application/vnd.oci.image.config.v1+json" ||
    config === "application/vnd.docker.container.image.v1+json"
  )
    return "container-image";
  const mediaType = doc.mediaType;
  if (
    mediaType === "application/vnd.oci.image.index.v1+json" ||
    mediaType === "application/vnd.docker.distribution.manifest.list.v2+json"
  )
    return "image-index";
  return "unknown";
}

async function getText(store: ObjectStore, key: string): Promise<string | undefined> {
  try {
    const got = await store.get(key);
    return got.status === "ok" ? got.body.toString("utf8") : undefined;
  } catch {
    return undefined;
  }
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export function sha256hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
const seconds = (d: Date): number => Math.floor(d.getTime() / 1000);
