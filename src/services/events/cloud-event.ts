/**
 * An outbox event as a CloudEvents 1.0 event (structured JSON), via the CloudEvents SDK:
 * `id` = the event id, `type` = "io.epoch-meta" + the topic with dots ("/tags/create" →
 * "io.epoch-meta.tags.create"), `source` = "/namespaces/<ns>", `subject`, `time`, and the
 * payload (proto JSON of its oneof case) as `data`.
 */
import { CloudEvent, HTTP } from "cloudevents";
import type { StoredEvent } from "../../db/events/event-store.js";

export const CLOUD_EVENT_TYPE_PREFIX = "io.epoch-meta";

/** "/tags/create" → "tags.create" (NATS subject tokens, CloudEvents type suffix). */
export const topicWithDots = (topic: string) => topic.replace(/^\//, "").replaceAll("/", ".");

export function toCloudEvent(e: StoredEvent): CloudEvent<Record<string, unknown>> {
  return new CloudEvent({
    id: String(e.id),
    type: `${CLOUD_EVENT_TYPE_PREFIX}.${topicWithDots(e.topic)}`,
    source: `/namespaces/${e.namespace}`,
    subject: e.subject,
    time: e.time.toISOString(),
    datacontenttype: "application/json",
    data: e.payload,
  });
}

/** The structured-mode HTTP message: `application/cloudevents+json` headers and body. */
export function structuredCloudEvent(e: StoredEvent): { headers: Record<string, string>; body: string } {
  const message = HTTP.structured(toCloudEvent(e));
  return { headers: message.headers as Record<string, string>, body: String(message.body) };
}
