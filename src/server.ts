/**
 * Builds the grpc-js server from service implementations, binds it, and shuts it down in the
 * order DESIGN §7 asks: health NOT_SERVING first, refuse new calls, let running calls finish
 * (bounded), run the shutdown hooks (e.g. flush token last_used), then close the database.
 */
import { readFileSync } from "node:fs";
import { format } from "node:util";
import { Server, ServerCredentials, setLogger, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { MetadataServiceService, type MetadataServiceServer } from "epoch-meta-client/epoch/v1/metadata_service";
import { TokenServiceService, type TokenServiceServer } from "epoch-meta-client/epoch/v1/token_service";
import { NamespaceServiceService, type NamespaceServiceServer } from "epoch-meta-client/epoch/v1/namespace_service";
import { EventServiceService, type EventServiceServer } from "epoch-meta-client/epoch/v1/event_service";
import { LeaseServiceService, type LeaseServiceServer } from "epoch-meta-client/epoch/v1/lease_service";
import { UploadServiceService, type UploadServiceServer } from "epoch-meta-client/epoch/v1/upload_service";
import {
  GarbageCollectionServiceService,
  type GarbageCollectionServiceServer,
} from "epoch-meta-client/epoch/v1/gc_service";
import { ConfigError, type Config } from "./config.js";
import { auditInterceptor } from "./grpc/audit.js";
import { authInterceptor, authRequired, logAuthMode } from "./grpc/auth.js";
import { addGuardedService } from "./grpc/decode-guard.js";
import { metricsInterceptor, type RpcObserver } from "./grpc/metrics-interceptor.js";
import { unimplementedService } from "./grpc/handlers.js";
import { namespaceInterceptor } from "./grpc/namespace-context.js";
import { tokenServiceDefinition } from "./grpc/token-service.js";
import { DATABASE_BACKED_SERVICES, Health, OVERALL, startDatabaseProbe } from "./grpc/health.js";
import { addReflection } from "./grpc/reflection.js";
import { logger } from "./logger.js";
import type { NamespaceResolver } from "./services/namespaces/namespace-resolver.js";
import type { TokenLookup } from "./services/tokens/token-lookup.js";

export type ShutdownHook = () => Promise<void> | void;

export interface ServerDeps {
  /** The database the health probe pings and shutdown closes last. */
  db: { ping(): Promise<void>; close(): Promise<void> };
  tokenLookup: TokenLookup;
  /** Missing services answer UNIMPLEMENTED for every method. */
  services?: {
    metadata?: MetadataServiceServer;
    token?: TokenServiceServer;
    namespace?: NamespaceServiceServer;
    event?: EventServiceServer;
    lease?: LeaseServiceServer;
    upload?: UploadServiceServer;
    gc?: GarbageCollectionServiceServer;
  };
  /**
   * Resolves each call's `epoch-namespace` before authentication (grpc/namespace-context.ts).
   * Without it every call acts without a namespace context (component tests).
   */
  namespaces?: NamespaceResolver;
  /** Run when shutdown starts, while calls drain: stop timers, tell long streams (sync) to wrap up. */
  beforeDrain?: ShutdownHook[];
  /** Run after the last call ended, before the database closes: flush buffers (token last_used). */
  afterDrain?: ShutdownHook[];
  healthProbe?: { intervalMs?: number; timeoutMs?: number };
  /** Told about every call's end (the metrics); unset = no per-call accounting at all. */
  rpcObserver?: RpcObserver;
  /** Said in the "serving" line: what the server runs on (database kind and version, redacted URLs). */
  startInfo?: Record<string, unknown>;
}

export interface RunningServer {
  /** The bound port (useful with EPOCH_LISTEN=…:0). */
  port: number;
  /** host:port a client can dial. */
  address: string;
  health: Health;
  /** Idempotent; resolves once the database is closed. */
  shutdown(): Promise<void>;
}

/** The server could not listen (address in use, permission denied, bad TLS files). One line. */
export class ListenError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ListenError";
  }
}

// grpc-js writes its own diagnostics with console.error; keep stderr to our JSON lines and the
// one-line failure. What matters (bind failures, call errors) reaches us and is reported there.
setLogger({ error: (...args: unknown[]) => logger.debug({ component: "grpc-js" }, format(...args)) });

// grpc-js's default receive limit, stated explicitly (DESIGN §2: "request size: 4 MB"); the send
// limit matches what every default client accepts, so an oversize reply fails on our side, visibly.
const MESSAGE_LIMIT = 4 * 1024 * 1024;

