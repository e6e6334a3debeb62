import { Table, TableForeignKey, TableIndex, type MigrationInterface, type QueryRunner } from "typeorm";
import { ColumnTypes, tableColumn, type ColumnSpec, type Dialect } from "../column-types.js";

/**
 * Phase-one schema, for every dialect. Frozen: later changes are new migrations.
 * Constraint and index names are explicit so TypeORM's schema diff stays empty.
 */
type Fk = [column: string, target: string, name: string, onDelete: "CASCADE" | "NO ACTION"];
interface TableDef {
  columns: Array<[string, ColumnSpec]>;
  primary?: string[];
  indices?: Array<[name: string, columns: string[], unique?: boolean]>;
  foreignKeys?: Fk[];
}

export function initialTables(dialect: Dialect): Record<string, TableDef> {
  const t = new ColumnTypes(dialect);
  const pk = (spec: ColumnSpec): ColumnSpec => ({ ...spec, primary: true });
  return {
    namespaces: {
      columns: [
        ["id", t.id()],
        ["name", t.key(76)],
        ["created_at", t.time()],
      ],
      indices: [["uq_namespaces_name", ["name"], true]],
    },
    repositories: {
      columns: [
        ["id", t.id()],
        ["namespace_id", t.ref()],
        ["name", t.key(255)],
        ["tag_count", t.bigint()],
        ["total_size", t.bigint()],
        ["artifact_type", t.string(255, false, "")],
        ["kind", t.string(32, false, "")],
        ["catalog_updated_at", t.string(64, true)],
        ["created_at", t.time()],
        ["updated_at", t.time()],
      ],
      indices: [
        ["uq_repositories_namespace_name", ["namespace_id", "name"], true],
        ["ix_repositories_update_time", ["namespace_id", "updated_at", "name"]],
        ["ix_repositories_total_size", ["namespace_id", "total_size", "name"]],
      ],
      foreignKeys: [["namespace_id", "namespaces", "fk_repositories_namespace", "NO ACTION"]],
    },
    manifests: {
      columns: [
        ["id", t.id()],
        ["namespace_id", t.ref()],
        ["digest", t.key(71)],
        ["media_type", t.string(255, false, "")],
        ["artifact_type", t.string(255, false, "")],
        ["kind", t.string(32, false, "")],
        ["json", t.text()],
        ["total_size", t.bigint()],
        ["layer_count", t.int()],
        ["platform_sizes", t.json()],
      ],
      indices: [["uq_manifests_namespace_digest", ["namespace_id", "digest"], true]],
      foreignKeys: [["namespace_id", "namespaces", "fk_manifests_namespace", "NO ACTION"]],
    },
    manifest_children: {
      columns: [
        ["parent_id", pk(t.ref())],
        ["position", pk({ ...t.int(), default: undefined })],
        ["child_digest", t.key(71)],
        ["platform", t.string(255, false, "")],
      ],
      foreignKeys: [["parent_id", "manifests", "fk_manifest_children_parent", "CASCADE"]],
    },
    manifest_blobs: {
      columns: [
        ["manifest_id", pk(t.ref())],
        ["blob_digest", pk(t.key(71))],
      ],
      indices: [["ix_manifest_blobs_blob", ["blob_digest"]]],
      foreignKeys: [["manifest_id", "manifests", "fk_manifest_blobs_manifest", "CASCADE"]],
    },
    tags: {
      columns: [
        ["id", t.id()],
        ["repository_id", t.ref()],
        ["name", t.key(128)],
        ["manifest_id", t.ref()],
        ["digest", t.key(71)],
        ["kind", t.string(32, false, "")],
        ["total_size", t.bigint()],
        ["pushed_at", t.time()],
        ["object_etag", t.string(255, true)],
        ["incomplete", t.bool()],
        ["indexed_at", t.time()],
        ["synced_at", t.time(true)],
      ],
      indices: [
        ["uq_tags_repository_name", ["repository_id", "name"], true],
        ["ix_tags_push_time", ["repository_id", "pushed_at", "name"]],
        ["ix_tags_total_size", ["repository_id", "total_size", "name"]],
        ["ix_tags_manifest", ["manifest_id"]],
      ],
      foreignKeys: [
        ["repository_id", "repositories", "fk_tags_repository", "CASCADE"],
        ["manifest_id", "manifests", "fk_tags_manifest", "NO ACTION"],
      ],
    },
    blobs: {
      columns: [
        ["namespace_id", pk(t.ref())],
        ["digest", pk(t.key(71))],
        ["size", t.bigint()],
        ["media_type", t.string(255, false, "")],
        ["ref_count", t.bigint()],
      ],
      foreignKeys: [["namespace_id", "namespaces", "fk_blobs_namespace", "NO ACTION"]],
    },
    tokens: {
      columns: [
        ["id", t.id()],
        ["namespace_id", t.ref()],
        ["name", t.string(255)],
        ["token_hash", t.key(64)],
        ["created_by", t.string(255, false, "")],
        ["created_at", t.time()],
        ["last_used", t.time(true)],
        ["expires_at", t.time(true)],
        ["scopes", t.string(255)],
        ["repositories", t.json(false)],
      ],
      indices: [
        ["uq_tokens_token_hash", ["token_hash"], true],
        ["ix_tokens_namespace_id", ["namespace_id", "id"]],
      ],
      foreignKeys: [["namespace_id", "namespaces", "fk_tokens_namespace", "NO ACTION"]],
    },
    sync_runs: {
      columns: [
        ["id", t.id()],
        ["namespace_id", t.ref()],
        ["state", t.string(16)],
        ["mode", t.string(16)],
        ["trigger", t.string(16)],
        ["dry_run", t.bool()],
        ["allow_mass_removal", t.bool()],
        ["holder", t.string(255, false, "")],
        ["started_at", t.time()],
        ["finished_at", t.time(true)],
        ["counters", t.json()],
        ["failures", t.json()],
        ["failure_count", t.int()],
        ["cancel_requested", t.bool()],
        ["catalog_etag", t.string(255, true)],
        ["catalog_sha256", t.key(64, true)],
        ["error_reason", t.string(64, false, "")],
        ["message", t.string(1024, false, "")],
      ],
      indices: [["ix_sync_runs_namespace_id", ["namespace_id", "id"]]],
      foreignKeys: [["namespace_id", "namespaces", "fk_sync_runs_namespace", "NO ACTION"]],
    },
    coordination: {
      columns: [
        ["name", pk(t.key(64))],
        ["value", t.bigint()],
        ["holder", t.string(255, false, "")],
        ["expires_at", t.time(true)],
      ],
    },
    registry_stats: {
      columns: [
        ["namespace_id", pk(t.ref())],
        ["repository_count", t.bigint()],
        ["tag_count", t.bigint()],
        ["blob_count", t.bigint()],
        ["total_size", t.bigint()],
        ["kinds", t.json()],
        ["last_sync_at", t.time(true)],
      ],
      foreignKeys: [["namespace_id", "namespaces", "fk_registry_stats_namespace", "NO ACTION"]],
    },
  };
}

