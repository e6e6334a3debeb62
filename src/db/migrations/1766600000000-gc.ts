import { TableIndex, type MigrationInterface, type QueryRunner } from "typeorm";
import { ColumnTypes } from "../column-types.js";
import { sqlNow } from "../sql/sql.js";
import { buildTable, dialectOf } from "./1763900000000-initial-schema.js";

/**
 * Garbage collection (DESIGN §8.5; the rows are described in entities/gc.ts): the review queue,
 * the runs, and an index on manifest_children.child_digest so a manifest candidate's check
 * ("does an index of this repository still list it?") is a lookup. Blobs already unreferenced
 * enter the queue now, as if they had just become so: an online run finds them after the grace period.
 */
export class Gc1766600000000 implements MigrationInterface {
  name = "Gc1766600000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    const dialect = dialectOf(queryRunner);
    const t = new ColumnTypes(dialect);
    const pk = <T extends object>(spec: T) => ({ ...spec, primary: true });
    await queryRunner.createTable(
      buildTable("gc_review_queue", {
        columns: [
          ["namespace_id", pk(t.ref())],
          ["kind", pk(t.key(16))],
          ["repository", pk(t.key(255))],
          ["digest", pk(t.key(128))],
          ["unreferenced_at", t.time()],
          ["state", t.key(16)],
          ["run_id", t.bigint()],
          ["size", t.bigint()],
          ["changed_at", t.time()],
        ],
        indices: [["ix_gc_review_queue_state", ["namespace_id", "state", "unreferenced_at"]]],
        foreignKeys: [["namespace_id", "namespaces", "fk_gc_review_queue_namespace", "NO ACTION"]],
      }),
    );
    await queryRunner.createTable(
      buildTable("gc_runs", {
        columns: [
          ["id", t.id()],
          ["namespace_id", t.ref()],
          ["state", t.string(16)],
          ["trigger", t.string(16)],
          ["dry_run", t.bool()],
          ["full", t.bool()],
          ["grace_period_ms", t.bigint()],
          ["holder", t.string(255, false, "")],
          ["started_at", t.time()],
          ["finished_at", t.time(true)],
          ["sync_run_id", t.bigint()],
          ["counters", t.json()],
          ["cancel_requested", t.bool()],
          ["error_reason", t.string(64, false, "")],
          ["message", t.string(1024, false, "")],
        ],
        indices: [["ix_gc_runs_namespace_id", ["namespace_id", "id"]]],
        foreignKeys: [["namespace_id", "namespaces", "fk_gc_runs_namespace", "NO ACTION"]],
      }),
    );
    await queryRunner.createIndex(
      "manifest_children",
      new TableIndex({ name: "ix_manifest_children_child", columnNames: ["child_digest"] }),
    );
    const now = sqlNow(dialect);
    await queryRunner.query(
      `INSERT INTO gc_review_queue (namespace_id, kind, repository, digest, unreferenced_at, state, run_id, size, changed_at)
SELECT namespace_id, 'blob', '', digest, ${now}, 'pending', 0, size, ${now} FROM blobs WHERE ref_count = 0`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex("manifest_children", "ix_manifest_children_child");
    await queryRunner.dropTable("gc_runs");
    await queryRunner.dropTable("gc_review_queue");
  }
}
