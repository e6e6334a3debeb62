/**
 * Finds and locks the object whose labels an Update RPC changes, inside its transaction, so two
 * concurrent updates of one owner apply one after the other (the 256-label limit holds for the
 * result). SQLite's writer lock already serializes every write transaction.
 */
import type { EntityManager } from "typeorm";
import type { Dialect } from "../column-types.js";
import { toNumber } from "../sql/decode.js";
import { forUpdate } from "../sql/sql-params.js";
import type { LabelOwner } from "./label-tables.js";

/**
 * The tag's label owner [repository_id, tag_name] with its digest and kind (what its /tags/update
 * event says), or undefined when the tag is not indexed.
 */
export async function lockTag(
  m: EntityManager,
  dialect: Dialect,
  namespaceId: number,
  repository: string,
  tag: string,
): Promise<{ owner: LabelOwner; digest: string; kind: string } | undefined> {
  const rows: Array<Record<string, unknown>> = await m.query(
    `SELECT t.repository_id, t.digest, t.kind FROM repositories r JOIN tags t ON t.repository_id = r.id
WHERE r.namespace_id = ? AND r.name = ? AND t.name = ?${forUpdate(dialect)}`,
    [namespaceId, repository, tag],
  );
  const row = rows[0];
  return row && { owner: [toNumber(row.repository_id), tag], digest: String(row.digest), kind: String(row.kind) };
}

/** The repository's label owner [namespace_id, repository_name], or undefined when it is not indexed. */
export async function lockRepository(
  m: EntityManager,
  dialect: Dialect,
  namespaceId: number,
  repository: string,
): Promise<LabelOwner | undefined> {
  const rows: unknown[] = await m.query(
    `SELECT id FROM repositories WHERE namespace_id = ? AND name = ?${forUpdate(dialect)}`,
    [namespaceId, repository],
  );
  return rows.length > 0 ? [namespaceId, repository] : undefined;
}

/** The namespace's label owner [namespace_id], or undefined when there is no such namespace. */
export async function lockNamespace(m: EntityManager, dialect: Dialect, name: string): Promise<LabelOwner | undefined> {
  const rows: Array<Record<string, unknown>> = await m.query(
    `SELECT id FROM namespaces WHERE name = ?${forUpdate(dialect)}`,
    [name],
  );
  return rows[0] ? [toNumber(rows[0].id)] : undefined;
}
