/** Stored events in bulk for the event benchmarks: one INSERT … SELECT, no per-row round trip. */
import type { Database } from "../src/db/data-source.js";
import { EVENT_SEQUENCE } from "../src/db/events/event-ids.js";
import { writeTransaction } from "../src/db/write-transaction.js";

/**
 * `n` events of `default` (ids 1…n, the outbox empty before) written by one statement, and the
 * id counter set to n, in one transaction.
 */
export async function seedEvents(db: Database, n: number): Promise<void> {
  const rows = await db.read<{ id: unknown }>("SELECT id FROM namespaces WHERE name = 'default'");
  const ns = Number(rows[0]!.id);
  // A /tags/create payload of the usual size (about 230 bytes of JSON).
  await writeTransaction(db, async (m) => {
    if (db.dialect === "sqlite") {
      await m.query(
        `WITH RECURSIVE seq(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM seq WHERE x < ?)
INSERT INTO events (id, namespace_id, namespace, created_at, topic, subject, payload)
SELECT x, ?, 'default', strftime('%Y-%m-%d %H:%M:%f','now'), '/tags/create', 'library/app:t' || x,
  json_object('tag', json_object('repository', 'library/app', 'tag', 't' || x, 'digest', 'sha256:' || printf('%064x', x),
    'oldDigest', '', 'kind', 'ARTIFACT_KIND_CONTAINER_IMAGE'))
FROM seq`,
        [n, ns],
      );
    } else {
      // MariaDB's sequence engine: seq_1_to_<n> is a table of 1…n.
      await m.query(
        `INSERT INTO events (id, namespace_id, namespace, created_at, topic, subject, payload)
SELECT seq, ?, 'default', NOW(3), '/tags/create', CONCAT('library/app:t', seq),
  JSON_OBJECT('tag', JSON_OBJECT('repository', 'library/app', 'tag', CONCAT('t', seq), 'digest', CONCAT('sha256:', LPAD(HEX(seq), 64, '0')),
    'oldDigest', '', 'kind', 'ARTIFACT_KIND_CONTAINER_IMAGE'))
FROM seq_1_to_${Math.floor(n)}`,
        [ns],
      );
    }
    await m.query("UPDATE coordination SET value = ? WHERE name = ?", [n, EVENT_SEQUENCE]);
  });
}
