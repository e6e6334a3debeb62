/**
 * The tag rows (and the repository rows a first tag creates): the reads and writes that
 * services/tags/tag-indexer.ts puts together into IndexTag, DeleteTag and the sync's batches.
 */
import type { EntityManager } from "typeorm";
import type { Database } from "../data-source.js";
import type { Dialect } from "../column-types.js";
import { execute } from "../sql/execute.js";
import { toDate, toNumber, toTextOrNull } from "../sql/decode.js";
import { insertIgnore, sqlNow } from "../sql/sql.js";
import { bool, chunk, forUpdate, placeholders, timeParam } from "../sql/sql-params.js";
import type { IndexScope } from "./index-scope.js";
import type { TagFacts } from "./tag-facts.js";

/** The key of a tag in the maps these functions return. */
export const tagKey = (repositoryId: number, name: string) => `${repositoryId}\u0000${name}`;

export interface RemovalTarget {
  repositoryId: number;
  /** Tag names to remove; undefined = every tag of the repository. */
  names?: readonly string[];
}

/**
 * Creates the repositories not indexed yet (a repository comes with its first tag); returns the
 * names this transaction created, and name → id for all. On MariaDB "created here" is what a
 * consistent read shows after the insert among the names it did not show before: a repository
 * another writer committed meanwhile is skipped by INSERT IGNORE and stays invisible to this
 * transaction's snapshot, so exactly one writer reports each creation. The ids come from a
 * locking read, which sees such a repository too (and shares its row lock, as INSERT IGNORE does).
 */
export async function ensureRepositories(
  m: EntityManager,
  scope: IndexScope,
  names: string[],
): Promise<{ created: string[]; ids: Map<string, number> }> {
  const created: string[] = [];
  const ids = new Map<string, number>();
  const now = sqlNow(scope.dialect);
  const insert = (part: string[]) =>
    execute(
      m,
      `${insertIgnore(scope.dialect)} INTO repositories (namespace_id, name, tag_count, total_size, artifact_type, kind, catalog_updated_at, created_at, updated_at)
VALUES ${part.map(() => `(?, ?, 0, 0, '', '', NULL, ${now}, ${now})`).join(", ")}`,
      part.flatMap((n) => [scope.namespaceId, n]),
    );
  const named = async (part: string[], lock = "") => {
    const rows: Array<Record<string, unknown>> = await m.query(
      `SELECT id, name FROM repositories WHERE namespace_id = ? AND name IN (${placeholders(part.length)})${lock}`,
      [scope.namespaceId, ...part],
    );
    return new Map(rows.map((r) => [String(r.name), toNumber(r.id)]));
  };
  const locked = scope.dialect === "sqlite" ? "" : " LOCK IN SHARE MODE";
  for (const part of chunk(names, 500)) {
    const known = await named(part);
    const missing = part.filter((n) => !known.has(n));
    if (missing.length > 0) {
      await insert(missing);
      const mine = await named(missing);
      created.push(...missing.filter((n) => mine.has(n)));
    }
    const current = await named(part, locked);
    // Shown by the snapshot but deleted since by another writer (MariaDB, rare): one at a time,
    // so each insert says whether this transaction created it.
    for (const name of part.filter((n) => !current.has(n))) {
      if ((await insert([name])) === 1) created.push(name);
      for (const [n, id] of await named([name], locked)) current.set(n, id);
    }
    for (const [n, id] of current) ids.set(n, id);
  }
  return { created, ids };
}

export interface ExistingTag {
  manifestId: number;
  digest: string;
  objectEtag: string | null;
  pushedAt: Date;
  newer: boolean;
}

