/** The configured sinks (EPOCH_EVENTS_WEBHOOK_URL, EPOCH_EVENTS_NATS_URL), each with its deliverer. */
import type { EventSettings } from "../../config.js";
import type { Database } from "../../db/data-source.js";
import { EventDeliverer, type DelivererOptions } from "./event-deliverer.js";
import { NatsSink } from "./nats-sink.js";
import { WebhookSink } from "./webhook-sink.js";

export function eventDeliverers(
  db: Database,
  settings: EventSettings,
  holder: string,
  options: Omit<DelivererOptions, "holder"> = {},
): EventDeliverer[] {
  const sinks = [
    ...(settings.webhook ? [new WebhookSink(settings.webhook.url, settings.webhook.secret)] : []),
    ...(settings.nats ? [new NatsSink(settings.nats.url, settings.nats.subjectPrefix)] : []),
  ];
  return sinks.map((sink) => new EventDeliverer(db, sink, { ...options, holder }));
}
