/**
 * Shared by the client commands (sync, repos, tags, stats, token): a connection to a running
 * server built from EPOCH_SERVER / EPOCH_TOKEN / EPOCH_TLS_CA, and the one-line error format.
 *
 *   export function register(program: Command) {
 *     addServerOption(program.command("stats")).action(async (opts) => {
 *       const clients = connect(clientConfigFrom(opts));
 *       try { ...clients.metadata.getStats({}, callback)... } finally { clients.close(); }
 *     });
 *   }
 */
import { readFileSync } from "node:fs";
import {
  credentials,
  InterceptingCall,
  type ChannelCredentials,
  type Interceptor,
  type ServiceError,
} from "@grpc/grpc-js";
import type { Command } from "commander";
import { EventServiceClient } from "epoch-meta-client/epoch/v1/event_service";
import { LeaseServiceClient } from "epoch-meta-client/epoch/v1/lease_service";
import { UploadServiceClient } from "epoch-meta-client/epoch/v1/upload_service";
import { GarbageCollectionServiceClient } from "epoch-meta-client/epoch/v1/gc_service";
import { MetadataServiceClient } from "epoch-meta-client/epoch/v1/metadata_service";
import { NamespaceServiceClient } from "epoch-meta-client/epoch/v1/namespace_service";
import { TokenServiceClient } from "epoch-meta-client/epoch/v1/token_service";
import { ConfigError, loadClientConfig, type ClientConfig } from "../config.js";
import { isEpochError } from "../errors.js";
import { NAMESPACE_METADATA } from "../grpc/namespace-context.js";
import { describeCallError } from "./call-error.js";

export interface Clients {
  server: string;
  metadata: MetadataServiceClient;
  tokens: TokenServiceClient;
  namespaces: NamespaceServiceClient;
  events: EventServiceClient;
  leases: LeaseServiceClient;
  uploads: UploadServiceClient;
  gc: GarbageCollectionServiceClient;
  close(): void;
}

/** Adds `authorization: Bearer <secret>` to every call (works on plaintext channels too, unlike call credentials). */
export function bearerInterceptor(secret: string): Interceptor {
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start: (metadata, listener, next) => {
        metadata.set("authorization", `Bearer ${secret}`);
        next(metadata, listener);
      },
    });
}

/** Adds `epoch-namespace: <name>` to every call: the namespace the server acts in. */
export function namespaceInterceptor(namespace: string): Interceptor {
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start: (metadata, listener, next) => {
        metadata.set(NAMESPACE_METADATA, namespace);
        next(metadata, listener);
      },
    });
}

export function channelCredentials(config: ClientConfig): ChannelCredentials {
  if (config.tlsCaFile === undefined) return credentials.createInsecure();
  try {
    return credentials.createSsl(readFileSync(config.tlsCaFile));
  } catch (e) {
    throw new ConfigError(
      `EPOCH_TLS_CA: cannot read ${config.tlsCaFile}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
    );
  }
}

/** The server this process dialled last, named by the error line if a call fails (one CLI command, one server). */
let dialled: string | undefined;

export function connect(config: ClientConfig = loadClientConfig()): Clients {
  dialled = config.server;
  const creds = channelCredentials(config);
  const interceptors = [
    ...(config.token ? [bearerInterceptor(config.token)] : []),
    ...(config.namespace ? [namespaceInterceptor(config.namespace)] : []),
  ];
  const options = { interceptors };
  const metadata = new MetadataServiceClient(config.server, creds, options);
  const tokens = new TokenServiceClient(config.server, creds, options);
  const namespaces = new NamespaceServiceClient(config.server, creds, options);
  const events = new EventServiceClient(config.server, creds, options);
  const leases = new LeaseServiceClient(config.server, creds, options);
  const uploads = new UploadServiceClient(config.server, creds, options);
  const gc = new GarbageCollectionServiceClient(config.server, creds, options);
  return {
    server: config.server,
    metadata,
    tokens,
    namespaces,
    events,
    leases,
    uploads,
    gc,
    close: () => {
      metadata.close();
      tokens.close();
      namespaces.close();
      events.close();
      leases.close();
      uploads.close();
      gc.close();
    },
  };
}

/**
 * `--server` overrides EPOCH_SERVER and `--namespace` EPOCH_NAMESPACE; the token is only read
 * from EPOCH_TOKEN (flags show up in `ps`).
 */
export function addServerOption(command: Command): Command {
  return command
    .option("--server <host:port>", "server to call (EPOCH_SERVER, default: the EPOCH_LISTEN address)")
    .option("--namespace <name>", "namespace to act in (EPOCH_NAMESPACE, default: default)");
}

export function clientConfigFrom(opts: { server?: string; namespace?: string }): ClientConfig {
  return loadClientConfig(process.env, { EPOCH_SERVER: opts.server, EPOCH_NAMESPACE: opts.namespace });
}

function isServiceError(e: unknown): e is ServiceError {
  return e instanceof Error && typeof (e as Partial<ServiceError>).code === "number" && "metadata" in e;
}

/** One line for a failed command: the message, never a stack; gRPC errors in words (call-error.ts). */
export function describeError(e: unknown): string {
  if (isServiceError(e)) return describeCallError(e, dialled);
  if (isEpochError(e) || e instanceof Error) return firstLine(e.message);
  return firstLine(String(e));
}

const firstLine = (text: string) => text.split("\n")[0]!.trim();
