/**
 * Where each event sink stands: the last event id it delivered, in a `coordination` row
 * (`events.sink.<name>`), moved only by the holder of that sink's delivery lease (the same row's
 * `holder`/`expires_at`, taken through db/leases.ts). A replica that lost the lease cannot move it.
 */
import type { Database } from "../data-source.js";
import { toNumber } from "../sql/decode.js";
import { execute } from "../sql/execute.js";
import { insertIgnore, sqlNow } from "../sql/sql.js";

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