/** The stored rows of these tags (locked on MariaDB), keyed by `tagKey`; `newer` = indexed after `keepNewerThan`. */
export async function existingTags(
  m: EntityManager,
  scope: IndexScope,
  repoIds: number[],
  names: string[],
  keepNewerThan: unknown,
): Promise<Map<string, ExistingTag>> {
  const out = new Map<string, ExistingTag>();
  if (repoIds.length === 0 || names.length === 0) return out;
  const newer = keepNewerThan === undefined ? "0" : "CASE WHEN indexed_at > ? THEN 1 ELSE 0 END";
  for (const part of chunk(names, 1000)) {
    const rows: Array<Record<string, unknown>> = await m.query(
      `SELECT repository_id, name, manifest_id, digest, object_etag, pushed_at, ${newer} AS newer FROM tags
WHERE repository_id IN (${placeholders(repoIds.length)}) AND name IN (${placeholders(part.length)})${forUpdate(scope.dialect)}`,
      [...(keepNewerThan === undefined ? [] : [keepNewerThan]), ...repoIds, ...part],
    );
    for (const r of rows) {
      out.set(tagKey(toNumber(r.repository_id), String(r.name)), {
        manifestId: toNumber(r.manifest_id),
        digest: String(r.digest),
        objectEtag: toTextOrNull(r.object_etag),
        pushedAt: toDate(r.pushed_at),
        newer: toNumber(r.newer) === 1,
      });
    }
  }
  return out;
}

export interface TagRowWrite {
  t: TagFacts;
  repositoryId: number;
  manifestId: number;
  pushedAt: Date;
}

/** Inserts or updates the tag rows; `bySync` stamps `synced_at`. */
export async function upsertTagRows(
  m: EntityManager,
  dialect: Dialect,
  rows: TagRowWrite[],
  bySync: boolean,
): Promise<void> {
  const now = sqlNow(dialect);
  const columns =
    "repository_id, name, manifest_id, digest, kind, total_size, pushed_at, object_etag, incomplete, indexed_at, synced_at";
  const updated = [
    "manifest_id",
    "digest",
    "kind",
    "total_size",
    "pushed_at",
    "object_etag",
    "incomplete",
    "indexed_at",
  ];
  const onConflict =
    dialect === "sqlite"
      ? `ON CONFLICT (repository_id, name) DO UPDATE SET ${updated.map((c) => `${c} = excluded.${c}`).join(", ")}, synced_at = COALESCE(excluded.synced_at, tags.synced_at)`
      : `ON DUPLICATE KEY UPDATE ${updated.map((c) => `${c} = VALUES(${c})`).join(", ")}, synced_at = COALESCE(VALUES(synced_at), synced_at)`;
  for (const part of chunk(rows, 500)) {
    const values = part.map(() => `(?, ?, ?, ?, ?, ?, ?, ?, ?, ${now}, ${bySync ? now : "NULL"})`).join(", ");
    await execute(
      m,
      `INSERT INTO tags (${columns}) VALUES ${values} ${onConflict}`,
      part.flatMap((r) => [
        r.repositoryId,
        r.t.tag,
        r.manifestId,
        r.t.manifest.digest,
        r.t.manifest.kind,
        r.t.manifest.totalSize,
        timeParam(r.pushedAt, dialect),
        r.t.objectEtag,
        bool(r.t.incomplete),
      ]),
    );
  }
}

/** A tag row about to be removed, with what its /tags/delete event says. */
export interface RemovalVictim {
  id: number;
  manifestId: number;
  repositoryId: number;
  name: string;
  digest: string;
  kind: string;
}

const VICTIM_COLUMNS = "id, manifest_id, repository_id, name, digest, kind";

const toVictim = (r: Record<string, unknown>): RemovalVictim => ({
  id: toNumber(r.id),
  manifestId: toNumber(r.manifest_id),
  repositoryId: toNumber(r.repository_id),
  name: String(r.name),
  digest: String(r.digest),
  kind: String(r.kind),
});

