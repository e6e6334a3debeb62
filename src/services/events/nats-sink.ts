/**
 * CloudEvents to NATS JetStream (EPOCH_EVENTS_NATS_URL): subject
 * `<prefix>.<namespace>.<topic with dots>` (prefix "epoch" by default), the structured CloudEvent
 * as the body, and `Nats-Msg-Id` = the event id, so JetStream's duplicate window drops a
 * redelivery after a crash between publishing and recording the position. Each publish waits for
 * JetStream's ack; a subject no stream captures fails ("no responders") and is retried until an
 * operator creates the stream.
 */
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { StoredEvent } from "../../db/events/event-store.js";
import { structuredCloudEvent, topicWithDots } from "./cloud-event.js";
import type { EventSink } from "./event-sink.js";

export const natsSubject = (prefix: string, e: Pick<StoredEvent, "namespace" | "topic">) =>
  `${prefix}.${e.namespace}.${topicWithDots(e.topic)}`;

export class NatsSink implements EventSink {
  readonly name = "nats";
  private connection: Promise<{ nc: NatsConnection; js: JetStreamClient }> | undefined;

  constructor(
    private readonly url: string,
    private readonly subjectPrefix: string,
  ) {}

  private connected(): Promise<{ nc: NatsConnection; js: JetStreamClient }> {
    this.connection ??= connect({ servers: this.url, maxReconnectAttempts: -1 })
      .then((nc) => ({ nc, js: jetstream(nc) }))
      .catch((e: unknown) => {
        this.connection = undefined;
        throw e;
      });
    return this.connection;
  }

  async deliver(events: readonly StoredEvent[], accepted: (event: StoredEvent) => void): Promise<void> {
    const { js } = await this.connected();
    for (const event of events) {
      const { body } = structuredCloudEvent(event);
      await js.publish(natsSubject(this.subjectPrefix, event), body, { msgID: String(event.id) });
      accepted(event);
    }
  }

  async close(): Promise<void> {
    const pending = this.connection;
    this.connection = undefined;
    if (pending) await (await pending.catch(() => undefined))?.nc.drain();
  }
}
