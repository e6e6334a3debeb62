import type { MigrationInterface, QueryRunner } from "typeorm";
import { ColumnTypes } from "../column-types.js";
import { EVENT_SEQUENCE, EVENTS_PRUNED } from "../events/event-ids.js";
import { buildTable, dialectOf } from "./1763900000000-initial-schema.js";

/**
 * The event outbox (DESIGN §8.6) and its two coordination rows: `events.seq`, the last id handed
 * out, and `events.pruned`, the highest id retention has removed (a consumer resuming below it
 * gets EVENTS_EXPIRED). The rows are created here, not on first use: creating one inside a
 * writer's transaction would take a shared lock that two writers then both try to upgrade.
 */
export class Events1766400000000 implements MigrationInterface {
  name = "Events1766400000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    const t = new ColumnTypes(dialectOf(queryRunner));
    await queryRunner.createTable(
      buildTable("events", {
        columns: [
          ["id", { ...t.bigint(undefined), primary: true }],
          ["namespace_id", t.ref()],
          ["namespace", t.key(76)],
          ["created_at", t.time()],
          ["topic", t.string(64)],
          ["subject", t.key(512)],
          ["payload", t.json()],
        ],
        indices: [
          ["ix_events_namespace_id", ["namespace_id", "id"]],
          ["ix_events_created_at", ["created_at"]],
        ],
        // No foreign key: events outlive a deleted namespace (its name is kept on each row).
      }),
    );
    for (const name of [EVENT_SEQUENCE, EVENTS_PRUNED]) {
      await queryRunner.query(
        "INSERT INTO coordination (name, value, holder, expires_at) SELECT ?, 0, '', NULL WHERE NOT EXISTS (SELECT 1 FROM coordination WHERE name = ?)",
        [name, name],
      );
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable("events");
    await queryRunner.query("DELETE FROM coordination WHERE name IN (?, ?)", [EVENT_SEQUENCE, EVENTS_PRUNED]);
  }
}
