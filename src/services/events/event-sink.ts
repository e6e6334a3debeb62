import type { StoredEvent } from "../../db/events/event-store.js";

/**
 * A destination events are pushed to, at least once and in id order (event-deliverer.ts drives
 * it). `deliver` resolves once the destination has accepted every event given, and throws when it
 * did not; the deliverer records what was accepted and retries the rest with backoff.
 */
export interface EventSink {
  /** Names the sink's lease and position rows, e.g. "webhook", "nats". */
  readonly name: string;
  /** Calls `accepted` for each event the destination took, in order, before resolving or throwing. */
  deliver(events: readonly StoredEvent[], accepted: (event: StoredEvent) => void): Promise<void>;
  close(): Promise<void>;
}
