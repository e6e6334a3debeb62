/**
 * Starts the real server (createApp: database, migrations, auth, health, reflection) on
 * 127.0.0.1:0 and returns generated clients for it, plus small helpers for health, reflection
 * and bearer metadata. Close it with `stop()` in afterEach/afterAll.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import {
  credentials,
  loadPackageDefinition,
  makeClientConstructor,
  Metadata,
  type ChannelCredentials,
  type Client,
  type ClientDuplexStream,
  type ClientReadableStream,
  type ServiceError,
} from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { EventServiceClient } from "epoch-meta-client/epoch/v1/event_service";
import { GarbageCollectionServiceClient } from "epoch-meta-client/epoch/v1/gc_service";
import { MetadataServiceClient } from "epoch-meta-client/epoch/v1/metadata_service";
import { TokenServiceClient } from "epoch-meta-client/epoch/v1/token_service";
import { ErrorInfo } from "epoch-meta-client/google/rpc/error_details";
import { Status } from "epoch-meta-client/google/rpc/status";
import { service as healthService } from "grpc-health-check";
import { createApp, type App, type AppOptions } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import { REASON_TRAILER, STATUS_DETAILS_TRAILER } from "../../src/grpc/status-map.js";

export interface E2EOptions extends AppOptions {
  databaseUrl: string;
  storageUrl?: string;
  /** Extra EPOCH_* variables (EPOCH_AUTH, EPOCH_LISTEN, EPOCH_TLS_CERT, …). */
  env?: Record<string, string>;
  /** Channel credentials for the returned clients (default: plaintext). */
  clientCredentials?: ChannelCredentials;
}

export interface E2EServer {
  address: string;
  port: number;
  app: App;
  metadata: MetadataServiceClient;
  tokens: TokenServiceClient;
  events: EventServiceClient;
  gc: GarbageCollectionServiceClient;
  health: HealthClient;
  /** Metadata carrying `authorization: Bearer <secret>` (and `epoch-namespace` when given). */
  callMetadata(secret?: string, namespace?: string): Metadata;
  /** Names the server lists through reflection (v1). */
  reflectionServices(metadata?: Metadata): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startE2EServer(options: E2EOptions): Promise<E2EServer> {
  const config = loadConfig({
    EPOCH_DATABASE_URL: options.databaseUrl,
    EPOCH_STORAGE_URL: options.storageUrl ?? "file:./data/registry",
    EPOCH_LISTEN: "127.0.0.1:0",
    EPOCH_SYNC_INTERVAL: "0",
    EPOCH_GC_INTERVAL: "0",
    EPOCH_SHUTDOWN_TIMEOUT: "5s",
    EPOCH_LOG_LEVEL: process.env.EPOCH_TEST_LOG_LEVEL ?? "silent",
    ...options.env,
  });
  const app = await createApp(config, options);
  const { port } = app.server;
  const address = `127.0.0.1:${port}`;
  const creds = options.clientCredentials ?? credentials.createInsecure();
  const clientOptions = { "grpc.ssl_target_name_override": "localhost" };
  const metadata = new MetadataServiceClient(address, creds, clientOptions);
  const tokens = new TokenServiceClient(address, creds, clientOptions);
  const events = new EventServiceClient(address, creds, clientOptions);
  const gc = new GarbageCollectionServiceClient(address, creds, clientOptions);
  const health = new HealthClient(address, creds, clientOptions);
  const reflection = reflectionClient(address, creds, clientOptions);
  return {
    address,
    port,
    app,
    metadata,
    tokens,
    events,
    gc,
    health,
    callMetadata,
    reflectionServices: (md) => listServices(reflection, md ?? new Metadata()),
    stop: async () => {
      for (const client of [metadata, tokens, events, gc, health.client, reflection]) client.close();
      await app.stop();
    },
  };
}

export function callMetadata(secret?: string, namespace?: string): Metadata {
  const md = new Metadata();
  if (secret !== undefined) md.set("authorization", `Bearer ${secret}`);
  if (namespace) md.set("epoch-namespace", namespace);
  return md;
}

/** Promise form of a callback-style unary call: `await call<Res>((cb) => client.getTag(req, md, cb))`. */
export function call<Res>(start: (callback: (e: ServiceError | null, res: Res) => void) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => {
    start((e, res) => (e ? reject(e) : resolve(res)));
  });
}

