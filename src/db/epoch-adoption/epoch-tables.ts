/**
 * Recognises Epoch's four tables (cocoonstack/epoch `store`, v0.1.x) from information_schema.
 * Epoch creates them with CREATE TABLE IF NOT EXISTS and later ALTER TABLE … ADD COLUMN
 * (artifact_type, kind, platform_sizes), and older releases kept a `token_plain` column, so
 * those columns are optional. Anything else — a missing column, an unknown one, a different
 * type — is refused: adopting a table we only half understand could lose data silently.
 */
import type { Database } from "../data-source.js";

export const EPOCH_TABLES = ["repositories", "tags", "blobs", "tokens"] as const;
export type EpochTable = (typeof EPOCH_TABLES)[number];
export const LEGACY_PREFIX = "epoch_v0_";

export interface EpochSchema {
  /** "" before the rename step, "epoch_v0_" after it. */
  prefix: "" | typeof LEGACY_PREFIX;
  /** Optional columns present in this database. */
  has: { artifactType: boolean; kind: boolean; platformSizes: boolean; tokenPlain: boolean };
}

export const tableName = (schema: EpochSchema, table: EpochTable): string => `${schema.prefix}${table}`;

export interface ColumnInfo {
  type: string;
  length: number | null;
}
/** table → column → type, for the current database. */
export type Columns = Map<string, Map<string, ColumnInfo>>;

const INTEGER = ["bigint", "int", "mediumint", "smallint"];
const TEXT = ["varchar", "char", "text", "mediumtext", "longtext"];
const TIME = ["timestamp", "datetime"];
// MariaDB reports its JSON alias as longtext; MySQL as json.
const JSON_TYPES = ["json", "longtext"];
type Kind = "integer" | "text" | "hex64" | "time" | "json";

const SPEC: Record<EpochTable, { required: Record<string, Kind>; optional: Record<string, Kind> }> = {
  repositories: { required: { id: "integer", name: "text", created_at: "time", updated_at: "time" }, optional: {} },
  tags: {
    required: {
      id: "integer",
      repository_id: "integer",
      name: "text",
      digest: "hex64",
      manifest_json: "text",
      total_size: "integer",
      layer_count: "integer",
      pushed_at: "time",
      synced_at: "time",
    },
    optional: { artifact_type: "text", kind: "text", platform_sizes: "json" },
  },
  blobs: { required: { digest: "hex64", size: "integer", media_type: "text", ref_count: "integer" }, optional: {} },
  tokens: {
    required: {
      id: "integer",
      name: "text",
      token_hash: "hex64",
      created_by: "text",
      created_at: "time",
      last_used: "time",
    },
    optional: { token_plain: "text" },
  },
};

function fits(kind: Kind, c: ColumnInfo): boolean {
  switch (kind) {
    case "integer":
      return INTEGER.includes(c.type);
    case "text":
      return TEXT.includes(c.type);
    case "hex64":
      return (c.type === "char" || c.type === "varchar") && c.length === 64;
    case "time":
      return TIME.includes(c.type);
    case "json":
      return JSON_TYPES.includes(c.type);
  }
}

export async function readColumns(db: Database): Promise<Columns> {
  const rows: Array<Record<string, unknown>> = await db.ds.query(
    `SELECT TABLE_NAME AS t, COLUMN_NAME AS c, DATA_TYPE AS type, CHARACTER_MAXIMUM_LENGTH AS len
FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()`,
  );
  const out: Columns = new Map();
  for (const r of rows) {
    const table = String(r.t);
    const columns = out.get(table) ?? new Map<string, ColumnInfo>();
    columns.set(String(r.c), {
      type: String(r.type).toLowerCase(),
      length: r.len === null || r.len === undefined ? null : Number(r.len),
    });
    out.set(table, columns);
  }
  return out;
}

/** Epoch's tables under `prefix`, or the list of what does not look like Epoch's. */
export function inspectEpochTables(
  columns: Columns,
  prefix: EpochSchema["prefix"],
): { schema: EpochSchema } | { problems: string[] } {
  const problems: string[] = [];
  for (const table of EPOCH_TABLES) {
    const name = `${prefix}${table}`;
    const found = columns.get(name);
    if (!found) {
      problems.push(`table ${name} is missing`);
      continue;
    }
    const { required, optional } = SPEC[table];
    for (const [column, kind] of Object.entries(required)) {
      const c = found.get(column);
      if (!c) problems.push(`${name}.${column} is missing`);
      else if (!fits(kind, c))
        problems.push(`${name}.${column} is ${c.type}${c.length ? `(${c.length})` : ""}, expected ${kind}`);
    }
    for (const [column, c] of found) {
      if (column in required) continue;
      const kind = optional[column];
      if (kind === undefined) problems.push(`${name}.${column} is not a column Epoch creates`);
      else if (!fits(kind, c)) problems.push(`${name}.${column} is ${c.type}, expected ${kind}`);
    }
  }
  if (problems.length > 0) return { problems };
  const tags = columns.get(`${prefix}tags`)!;
  return {
    schema: {
      prefix,
      has: {
        artifactType: tags.has("artifact_type"),
        kind: tags.has("kind"),
        platformSizes: tags.has("platform_sizes"),
        tokenPlain: columns.get(`${prefix}tokens`)!.has("token_plain"),
      },
    },
  };
}

/** "v0.1.7 shape" or the list of optional columns an older Epoch did not add yet. */
export function describeShape(schema: EpochSchema): string {
  const missing = [
    !schema.has.artifactType && "tags.artifact_type",
    !schema.has.kind && "tags.kind",
    !schema.has.platformSizes && "tags.platform_sizes",
  ].filter((s): s is string => typeof s === "string");
  const shape = missing.length === 0 ? "the v0.1.7 shape" : `an older shape without ${missing.join(", ")}`;
  return schema.has.tokenPlain ? `${shape}, with the pre-v0.1.7 tokens.token_plain column` : shape;
}
