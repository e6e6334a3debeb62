/**
 * CloudEvents to an HTTP webhook (EPOCH_EVENTS_WEBHOOK_URL): one structured-mode POST per event,
 * in order; any status but 2xx is a failure the deliverer retries. With
 * EPOCH_EVENTS_WEBHOOK_SECRET each request carries `X-Epoch-Signature: sha256=<hex>`, the
 * HMAC-SHA256 of the exact body, so a receiver can verify it before parsing.
 */
import { createHmac } from "node:crypto";
import type { StoredEvent } from "../../db/events/event-store.js";
import { structuredCloudEvent } from "./cloud-event.js";
import type { EventSink } from "./event-sink.js";

export const SIGNATURE_HEADER = "x-epoch-signature";

export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

export class WebhookSink implements EventSink {
  readonly name = "webhook";

  constructor(
    private readonly url: string,
    private readonly secret?: string,
    private readonly timeoutMs = 10_000,
  ) {}

  async deliver(events: readonly StoredEvent[], accepted: (event: StoredEvent) => void): Promise<void> {
    for (const event of events) {
      const { headers, body } = structuredCloudEvent(event);
      if (this.secret !== undefined) headers[SIGNATURE_HEADER] = signBody(this.secret, body);
      const response = await fetch(this.url, {
        method: "POST",
        headers,
        body,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      // Drain the body so the connection can be reused.
      await response.arrayBuffer().catch(() => undefined);
      if (!response.ok) throw new Error(`webhook answered ${response.status} for event ${event.id}`);
      accepted(event);
    }
  }

  async close(): Promise<void> {}
}