export interface CallFailure extends ServiceError {
  /** The `epoch-error-reason` trailer. */
  reason: string | undefined;
  /** The AIP-193 details (`grpc-status-details-bin`), decoded with the generated messages. */
  rpcStatus: { code: number; message: string; errorInfos: ErrorInfo[]; otherDetails: string[] } | undefined;
}

/** Awaits a rejected call and returns its error (fails when the call succeeded). */
export async function callError(promise: Promise<unknown>): Promise<CallFailure> {
  try {
    await promise;
  } catch (e) {
    const err = e as ServiceError;
    const [reason] = err.metadata?.get(REASON_TRAILER) ?? [];
    const [details] = err.metadata?.get(STATUS_DETAILS_TRAILER) ?? [];
    return Object.assign(err, {
      reason: reason === undefined ? undefined : String(reason),
      rpcStatus: details instanceof Buffer ? decodeRpcStatus(details) : undefined,
    });
  }
  throw new Error("expected the call to fail, but it succeeded");
}

export function decodeRpcStatus(bytes: Uint8Array): NonNullable<CallFailure["rpcStatus"]> {
  const s = Status.decode(bytes);
  const isErrorInfo = (typeUrl: string) => typeUrl === "type.googleapis.com/google.rpc.ErrorInfo";
  return {
    code: s.code,
    message: s.message,
    errorInfos: s.details.filter((d) => isErrorInfo(d.typeUrl)).map((d) => ErrorInfo.decode(d.value)),
    otherDetails: s.details.filter((d) => !isErrorInfo(d.typeUrl)).map((d) => d.typeUrl),
  };
}

/** Reads a server stream to its end (rejecting with the status error, if any). */
export function collect<T>(stream: ClientReadableStream<T>): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const items: T[] = [];
    stream.on("data", (item: T) => items.push(item));
    stream.on("error", reject);
    stream.on("end", () => resolve(items));
  });
}

type HealthStub = Client & {
  check(req: { service: string }, md: Metadata, cb: (e: ServiceError | null, res: { status: string }) => void): void;
  watch(req: { service: string }, md?: Metadata): ClientReadableStream<{ status: string }>;
};

export class HealthClient {
  readonly client: HealthStub;
  constructor(address: string, creds: ChannelCredentials, options: object = {}) {
    const Ctor = makeClientConstructor(healthService as never, "grpc.health.v1.Health");
    this.client = new Ctor(address, creds, options) as unknown as HealthStub;
  }
  /** The status name ("SERVING", "NOT_SERVING"), or rejects (NOT_FOUND for an unknown service). */
  async check(service: string, md = new Metadata()): Promise<string> {
    const res = await call<{ status: string }>((cb) => this.client.check({ service }, md, cb));
    return res.status;
  }
  watch(service: string): ClientReadableStream<{ status: string }> {
    return this.client.watch({ service }, new Metadata());
  }
}

type ReflectionStub = Client & {
  ServerReflectionInfo(
    md: Metadata,
  ): ClientDuplexStream<object, { list_services_response?: { service: { name: string }[] } }>;
};

function reflectionClient(address: string, creds: ChannelCredentials, options: object): ReflectionStub {
  const require = createRequire(import.meta.url);
  const protoRoot = join(dirname(require.resolve("@grpc/reflection/package.json")), "build/proto");
  const pkg = loadPackageDefinition(
    loadSync("grpc/reflection/v1/reflection.proto", { includeDirs: [protoRoot], keepCase: true }),
  );
  const Ctor = (
    pkg as unknown as { grpc: { reflection: { v1: { ServerReflection: new (...a: unknown[]) => ReflectionStub } } } }
  ).grpc.reflection.v1.ServerReflection;
  return new Ctor(address, creds, options);
}

/** Services listed by the reflection service at `address` (one short-lived client). */
export async function reflectionServicesAt(
  address: string,
  creds: ChannelCredentials,
  md = new Metadata(),
): Promise<string[]> {
  const client = reflectionClient(address, creds, {});
  try {
    return await listServices(client, md);
  } finally {
    client.close();
  }
}

function listServices(client: ReflectionStub, md: Metadata): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const stream = client.ServerReflectionInfo(md);
    stream.on("data", (res: { list_services_response?: { service: { name: string }[] } }) => {
      resolve((res.list_services_response?.service ?? []).map((s) => s.name));
      stream.end();
    });
    stream.on("error", reject);
    stream.write({ list_services: "*" });
  });
}