export async function startServer(config: Config, deps: ServerDeps): Promise<RunningServer> {
  const server = new Server({
    "grpc.max_receive_message_length": MESSAGE_LIMIT,
    "grpc.max_send_message_length": MESSAGE_LIMIT,
    interceptors: [
      // First, i.e. next to the transport: they see every status, authentication refusals too.
      ...(deps.rpcObserver ? [metricsInterceptor(deps.rpcObserver)] : []),
      auditInterceptor({ authenticating: authRequired(config) }),
      // The namespace is resolved before authentication: it checks that the token belongs to it.
      ...(deps.namespaces ? [namespaceInterceptor(deps.namespaces)] : []),
      ...(authRequired(config) ? [authInterceptor(deps.tokenLookup, systemNamespace(deps.namespaces))] : []),
    ],
  });

  const health = new Health();
  health.addToServer(server);
  addReflection(server);
  // Guarded: a request that cannot be decoded answers INVALID_ARGUMENT, not INTERNAL.
  addGuardedService(server, MetadataServiceService, withFallback(MetadataServiceService, deps.services?.metadata));
  // ValidateToken's serializer reuses the encoding of shared answers (grpc/token-service.ts).
  addGuardedService(server, tokenServiceDefinition, withFallback(TokenServiceService, deps.services?.token));
  addGuardedService(server, NamespaceServiceService, withFallback(NamespaceServiceService, deps.services?.namespace));
  addGuardedService(server, EventServiceService, withFallback(EventServiceService, deps.services?.event));
  addGuardedService(server, LeaseServiceService, withFallback(LeaseServiceService, deps.services?.lease));
  addGuardedService(server, UploadServiceService, withFallback(UploadServiceService, deps.services?.upload));
  addGuardedService(
    server,
    GarbageCollectionServiceService,
    withFallback(GarbageCollectionServiceService, deps.services?.gc),
  );

  // Statuses are known before the first call can arrive: grpc-js serves as soon as it is bound.
  const probe = startDatabaseProbe(health, {
    ping: () => deps.db.ping(),
    intervalMs: deps.healthProbe?.intervalMs ?? 5_000,
    timeoutMs: deps.healthProbe?.timeoutMs ?? 3_000,
  });
  await probe.first;
  health.setStatus(OVERALL, "SERVING");
  let port: number;
  try {
    port = await bind(server, config);
  } catch (e) {
    probe.stop();
    throw e;
  }
  const address = config.listen.address.replace(/:\d+$/, `:${port}`);
  logAuthMode(config, address);
  logger.info(
    {
      listen: address,
      tls: config.tls !== undefined,
      mtls: config.tls?.clientCaFile !== undefined,
      ...deps.startInfo,
    },
    "serving",
  );

  let stopping: Promise<void> | undefined;
  const shutdown = () => {
    stopping ??= (async () => {
      logger.info("shutting down");
      probe.stop();
      for (const name of [OVERALL, ...DATABASE_BACKED_SERVICES]) health.setStatus(name, "NOT_SERVING");
      await runHooks("beforeDrain", deps.beforeDrain);
      await drain(server, health, config.shutdownTimeoutMs);
      await runHooks("afterDrain", deps.afterDrain);
      await deps.db.close().catch((e: unknown) => logger.error({ err: e }, "closing the database failed"));
      logger.info("stopped");
    })();
    return stopping;
  };
  return { port, address, health, shutdown };
}

/** The id of `default` (system admins are its admin tokens); the app resolves it before serving. */
function systemNamespace(resolver: NamespaceResolver | undefined): () => number | undefined {
  return () => resolver?.peek("default")?.id;
}

function withFallback(
  definition:
    | typeof MetadataServiceService
    | typeof TokenServiceService
    | typeof NamespaceServiceService
    | typeof EventServiceService
    | typeof LeaseServiceService
    | typeof UploadServiceService
    | typeof GarbageCollectionServiceService,
  impl: object | undefined,
) {
  return { ...unimplementedService(definition), ...impl } as UntypedServiceImplementation;
}

function credentials(config: Config): ServerCredentials {
  if (!config.tls) return ServerCredentials.createInsecure();
  const read = (variable: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new ConfigError(`${variable}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
  };
  const { certFile, keyFile, clientCaFile } = config.tls;
  const keyPair = { cert_chain: read("EPOCH_TLS_CERT", certFile), private_key: read("EPOCH_TLS_KEY", keyFile) };
  const clientCa = clientCaFile === undefined ? null : read("EPOCH_TLS_CLIENT_CA", clientCaFile);
  try {
    // With a client CA, a client certificate signed by it is required (mTLS).
    return ServerCredentials.createSsl(clientCa, [keyPair], clientCa !== null);
  } catch (e) {
    throw new ConfigError(`EPOCH_TLS_CERT/EPOCH_TLS_KEY: invalid certificate or key: ${(e as Error).message}`);
  }
}

function bind(server: Server, config: Config): Promise<number> {
  const creds = credentials(config);
  return new Promise((resolve, reject) => {
    server.bindAsync(config.listen.address, creds, (err, port) => {
      if (!err) return resolve(port);
      server.forceShutdown();
      const cause = listenFailure(err.message);
      reject(new ListenError(`cannot listen on ${config.listen.address} (EPOCH_LISTEN): ${cause}`, { cause: err }));
    });
  });
}

/** Why a bind failed, in a few words, from the error's message. */
export function listenFailure(message: string): string {
  if (/EADDRINUSE/.test(message)) return "address already in use";
  if (/EACCES/.test(message)) return "permission denied";
  if (/EADDRNOTAVAIL/.test(message)) return "address not available on this host";
  return message.split("\n")[0] ?? message;
}

async function drain(server: Server, health: Health, timeoutMs: number): Promise<void> {
  // Give open Watch streams their NOT_SERVING before ending them; they would otherwise keep
  // tryShutdown waiting until the timeout.
  await new Promise((resolve) => setImmediate(resolve));
  health.endWatches();
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      logger.warn({ timeoutMs }, "calls still running at the shutdown timeout; cancelling them");
      server.forceShutdown();
      resolve();
    }, timeoutMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function runHooks(phase: string, hooks: ShutdownHook[] = []): Promise<void> {
  for (const hook of hooks) {
    try {
      await hook();
    } catch (e) {
      logger.error({ err: e, phase }, "shutdown hook failed");
    }
  }
}
