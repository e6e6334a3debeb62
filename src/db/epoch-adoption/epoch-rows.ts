/**
 * Reads of Epoch's tables (under their own names or renamed to epoch_v0_*). TIMESTAMPs are
 * read with UNIX_TIMESTAMP, which returns the stored UTC instant whatever the session's
 * time_zone, so every time Epoch wrote is taken as UTC.
 */
import type { EntityManager } from "typeorm";
import type { Database } from "../data-source.js";
import { tableName, type EpochSchema } from "./epoch-tables.js";
import type { EpochTagRow } from "./tag-conversion.js";

type On = Database | EntityManager;
const query = (on: On, sql: string, params: unknown[] = []): Promise<Array<Record<string, unknown>>> =>
  "ds" in on ? on.ds.query(sql, params) : on.query(sql, params);

const ms = (v: unknown): number | null => (v === null || v === undefined ? null : Math.round(Number(v) * 1000));

export interface EpochTokenRow {
  id: number;
  name: string;
  tokenHash: string;
  createdBy: string;
  createdAt: number | null;
  lastUsed: number | null;
}

export async function readEpochTokens(on: On, schema: EpochSchema): Promise<EpochTokenRow[]> {
  // token_plain (pre-v0.1.7) is never read: epoch-meta stores no secret.
  const rows = await query(
    on,
    `SELECT id, name, token_hash, created_by, UNIX_TIMESTAMP(created_at) AS created_at, UNIX_TIMESTAMP(last_used) AS last_used
FROM ${tableName(schema, "tokens")} ORDER BY id`,
  );
  return rows.map((r) => ({
    id: Number(r.id),
    name: String(r.name),
    tokenHash: String(r.token_hash),
    createdBy: String(r.created_by ?? ""),
    createdAt: ms(r.created_at),
    lastUsed: ms(r.last_used),
  }));
}

export interface EpochRepositoryRow {
  id: number;
  name: string;
  createdAt: number | null;
  updatedAt: number | null;
}

export async function readEpochRepositories(
  on: On,
  schema: EpochSchema,
  ids: readonly number[],
): Promise<EpochRepositoryRow[]> {
  if (ids.length === 0) return [];
  const rows = await query(
    on,
    `SELECT id, name, UNIX_TIMESTAMP(created_at) AS created_at, UNIX_TIMESTAMP(updated_at) AS updated_at
FROM ${tableName(schema, "repositories")} WHERE id IN (${ids.map(() => "?").join(", ")})`,
    [...ids],
  );
  return rows.map((r) => ({
    id: Number(r.id),
    name: String(r.name),
    createdAt: ms(r.created_at),
    updatedAt: ms(r.updated_at),
  }));
}

/** One page of Epoch's tags in id order after `afterId` (keyset, never OFFSET). */
export async function readEpochTags(
  on: On,
  schema: EpochSchema,
  afterId: number,
  limit: number,
): Promise<EpochTagRow[]> {
  const optional = [
    schema.has.kind ? "t.kind" : "NULL AS kind",
    schema.has.platformSizes ? "t.platform_sizes" : "NULL AS platform_sizes",
  ];
  const rows = await query(
    on,
    `SELECT t.id, t.repository_id, r.name AS repository, t.name, t.digest, t.manifest_json, t.total_size, t.layer_count,
  UNIX_TIMESTAMP(t.pushed_at) AS pushed_at, UNIX_TIMESTAMP(t.synced_at) AS synced_at, ${optional.join(", ")}
FROM ${tableName(schema, "tags")} t JOIN ${tableName(schema, "repositories")} r ON r.id = t.repository_id
WHERE t.id > ? ORDER BY t.id LIMIT ?`,
    [afterId, limit],
  );
  return rows.map((r) => ({
    id: Number(r.id),
    repositoryId: Number(r.repository_id),
    repository: String(r.repository),
    name: String(r.name),
    digest: String(r.digest),
    manifestJson: String(r.manifest_json),
    totalSize: Number(r.total_size),
    layerCount: Number(r.layer_count),
    pushedAt: ms(r.pushed_at),
    syncedAt: ms(r.synced_at),
    ...(schema.has.kind && { kind: String(r.kind ?? "") }),
    ...(schema.has.platformSizes && { platformSizes: r.platform_sizes }),
  }));
}

/** Rows per Epoch table, for the plan and the summary. */
export async function countEpochRows(
  on: On,
  schema: EpochSchema,
): Promise<Record<"repositories" | "tags" | "blobs" | "tokens", number>> {
  const count = async (table: "repositories" | "tags" | "blobs" | "tokens") =>
    Number((await query(on, `SELECT COUNT(*) AS n FROM ${tableName(schema, table)}`))[0]?.n ?? 0);
  return {
    repositories: await count("repositories"),
    tags: await count("tags"),
    blobs: await count("blobs"),
    tokens: await count("tokens"),
  };
}

/** Epoch's blob digests as `sha256:` digests (bare hex in Epoch; anything else is skipped, as by the copy). */
export async function readEpochBlobDigests(on: On, schema: EpochSchema): Promise<string[]> {
  const rows = await query(on, `SELECT digest FROM ${tableName(schema, "blobs")} WHERE size >= 0`);
  return rows
    .map((r) => String(r.digest).toLowerCase())
    .filter((d) => /^[0-9a-f]{64}$/.test(d))
    .map((d) => `sha256:${d}`);
}
