/**
 * Reads and writes of label rows. Writes run inside the caller's transaction (the caller has
 * locked the owner: label-owners.ts); reads of many owners take one statement.
 */
import type { EntityManager } from "typeorm";
import type { Dialect } from "../column-types.js";
import type { Database } from "../data-source.js";
import { toNumber } from "../sql/decode.js";
import { execute } from "../sql/execute.js";
import { chunk, placeholders, rowPlaceholders } from "../sql/sql-params.js";
import {
  checkOwner,
  LABEL_TABLES,
  ownerCondition,
  valueHash,
  type LabelKind,
  type LabelOwner,
  type Labels,
} from "./label-tables.js";

type Reader = Database | EntityManager;

async function query(on: Reader, sql: string, params: unknown[]): Promise<Array<Record<string, unknown>>> {
  return "read" in on ? on.read(sql, params) : on.query(sql, params);
}

/** One owner's labels, sorted by key. */
export async function readLabels(on: Reader, kind: LabelKind, owner: LabelOwner): Promise<Labels> {
  checkOwner(kind, owner);
  const rows = await query(
    on,
    `SELECT label_key, label_value FROM ${LABEL_TABLES[kind].table} WHERE ${ownerCondition(kind)} ORDER BY label_key`,
    [...owner],
  );
  return toLabels(rows);
}

/**
 * The labels of several owners that share every owner column but the last (the tags of one
 * repository, the repositories of one namespace), in one statement per 1000 names; owners
 * without labels map to {}.
 */
export async function readLabelsOf(
  on: Reader,
  kind: "tag" | "repository" | "lease",
  parent: number,
  names: readonly string[],
): Promise<Map<string, Labels>> {
  const [parentColumn, nameColumn] = LABEL_TABLES[kind].owner;
  const out = new Map<string, Labels>(names.map((name) => [name, {}]));
  for (const part of chunk([...new Set(names)], 1000)) {
    const rows = await query(
      on,
      `SELECT ${nameColumn} AS owner_name, label_key, label_value FROM ${LABEL_TABLES[kind].table}
WHERE ${parentColumn} = ? AND ${nameColumn} IN (${placeholders(part.length)})`,
      [parent, ...part],
    );
    for (const row of rows) out.get(String(row.owner_name))![String(row.label_key)] = String(row.label_value);
  }
  return out;
}

/** The labels of several namespaces, in one statement per 1000 ids; namespaces without labels map to {}. */
export async function readNamespaceLabelsOf(on: Reader, ids: readonly number[]): Promise<Map<number, Labels>> {
  const out = new Map<number, Labels>(ids.map((id) => [id, {}]));
  for (const part of chunk([...new Set(ids)], 1000)) {
    const rows = await query(
      on,
      `SELECT namespace_id, label_key, label_value FROM ${LABEL_TABLES.namespace.table}
WHERE namespace_id IN (${placeholders(part.length)})`,
      part,
    );
    for (const row of rows) out.get(toNumber(row.namespace_id))![String(row.label_key)] = String(row.label_value);
  }
  return out;
}

/**
 * A correlated subquery for a list's own SELECT: the labels of the row `correlate` ties the label
 * table's alias `l` to, as one JSON object (NULL or "{}" without labels). It saves a list page
 * the round trip of a second statement; each row costs one probe of the label table's primary key.
 */
export function labelsJsonSql(dialect: Dialect, kind: LabelKind, correlate: string): string {
  // CONCAT makes it plain text on MariaDB: mysql2 would parse a JSON-typed column itself, and
  // throw on one cut short instead of letting labelsFromJson fall back.
  const aggregate =
    dialect === "sqlite"
      ? "json_group_object(l.label_key, l.label_value)"
      : "CONCAT(JSON_OBJECTAGG(l.label_key, l.label_value))";
  return `(SELECT ${aggregate} FROM ${LABEL_TABLES[kind].table} l WHERE ${correlate})`;
}

/**
 * The labels of a `labelsJsonSql` column, sorted by key; undefined when it cannot be read (a
 * server that cuts long aggregates short, as MySQL does at group_concat_max_len): the caller then
 * reads that owner's labels by themselves.
 */
export function labelsFromJson(value: unknown): Labels | undefined {
  if (value === null || value === undefined) return {};
  try {
    const parsed: unknown = JSON.parse(String(value));
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return undefined;
    return Object.fromEntries(
      Object.entries(parsed as Record<string, unknown>)
        .map(([k, v]) => [k, String(v)] as const)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    );
  } catch {
    return undefined;
  }
}

export interface LabelChange {
  /** Keys to insert or overwrite. */
  set: Labels;
  /** Keys to delete (absent keys are ignored). */
  remove: readonly string[];
}

/** Applies a change to one owner's labels: at most one DELETE and one INSERT per 200 labels. */
export async function writeLabelChange(
  m: EntityManager,
  kind: LabelKind,
  owner: LabelOwner,
  change: LabelChange,
): Promise<void> {
  checkOwner(kind, owner);
  const { table } = LABEL_TABLES[kind];
  const set = Object.entries(change.set);
  // Overwritten keys are deleted and inserted again: one statement shape on every dialect.
  const gone = [...new Set([...change.remove, ...set.map(([key]) => key)])];
  for (const part of chunk(gone, 500)) {
    await execute(
      m,
      `DELETE FROM ${table} WHERE ${ownerCondition(kind)} AND label_key IN (${placeholders(part.length)})`,
      [...owner, ...part],
    );
  }
  const columns = [...LABEL_TABLES[kind].owner, "label_key", "label_value", "value_sha256"];
  for (const part of chunk(set, 200)) {
    await execute(
      m,
      `INSERT INTO ${table} (${columns.join(", ")}) VALUES ${rowPlaceholders(part.length, columns.length)}`,
      part.flatMap(([key, value]) => [...owner, key, value, valueHash(value)]),
    );
  }
}

function toLabels(rows: Array<Record<string, unknown>>): Labels {
  const labels: Labels = {};
  for (const row of rows) labels[String(row.label_key)] = String(row.label_value);
  return labels;
}