/** The rows of these tags (locked on MariaDB), sparing rows indexed after `keepNewerThan`. */
export async function lockTagsForRemoval(
  m: EntityManager,
  scope: IndexScope,
  targets: readonly RemovalTarget[],
  keepNewerThan?: unknown,
): Promise<RemovalVictim[]> {
  const victims: RemovalVictim[] = [];
  const newer = keepNewerThan === undefined ? "" : " AND indexed_at <= ?";
  const newerParams = keepNewerThan === undefined ? [] : [keepNewerThan];
  const whole = targets.filter((t) => t.names === undefined).map((t) => t.repositoryId);
  for (const ids of chunk(whole, 500)) {
    const rows: Array<Record<string, unknown>> = await m.query(
      `SELECT ${VICTIM_COLUMNS} FROM tags WHERE repository_id IN (${placeholders(ids.length)})${newer}${forUpdate(scope.dialect)}`,
      [...ids, ...newerParams],
    );
    victims.push(...rows.map(toVictim));
  }
  for (const t of targets) {
    for (const names of chunk(t.names ?? [], 1000)) {
      const rows: Array<Record<string, unknown>> = await m.query(
        `SELECT ${VICTIM_COLUMNS} FROM tags WHERE repository_id = ? AND name IN (${placeholders(names.length)})${newer}${forUpdate(scope.dialect)}`,
        [t.repositoryId, ...names, ...newerParams],
      );
      victims.push(...rows.map(toVictim));
    }
  }
  return victims;
}

/** Repository id → name (the review queue keys manifests by repository name: rows outlive ids). */
export async function repositoryNames(m: EntityManager, ids: readonly number[]): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  for (const part of chunk([...new Set(ids)], 1000)) {
    const rows: Array<{ id: unknown; name: unknown }> = await m.query(
      `SELECT id, name FROM repositories WHERE id IN (${placeholders(part.length)})`,
      part,
    );
    for (const r of rows) out.set(toNumber(r.id), String(r.name));
  }
  return out;
}

/** Deletes tag rows by id; returns how many went. */
export async function deleteTagRows(m: EntityManager, ids: readonly number[]): Promise<number> {
  let removed = 0;
  for (const part of chunk(ids, 1000)) {
    removed += await execute(m, `DELETE FROM tags WHERE id IN (${placeholders(part.length)})`, part);
  }
  return removed;
}

/** The repository as IndexTag and DeleteTag need it, and whether it has this tag; undefined when not indexed. */
export async function findIndexedRepository(
  db: Database,
  scope: IndexScope,
  repository: string,
  tag: string,
): Promise<{ id: number; catalogUpdatedAt: string | null; hasTag: boolean } | undefined> {
  const rows: Array<Record<string, unknown>> = await db.ds.query(
    `SELECT r.id, r.catalog_updated_at, (SELECT COUNT(*) FROM tags t WHERE t.repository_id = r.id AND t.name = ?) AS has_tag
FROM repositories r WHERE r.namespace_id = ? AND r.name = ?`,
    [tag, scope.namespaceId, repository],
  );
  const row = rows[0];
  if (!row) return undefined;
  const catalogUpdatedAt = toTextOrNull(row.catalog_updated_at);
  return { id: toNumber(row.id), catalogUpdatedAt, hasTag: toNumber(row.has_tag) > 0 };
}

/** The indexed repository's row, locked (MariaDB) and read as committed now; undefined when not indexed. */
export async function lockRepository(
  m: EntityManager,
  scope: IndexScope,
  repository: string,
): Promise<{ id: number; catalogUpdatedAt: string | null } | undefined> {
  const rows: Array<Record<string, unknown>> = await m.query(
    `SELECT r.id, r.catalog_updated_at FROM repositories r WHERE r.namespace_id = ? AND r.name = ?${forUpdate(scope.dialect)}`,
    [scope.namespaceId, repository],
  );
  const row = rows[0];
  return row && { id: toNumber(row.id), catalogUpdatedAt: toTextOrNull(row.catalog_updated_at) };
}

/** Whether the repository is indexed, and the tag's kind (undefined when the tag is not indexed); locked on MariaDB. */
export async function lockTagKind(
  m: EntityManager,
  scope: IndexScope,
  repository: string,
  tag: string,
): Promise<{ repositoryExists: boolean; kind: string | undefined }> {
  const rows: Array<{ kind: unknown }> = await m.query(
    `SELECT t.kind FROM repositories r LEFT JOIN tags t ON t.repository_id = r.id AND t.name = ? WHERE r.namespace_id = ? AND r.name = ?${forUpdate(scope.dialect)}`,
    [tag, scope.namespaceId, repository],
  );
  const kind = rows[0]?.kind;
  return { repositoryExists: rows.length > 0, kind: kind === null || kind === undefined ? undefined : String(kind) };
}
