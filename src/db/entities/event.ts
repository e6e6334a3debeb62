import type { ColumnTypes } from "../column-types.js";
import { defineEntity, manyToOne } from "./define.js";

/**
 * The event outbox (DESIGN §8.6): one row per change, written in the transaction that made the
 * change. `id` is not auto-increment: it is drawn from the `events.seq` coordination row as the
 * last statement of that transaction, whose row lock is held until commit, so ids are dense and
 * commit in id order on every replica (see db/events/event-ids.ts).
 */
export interface EventRow {
  id: number;
  namespaceId: number;
  createdAt: Date;
  topic: string;
  subject: string;
  /** The payload oneof as `{ "<case>": { …fields } }`; never a secret. */
  payload: Record<string, unknown> | null;
}

export const eventEntity = (t: ColumnTypes) =>
  defineEntity<EventRow>("Event", "events", {
    columns: {
      id: ["id", { ...t.bigint(undefined), primary: true }],
      namespaceId: ["namespace_id", t.ref()],
      createdAt: ["created_at", t.time()],
      topic: ["topic", t.string(64)],
      subject: ["subject", t.key(512)],
      payload: ["payload", t.json()],
    },
    relations: { namespace: manyToOne("Namespace", "namespace_id", "fk_events_namespace", "NO ACTION") },
    indices: [
      { name: "ix_events_namespace_id", columns: ["namespaceId", "id"] },
      { name: "ix_events_created_at", columns: ["createdAt"] },
    ],
  });
