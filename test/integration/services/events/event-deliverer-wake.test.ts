/**
 * The deliverer wakes on this replica's commits (app.ts wires onEventsCommitted to `notify`): with
 * a poll interval of ten minutes, events committed through the same database handle still reach
 * the sink at once, and in order; without a notify they wait for the poll (here: past the test).
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import type { Database } from "../../../../src/db/data-source.js";
import { appendEvents, onEventsCommitted, type StoredEvent } from "../../../../src/db/events/event-store.js";
import { namespaceIdOf } from "../../../../src/db/queries/namespaces.js";
import { writeTransaction } from "../../../../src/db/write-transaction.js";
import { EventDeliverer } from "../../../../src/services/events/event-deliverer.js";
import type { EventSink } from "../../../../src/services/events/event-sink.js";
import { createMigratedDatabase, forEachDialect } from "../../../helpers/database.js";
import { until } from "../../../helpers/until.js";

/** A sink that takes everything (the webhook and NATS sinks have their own e2e tests). */
class RecordingSink implements EventSink {
  readonly name = "recording";
  readonly ids: number[] = [];
  async deliver(events: readonly StoredEvent[], accepted: (e: StoredEvent) => void): Promise<void> {
    for (const e of events) {
      this.ids.push(e.id);
      accepted(e);
    }
  }
  async close(): Promise<void> {}
}

forEachDialect("event deliverer wake-up", (dialect) => {
  let db: Database;
  let cleanup: () => Promise<void>;
  let ns: number;
  beforeEach(async () => {
    ({ db, cleanup } = await createMigratedDatabase(dialect));
    ns = (await namespaceIdOf(db, "default"))!;
  });
  afterEach(() => cleanup());

  const append = (n: number) =>
    writeTransaction(db, (m) =>
      appendEvents(
        m,
        db.dialect,
        Array.from({ length: n }, (_, i) => ({
          namespaceId: ns,
          topic: "/tags/create",
          subject: `a:${i}`,
          payload: {},
        })),
      ),
    );

  it("delivers this replica's commits at once, not at the next poll", async () => {
    const sink = new RecordingSink();
    const deliverer = new EventDeliverer(db, sink, { holder: "test", pollIntervalMs: 600_000 });
    const unsubscribe = onEventsCommitted(db, () => deliverer.notify());
    try {
      await deliverer.prepare();
      deliverer.start();
      // Let it read the empty outbox and start its ten-minute wait.
      await new Promise((r) => setTimeout(r, 200));
      const first = await append(3);
      await until("the first commit delivered", () => sink.ids.length === 3, 5_000);
      const second = await append(2);
      // The sink has the events before the deliverer records them (it moves its position after the
      // sink's ack): wait for both.
      await until("the second commit delivered and recorded", () => deliverer.stats().delivered === 5, 5_000);
      expect(sink.ids).toEqual([...first, ...second]);
      expect(deliverer.stats()).toEqual({ delivered: 5, position: second.at(-1) });
    } finally {
      unsubscribe();
      await deliverer.stop();
    }
  });
});
