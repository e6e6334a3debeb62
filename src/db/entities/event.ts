import type { ColumnTypes } from "../column-types.js";
import { defineEntity } from "./define.js";

/**
 * The event outbox (DESIGN §8.6): one row per change, written in the transaction that made the
 * change. `id` is not auto-increment: it is drawn from the `events.seq` coordination row as the
 * last statement of that transaction, whose row lock is held until commit, so ids are dense and
 * commit in id order on every replica (see db/events/event-ids.ts).
 */
export interface EventRow {
  id: number;
  /** No foreign key: the log outlives a deleted namespace, so its name is kept on the row. */
  namespaceId: number;
  namespace: string;
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
      namespace: ["namespace", t.key(76)],
      createdAt: ["created_at", t.time()],
      topic: ["topic", t.string(64)],
      subject: ["subject", t.key(512)],
      payload: ["payload", t.json()],
    },
    indices: [
      { name: "ix_events_namespace_id", columns: ["namespaceId", "id"] },
      { name: "ix_events_created_at", columns: ["createdAt"] },
    ],
  });
