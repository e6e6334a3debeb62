/**
 * grpc.health.v1 (Check, Watch, List). The service definition and proto come from
 * grpc-health-check; the implementation is ours because shutdown must end open Watch streams
 * (after telling them NOT_SERVING), or they would hold a graceful shutdown to its timeout.
 *
 * Statuses (DESIGN §2): "" follows the process (SERVING until shutdown starts); the epoch.v1
 * services follow a periodic database probe, so a database blip takes them out without taking
 * every replica out of its load balancer.
 */
import {
  status,
  type sendUnaryData,
  type Server,
  type ServerUnaryCall,
  type ServerWritableStream,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { service as healthServiceDefinition } from "grpc-health-check";
import { logger } from "../logger.js";
import { addGuardedService } from "./decode-guard.js";

export type ServingStatus = "SERVING" | "NOT_SERVING";
type WatchStatus = ServingStatus | "SERVICE_UNKNOWN";
type Watch = ServerWritableStream<{ service: string }, { status: WatchStatus }>;

export const OVERALL = "";
export const DATABASE_BACKED_SERVICES = [
  "epoch.v1.MetadataService",
  "epoch.v1.TokenService",
  "epoch.v1.NamespaceService",
  "epoch.v1.EventService",
  "epoch.v1.LeaseService",
  "epoch.v1.UploadService",
] as const;

export class Health {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watches = new Map<string, Set<Watch>>();

  setStatus(service: string, next: ServingStatus): void {
    const previous = this.statuses.get(service);
    if (previous === next) return;
    this.statuses.set(service, next);
    // The first status is routine; changes are what an operator looks for.
    logger[previous ? "info" : "debug"]({ healthService: service || "(overall)", status: next }, "health status");
    for (const watch of this.watches.get(service) ?? []) watch.write({ status: next });
  }

  status(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  /** Ends every Watch stream; their last message was the status set before this call. */
  endWatches(): void {
    for (const set of this.watches.values()) for (const watch of set) watch.end();
    this.watches.clear();
  }

  addToServer(server: Server): void {
    const implementation: UntypedServiceImplementation = {
      Check: (call: ServerUnaryCall<{ service: string }, unknown>, callback: sendUnaryData<unknown>) => {
        const current = this.statuses.get(call.request.service);
        if (current) callback(null, { status: current });
        else callback({ code: status.NOT_FOUND, details: `unknown service ${JSON.stringify(call.request.service)}` });
      },
      Watch: (call: Watch) => {
        const name = call.request.service;
        const set = this.watches.get(name) ?? new Set<Watch>();
        this.watches.set(name, set.add(call));
        call.on("cancelled", () => set.delete(call));
        call.write({ status: this.statuses.get(name) ?? "SERVICE_UNKNOWN" });
      },
      List: (_call: unknown, callback: sendUnaryData<unknown>) => {
        const statuses = Object.fromEntries([...this.statuses].map(([name, s]) => [name, { status: s }]));
        callback(null, { statuses });
      },
    };
    addGuardedService(server, healthServiceDefinition, implementation);
  }
}

export interface DatabaseProbeOptions {
  ping: () => Promise<void>;
  intervalMs: number;
  /** A ping that takes longer than this counts as a failure (a dead TCP peer can hang for minutes). */
  timeoutMs: number;
}

/** Pings the database now and then every `intervalMs`; returns a function that stops probing. */
export function startDatabaseProbe(
  health: Health,
  options: DatabaseProbeOptions,
): { first: Promise<void>; stop: () => void } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const probe = async () => {
    let ok = true;
    try {
      await withTimeout(options.ping(), options.timeoutMs);
    } catch (e) {
      ok = false;
      if (health.status(DATABASE_BACKED_SERVICES[0]) !== "NOT_SERVING")
        logger.warn({ err: e }, "database probe failed");
    }
    if (stopped) return;
    for (const name of DATABASE_BACKED_SERVICES) health.setStatus(name, ok ? "SERVING" : "NOT_SERVING");
    // Chained rather than setInterval, so a slow ping never overlaps the next one.
    timer = setTimeout(() => void probe(), options.intervalMs);
    timer.unref();
  };
  const first = probe();
  return {
    first,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`database ping timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