export function buildTable(name: string, def: TableDef): Table {
  return new Table({
    name,
    columns: def.columns.map(([column, spec]) => tableColumn(column, spec)),
    indices: (def.indices ?? []).map(
      ([indexName, columnNames, unique]) => new TableIndex({ name: indexName, columnNames, isUnique: !!unique }),
    ),
    foreignKeys: (def.foreignKeys ?? []).map(
      ([column, target, fkName, onDelete]) =>
        new TableForeignKey({
          name: fkName,
          columnNames: [column],
          referencedTableName: target,
          referencedColumnNames: ["id"],
          onDelete,
          onUpdate: "NO ACTION",
        }),
    ),
    // InnoDB + utf8mb4 for MariaDB; ignored by SQLite.
    engine: "InnoDB",
  });
}

export function dialectOf(queryRunner: QueryRunner): Dialect {
  const type = queryRunner.connection.options.type;
  return type === "better-sqlite3" ? "sqlite" : type === "mysql" ? "mysql" : "mariadb";
}

export class InitialSchema1763900000000 implements MigrationInterface {
  name = "InitialSchema1763900000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    const tables = initialTables(dialectOf(queryRunner));
    for (const [name, def] of Object.entries(tables)) {
      // The coordination table may exist already: the migration lease lives in it and is
      // created before migrations run (see db/migrate.ts).
      await queryRunner.createTable(buildTable(name, def), name === "coordination");
    }
    await queryRunner.query(
      `INSERT INTO namespaces (name, created_at) VALUES ('default', ${queryRunner.connection.options.type === "better-sqlite3" ? "strftime('%Y-%m-%d %H:%M:%f','now')" : "NOW(3)"})`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const names = Object.keys(initialTables(dialectOf(queryRunner))).reverse();
    for (const name of names) await queryRunner.dropTable(name, true);
  }
}
