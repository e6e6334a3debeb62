/**
 * The plain-HTTP listener of EPOCH_METRICS_LISTEN (DESIGN §8.7): `/metrics` for Prometheus,
 * `/healthz` and `/readyz` for probes that do not speak gRPC. The probes answer from the gRPC
 * health statuses (grpc/health.ts), so there is one database probe, not two:
 * - `/healthz`: 200 while the process serves ("" is SERVING), 503 once shutdown has begun;
 * - `/readyz`: 200 when it also reaches its database (the epoch.v1 services are SERVING).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { Registry } from "prom-client";
import type { ListenAddress } from "../config.js";
import { DATABASE_BACKED_SERVICES, OVERALL, type Health } from "../grpc/health.js";
import { logger } from "../logger.js";
import { ListenError, listenFailure } from "../server.js";

export interface MetricsServer {
  /** host:port as bound (the real port with EPOCH_METRICS_LISTEN=…:0). */
  address: string;
  port: number;
  /** Stops listening and ends open connections (Prometheus keeps them alive). */
  close(): Promise<void>;
}

export async function startMetricsServer(
  listen: ListenAddress,
  registry: Registry,
  health: Health,
): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    respond(req, res, registry, health).catch((e: unknown) => {
      logger.error({ err: e, path: req.url }, "metrics request failed");
      if (!res.headersSent) reply(res, 500, "internal error\n");
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(
        new ListenError(`cannot listen on ${listen.address} (EPOCH_METRICS_LISTEN): ${listenFailure(e.message)}`, {
          cause: e,
        }),
      ),
    );
    server.listen(listen.port, listen.host, () => resolve());
  });
  const { port } = server.address() as { port: number };
  const address = listen.address.replace(/:\d+$/, `:${port}`);
  logger.info({ listen: address }, "serving metrics");
  return {
    address,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function respond(req: IncomingMessage, res: ServerResponse, registry: Registry, health: Health): Promise<void> {
  if (req.method !== "GET" && req.method !== "HEAD")
    return reply(res, 405, "method not allowed\n", { allow: "GET, HEAD" });
  const path = new URL(req.url ?? "/", "http://metrics").pathname;
  const live = health.status(OVERALL) === "SERVING";
  switch (path) {
    case "/metrics":
      return reply(res, 200, await registry.metrics(), { "content-type": registry.contentType });
    case "/healthz":
      return live ? reply(res, 200, "ok\n") : reply(res, 503, "shutting down\n");
    case "/readyz": {
      if (!live) return reply(res, 503, "shutting down\n");
      const reachable = DATABASE_BACKED_SERVICES.every((name) => health.status(name) === "SERVING");
      return reachable ? reply(res, 200, "ready\n") : reply(res, 503, "database unreachable\n");
    }
    default:
      return reply(res, 404, "not found: try /metrics, /healthz or /readyz\n");
  }
}

function reply(res: ServerResponse, code: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(code, { "content-type": "text/plain; charset=utf-8", ...headers });
  res.end(res.req.method === "HEAD" ? undefined : body);
}
