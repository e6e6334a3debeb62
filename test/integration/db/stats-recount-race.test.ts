/**
 * The tag counts of registry_stats survive a DeleteTag that commits while a sync's final recount
 * is in its transaction (MariaDB; SQLite runs one writer at a time). The recount is held right
 * after its counting SELECT; a DeleteTag on another connection then either waits for the stats
 * row (the fix: the recount locks it before reading) or commits at once and is overwritten by the
 * recount's stale numbers (the lost update this test was written for).
 */
import type { EntityManager } from "typeorm";
import { afterEach, beforeEach, expect, it } from "vitest";
import { recountTagStats } from "../../../src/db/index/registry-stats.js";
import { configureLogger } from "../../../src/logger.js";
import { writeRegistryFixture } from "../../fixtures/registry-fixture.js";
import { forEachDialect } from "../../helpers/database.js";
import { createSyncHarness, runSync, type SyncHarness } from "../../helpers/sync-harness.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

/**
 * The tag writer's statements on the stats row (its INSERT IGNORE, its locking read), in flight:
 * each answers at once unless another transaction holds the row, so one seen in PROCESSLIST is
 * waiting (INNODB_TRX may not list it).
 */
const WAITING_DELETE = `SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST
WHERE DB = DATABASE() AND INFO LIKE '%registry_stats%' AND INFO NOT LIKE '%PROCESSLIST%'`;

/** Runs `fn` after the first statement matching `re` has answered, inside the same transaction. */
function pauseAfter(m: EntityManager, re: RegExp, fn: () => Promise<void>): EntityManager {
  let done = false;
  return new Proxy(m, {
    get(target, prop, receiver) {
      if (prop !== "query") return Reflect.get(target, prop, receiver) as unknown;
      return async (sql: string, params?: unknown[]) => {
        const result: unknown = await target.query(sql, params);
        if (!done && re.test(sql)) {
          done = true;
          await fn();
        }
        return result;
      };
    },
  });
}

forEachDialect("registry_stats recount vs a concurrent DeleteTag", (dialect) => {
  if (dialect === "sqlite") {
    it.skip("SQLite runs one writer at a time: no interleaving to test", () => undefined);
    return;
  }
  let h: SyncHarness;
  beforeEach(async () => {
    h = await createSyncHarness(dialect, "directory", undefined);
    await writeRegistryFixture(h.store, { broken: false });
    await runSync(h.sync);
  });
  afterEach(async () => {
    await h.cleanup();
  });

  const statsTagCount = async () => {
    const rows: Array<{ n: unknown }> = await h.db.ds.query("SELECT tag_count AS n FROM registry_stats");
    return Number(rows[0]?.n);
  };
  const indexedTags = async () => {
    const rows: Array<{ n: unknown }> = await h.db.ds.query("SELECT COUNT(*) AS n FROM tags");
    return Number(rows[0]?.n);
  };

  it("keeps the delete: the recount holds the stats row, the delete waits and then moves the recounted value", async () => {
    const before = await indexedTags();
    expect(await statsTagCount()).toBe(before);
    const [victim] = (await h.db.ds.query(
      "SELECT r.name AS repository, t.name AS tag FROM tags t JOIN repositories r ON r.id = t.repository_id ORDER BY r.name, t.name LIMIT 1",
    )) as Array<{ repository: string; tag: string }>;

    const [{ id: namespaceId }] = (await h.db.ds.query("SELECT id FROM namespaces WHERE name = 'default'")) as [
      { id: number },
    ];
    let deleted: Promise<void> | undefined;
    let deleteWaited = false;
    await h.db.ds.transaction(async (m) => {
      const held = pauseAfter(m, /COUNT\(\*\) AS n FROM tags/, async () => {
        deleted = h.writer.deleteTag(victim!.repository, victim!.tag);
        // Either the delete commits at once (no lock held: the lost update follows) or it waits.
        const settled = deleted.then(() => "done" as const);
        for (let i = 0; i < 200; i++) {
          const waiting = Number(((await h.db.ds.query(WAITING_DELETE)) as Array<{ n: unknown }>)[0]?.n);
          if (waiting > 0) {
            deleteWaited = true;
            return;
          }
          if ((await Promise.race([settled, new Promise((r) => setTimeout(r, 25, "pending"))])) === "done") return;
        }
        throw new Error("DeleteTag neither committed nor waited for the stats row");
      });
      await recountTagStats(held, { dialect: h.db.dialect, namespaceId });
    });
    await deleted;

    expect(await indexedTags()).toBe(before - 1);
    expect(await statsTagCount()).toBe(before - 1);
    expect(deleteWaited).toBe(true);
  });
});
