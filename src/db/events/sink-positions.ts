/**
 * Where each event sink stands: the last event id it delivered, in a `coordination` row
 * (`events.sink.<name>`), moved only by the holder of that sink's delivery lease (the same row's
 * `holder`/`expires_at`, taken through db/leases.ts). A replica that lost the lease cannot move it.
 */
import type { Database } from "../data-source.js";
import { toDate, toNumber } from "../sql/decode.js";
import { execute } from "../sql/execute.js";
import { insertIgnore, sqlNow } from "../sql/sql.js";
import { serialized } from "../write-transaction.js";
import { EVENT_SEQUENCE } from "./event-ids.js";

export const sinkLeaseName = (sink: string) => `events.sink.${sink}`;
export const sinkPositionName = (sink: string) => `events.pos.${sink}`;

/** The sink's position; a sink seen for the first time starts after the newest event (it delivers from now on). */
export async function readSinkPosition(db: Database, sink: string): Promise<number> {
  const name = sinkPositionName(sink);
  await execute(
    db.ds,
    `${insertIgnore(db.dialect)} INTO coordination (name, value, holder, expires_at) SELECT ?, COALESCE(MAX(id), 0), '', NULL FROM events`,
    [name],
  );
  const rows = await db.read<{ value: unknown }>("SELECT value FROM coordination WHERE name = ?", [name]);
  return toNumber(rows[0]?.value);
}

/** Records delivery through `position` while `holder` still holds the sink's lease; false = lease lost. */
export async function advanceSinkPosition(
  db: Database,
  sink: string,
  holder: string,
  position: number,
): Promise<boolean> {
  return db.ds.transaction(async (m) => {
    const held = await execute(
      m,
      `UPDATE coordination SET holder = holder WHERE name = ? AND holder = ? AND expires_at >= ${sqlNow(db.dialect)}`,
      [sinkLeaseName(sink), holder],
    );
    if (held !== 1) return false;
    await execute(m, "UPDATE coordination SET value = ? WHERE name = ? AND value < ?", [
      position,
      sinkPositionName(sink),
      position,
    ]);
    return true;
  });
}

/** How far a sink is behind the outbox: the events not yet delivered, and how old the oldest of them is. */
export interface SinkLag {
  sink: string;
  /** Committed events after the sink's position (0: caught up). */
  events: number;
  /** Database time since the oldest undelivered event was written (0: caught up). */
  seconds: number;
}

/**
 * The lag of each of these sinks, from the database (the same answer on every replica): the last
 * id handed out minus the sink's position, and the age of the event just after the position.
 */
export async function sinkLags(db: Database, sinks: readonly string[]): Promise<SinkLag[]> {
  if (sinks.length === 0) return [];
  // SQLite: behind open writers, whose uncommitted counter bump the shared connection would see.
  return serialized(db, () => readLags(db, sinks));
}

async function readLags(db: Database, sinks: readonly string[]): Promise<SinkLag[]> {
  const rows = await db.read<{ name: unknown; value: unknown }>(
    `SELECT name, value FROM coordination WHERE name IN (?${", ?".repeat(sinks.length)})`,
    [EVENT_SEQUENCE, ...sinks.map(sinkPositionName)],
  );
  const values = new Map(rows.map((r) => [String(r.name), toNumber(r.value)]));
  const head = values.get(EVENT_SEQUENCE) ?? 0;
  const out: SinkLag[] = [];
  for (const sink of sinks) {
    // A sink with no position row yet starts from the newest event (readSinkPosition): nothing behind.
    const position = values.get(sinkPositionName(sink)) ?? head;
    const events = Math.max(0, head - position);
    let seconds = 0;
    if (events > 0) {
      const oldest = await db.read<{ created_at: unknown; now: unknown }>(
        `SELECT created_at, ${sqlNow(db.dialect)} AS now FROM events WHERE id > ? ORDER BY id LIMIT 1`,
        [position],
      );
      if (oldest[0])
        seconds = Math.max(0, (toDate(oldest[0].now).getTime() - toDate(oldest[0].created_at).getTime()) / 1000);
    }
    out.push({ sink, events, seconds });
  }
  return out;
}
