/**
 * Configuration: environment variables, overridden by command-line flags, validated once at
 * start into a typed object. Flags are passed as overrides keyed by the variable they replace,
 * so a value is validated (and named in an error) the same way whichever way it arrived.
 */
import { z } from "zod";

/** A bad configuration value. `message` is one line naming the variable and the problem. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

export type Env = Readonly<Record<string, string | undefined>>;
export type AuthMode = "auto" | "required" | "none";
export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

export interface ListenAddress {
  host: string;
  port: number;
  /** `host:port` as grpc-js binds it (IPv6 hosts in brackets). */
  address: string;
}

/** The token service's cache and last-used settings (TokenServiceOptions adds test seams). */
export interface TokenSettings {
  cacheSize: number;
  cacheTtlMs: number;
  negativeCacheSize: number;
  staleMaxMs: number;
  pollIntervalMs: number;
  lastUsedFlushIntervalMs: number;
}

export interface Config {
  databaseUrl: string;
  storageUrl: string;
  listen: ListenAddress;
  auth: { mode: AuthMode; allowOpen: boolean };
  tls?: { certFile: string; keyFile: string; clientCaFile?: string };
  sync: { intervalMs: number; fullIntervalMs: number; concurrency: number; leaseTtlMs: number };
  gc: GcSettings;
  tokens: TokenSettings;
  shutdownTimeoutMs: number;
  logLevel: LogLevel;
  /** EPOCH_METRICS_LISTEN: where /metrics, /healthz and /readyz are served; unset = off. */
  metricsListen?: ListenAddress;
  events: EventSettings;
  /** EPOCH_UPLOAD_TTL: the expiry of an upload started without a ttl (DESIGN §8.4). */
  uploads: { ttlMs: number };
}

/** Garbage collection (DESIGN §8.5): the server's schedule and the default grace period. */
export interface GcSettings {
  /** EPOCH_GC_INTERVAL: an online collection per namespace this often; 0 = the server never collects by itself. */
  intervalMs: number;
  /** EPOCH_GC_GRACE: how old a candidate must be (Last-Modified and unreferenced time) when a call names no grace period. */
  gracePeriodMs: number;
  /** EPOCH_GC_QUEUE_TRIGGER: collect sooner once more review-queue rows than this are due. */
  queueTrigger: number;
}

/** The event outbox's retention and sinks (DESIGN §8.6). */
export interface EventSettings {
  retentionMs: number;
  webhook?: { url: string; secret?: string };
  nats?: { url: string; subjectPrefix: string };
}

export interface ClientConfig {
  /** `host:port` of a running server. */
  server: string;
  token?: string;
  tlsCaFile?: string;
  /** EPOCH_NAMESPACE: sent as `epoch-namespace` on every call (absent = the server's `default`). */
  namespace?: string;
}

/** Flag values keyed by the environment variable they override (`--listen` → `EPOCH_LISTEN`). */
export type Overrides = Partial<Record<string, string | undefined>>;

const DURATION_UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;

/** Parses Go-style durations: "0", "500ms", "30s", "1h", "1h30m". */
export function parseDuration(text: string): number | undefined {
  if (text === "0") return 0;
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(text)) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(amount) * DURATION_UNIT_MS[unit as keyof typeof DURATION_UNIT_MS];
  }
  return Math.round(total);
}

const LOOPBACK_HOSTS = new Set(["localhost", "::1"]);

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_HOSTS.has(host) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export function parseListenAddress(text: string): ListenAddress | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65_535) return undefined;
  const v6 = m[1];
  const host = v6 ?? m[2]!;
  return { host, port, address: v6 ? `[${v6}]:${port}` : `${host}:${port}` };
}

// Each variable is one zod schema from its raw string to its typed value, so an error can name
// exactly one variable.
const duration = z.string().transform((text, ctx) => {
  const ms = parseDuration(text.trim());
  if (ms === undefined) {
    ctx.addIssue({ code: "custom", message: 'must be a duration such as "500ms", "30s", "1h" or "0"' });
    return z.NEVER;
  }
  return ms;
});
const positiveDuration = duration.refine((ms) => ms > 0, "must be a duration greater than 0");
const count = (min: number) =>
  z
    .string()
    .regex(/^\d+$/, `must be a whole number >= ${min}`)
    .transform(Number)
    .refine((n) => n >= min && Number.isSafeInteger(n), `must be a whole number >= ${min}`);
const boolean = z
  .string()
  .transform((text) => text.trim().toLowerCase())
  .pipe(z.enum(["true", "false", "1", "0", "yes", "no"], { error: "must be true or false" }))
  .transform((text) => text === "true" || text === "1" || text === "yes");
const nonEmpty = z.string().trim().min(1, "must not be empty");
const databaseUrl = nonEmpty.regex(
  /^(sqlite:|mysql:\/\/|mariadb:\/\/)/,
  "must start with sqlite:, mysql:// or mariadb://",
);
const storageUrl = nonEmpty.regex(/^(file:|s3:\/\/)/, "must start with file: or s3://");
const listenOn = (examplePort: number) =>
  z.string().transform((text, ctx) => {
    const parsed = parseListenAddress(text.trim());
    if (!parsed) {
      const message = `must be host:port, e.g. "127.0.0.1:${examplePort}" or "[::]:${examplePort}"`;
      ctx.addIssue({ code: "custom", message });
      return z.NEVER;
    }
    return parsed;
  });
const listen = listenOn(50051);
const httpUrl = nonEmpty.regex(/^https?:\/\//, "must be an http:// or https:// URL");
const natsUrl = nonEmpty.regex(
  /^(nats|tls):\/\/[^\s]+$/,
  "must be a nats:// or tls:// URL, e.g. nats://127.0.0.1:4222",
);

/**
 * The embedded default's registry root, beside its SQLite file (./data/epoch.db). The server
 * creates this one directory at start, as it creates the database file, so that `npm start` on a
 * fresh checkout serves an empty registry; a root the operator names must exist (DESIGN: a
 * missing root is a misconfiguration, not an empty registry).
 */
export const DEFAULT_STORAGE_URL = "file:./data/registry";

const VARIABLES = {
  EPOCH_DATABASE_URL: { schema: databaseUrl, default: "sqlite:./data/epoch.db", secret: true },
  EPOCH_STORAGE_URL: { schema: storageUrl, default: DEFAULT_STORAGE_URL, secret: true },
  EPOCH_LISTEN: { schema: listen, default: "127.0.0.1:50051" },
  // Off unless set: the metrics and probe endpoints are plain HTTP without authentication.
  EPOCH_METRICS_LISTEN: { schema: listenOn(9464).optional(), default: undefined },
  EPOCH_AUTH: {
    schema: z.enum(["auto", "required", "none"], { error: "must be auto, required or none" }),
    default: "auto",
  },
  EPOCH_AUTH_ALLOW_OPEN: { schema: boolean, default: "false" },
  EPOCH_TLS_CERT: { schema: nonEmpty.optional(), default: undefined },
  EPOCH_TLS_KEY: { schema: nonEmpty.optional(), default: undefined },
  EPOCH_TLS_CLIENT_CA: { schema: nonEmpty.optional(), default: undefined },
  EPOCH_SYNC_INTERVAL: { schema: duration, default: "30s" },
  EPOCH_FULL_SYNC_INTERVAL: { schema: duration, default: "1h" },
  EPOCH_SYNC_CONCURRENCY: { schema: count(1), default: "16" },
  EPOCH_SYNC_LEASE_TTL: { schema: positiveDuration, default: "30s" },
  EPOCH_GC_INTERVAL: { schema: duration, default: "1h" },
  EPOCH_GC_GRACE: { schema: duration, default: "24h" },
  EPOCH_GC_QUEUE_TRIGGER: { schema: count(1), default: "10000" },
  EPOCH_TOKEN_CACHE_SIZE: { schema: count(1), default: "10000" },
  EPOCH_TOKEN_CACHE_TTL: { schema: positiveDuration, default: "5m" },
  EPOCH_TOKEN_NEGATIVE_CACHE_SIZE: { schema: count(0), default: "1000" },
  EPOCH_TOKEN_STALE_MAX: { schema: duration, default: "60s" },
  // Revocation must reach every replica within 1 s, so the poll may not be slower than 500 ms.
  EPOCH_TOKEN_POLL_INTERVAL: {
    schema: positiveDuration.refine(
      (ms) => ms <= 500,
      "must be at most 500ms (revocation reaches every replica within 1 s)",
    ),
    default: "500ms",
  },
  EPOCH_LAST_USED_FLUSH_INTERVAL: { schema: positiveDuration, default: "5s" },
  EPOCH_SHUTDOWN_TIMEOUT: { schema: duration, default: "10s" },
  EPOCH_EVENTS_RETENTION: { schema: positiveDuration, default: "168h" },
  EPOCH_UPLOAD_TTL: {
    schema: positiveDuration.refine((ms) => ms <= 10 * 365.25 * 24 * 3_600_000, "must be at most 10 years"),
    default: "24h",
  },
  EPOCH_EVENTS_WEBHOOK_URL: { schema: httpUrl.optional(), default: undefined, secret: true },
  EPOCH_EVENTS_WEBHOOK_SECRET: { schema: nonEmpty.optional(), default: undefined, secret: true },
  EPOCH_EVENTS_NATS_URL: { schema: natsUrl.optional(), default: undefined, secret: true },
  // Subjects are "<prefix>.<namespace>.<topic with dots>" (DESIGN: prefix "epoch").
  EPOCH_EVENTS_NATS_SUBJECT_PREFIX: {
    schema: nonEmpty.regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, "must be NATS subject tokens joined by dots"),
    default: "epoch",
  },
  EPOCH_LOG_LEVEL: {
    schema: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"], {
      error: "must be one of fatal, error, warn, info, debug, trace, silent",
    }),
    default: "info",
  },
} satisfies Record<string, { schema: z.ZodType; default: string | undefined; secret?: boolean }>;

type Variables = typeof VARIABLES;
type Parsed = { [K in keyof Variables]: z.output<Variables[K]["schema"]> };

function raw(env: Env, overrides: Overrides, name: string): string | undefined {
  const value = overrides[name] ?? env[name];
  // An exported-but-empty variable means "not set", as in most twelve-factor services.
  return value === undefined || value === "" ? undefined : value;
}

function parseVariable<K extends keyof Variables>(name: K, env: Env, overrides: Overrides): Parsed[K] {
  const spec: { schema: z.ZodType; default: string | undefined; secret?: boolean } = VARIABLES[name];
  const value = raw(env, overrides, name) ?? spec.default;
  const result = spec.schema.safeParse(value);
  if (!result.success) {
    const problem = result.error.issues[0]?.message ?? "is invalid";
    const shown = spec.secret || value === undefined ? "" : ` (got ${JSON.stringify(value)})`;
    throw new ConfigError(`${name} ${problem}${shown}`);
  }
  return result.data as Parsed[K];
}

const CLIENT_VARIABLES = ["EPOCH_SERVER", "EPOCH_TOKEN", "EPOCH_TLS_CA", "EPOCH_NAMESPACE"];

/** EPOCH_* variables this program does not read — usually typos worth a warning (test-only EPOCH_TEST_* aside). */
export function unknownVariables(env: Env = process.env): string[] {
  return Object.keys(env).filter(
    (name) =>
      name.startsWith("EPOCH_") &&
      !name.startsWith("EPOCH_TEST_") &&
      !(name in VARIABLES) &&
      !CLIENT_VARIABLES.includes(name),
  );
}

/** Builds the server configuration. Throws ConfigError on the first bad value. */
export function loadConfig(env: Env = process.env, overrides: Overrides = {}): Config {
  const get = <K extends keyof Variables>(name: K) => parseVariable(name, env, overrides);
  const listenAddress = get("EPOCH_LISTEN");
  const auth = { mode: get("EPOCH_AUTH"), allowOpen: get("EPOCH_AUTH_ALLOW_OPEN") };
  if (auth.mode === "none" && !isLoopbackHost(listenAddress.host) && !auth.allowOpen) {
    throw new ConfigError(
      `EPOCH_AUTH=none is refused on the non-loopback address ${listenAddress.address}; set EPOCH_AUTH_ALLOW_OPEN=true to serve without authentication`,
    );
  }
  const metricsListen = get("EPOCH_METRICS_LISTEN");
  return {
    databaseUrl: get("EPOCH_DATABASE_URL"),
    storageUrl: get("EPOCH_STORAGE_URL"),
    listen: listenAddress,
    auth,
    tls: tlsConfig(get("EPOCH_TLS_CERT"), get("EPOCH_TLS_KEY"), get("EPOCH_TLS_CLIENT_CA")),
    sync: {
      intervalMs: get("EPOCH_SYNC_INTERVAL"),
      fullIntervalMs: get("EPOCH_FULL_SYNC_INTERVAL"),
      concurrency: get("EPOCH_SYNC_CONCURRENCY"),
      leaseTtlMs: get("EPOCH_SYNC_LEASE_TTL"),
    },
    gc: {
      intervalMs: get("EPOCH_GC_INTERVAL"),
      gracePeriodMs: get("EPOCH_GC_GRACE"),
      queueTrigger: get("EPOCH_GC_QUEUE_TRIGGER"),
    },
    tokens: {
      cacheSize: get("EPOCH_TOKEN_CACHE_SIZE"),
      cacheTtlMs: get("EPOCH_TOKEN_CACHE_TTL"),
      negativeCacheSize: get("EPOCH_TOKEN_NEGATIVE_CACHE_SIZE"),
      staleMaxMs: get("EPOCH_TOKEN_STALE_MAX"),
      pollIntervalMs: get("EPOCH_TOKEN_POLL_INTERVAL"),
      lastUsedFlushIntervalMs: get("EPOCH_LAST_USED_FLUSH_INTERVAL"),
    },
    shutdownTimeoutMs: get("EPOCH_SHUTDOWN_TIMEOUT"),
    logLevel: get("EPOCH_LOG_LEVEL"),
    ...(metricsListen && { metricsListen }),
    events: eventSettings(get),
    uploads: { ttlMs: get("EPOCH_UPLOAD_TTL") },
  };
}

function eventSettings(get: <K extends keyof Variables>(name: K) => Parsed[K]): EventSettings {
  const webhookUrl = get("EPOCH_EVENTS_WEBHOOK_URL");
  const webhookSecret = get("EPOCH_EVENTS_WEBHOOK_SECRET");
  if (webhookSecret !== undefined && webhookUrl === undefined)
    throw new ConfigError("EPOCH_EVENTS_WEBHOOK_SECRET needs EPOCH_EVENTS_WEBHOOK_URL");
  const natsUrl = get("EPOCH_EVENTS_NATS_URL");
  return {
    retentionMs: get("EPOCH_EVENTS_RETENTION"),
    ...(webhookUrl !== undefined && {
      webhook: { url: webhookUrl, ...(webhookSecret !== undefined && { secret: webhookSecret }) },
    }),
    ...(natsUrl !== undefined && {
      nats: { url: natsUrl, subjectPrefix: get("EPOCH_EVENTS_NATS_SUBJECT_PREFIX") },
    }),
  };
}

function tlsConfig(certFile?: string, keyFile?: string, clientCaFile?: string): Config["tls"] {
  if (certFile === undefined && keyFile === undefined) {
    if (clientCaFile !== undefined) throw new ConfigError("EPOCH_TLS_CLIENT_CA needs EPOCH_TLS_CERT and EPOCH_TLS_KEY");
    return undefined;
  }
  if (certFile === undefined) throw new ConfigError("EPOCH_TLS_CERT must be set when EPOCH_TLS_KEY is");
  if (keyFile === undefined) throw new ConfigError("EPOCH_TLS_KEY must be set when EPOCH_TLS_CERT is");
  return { certFile, keyFile, ...(clientCaFile !== undefined && { clientCaFile }) };
}

/**
 * Configuration of the client commands. `EPOCH_SERVER` defaults to the `EPOCH_LISTEN` address
 * (a wildcard listen address is reached through loopback).
 */
export function loadClientConfig(env: Env = process.env, overrides: Overrides = {}): ClientConfig {
  const explicit = raw(env, overrides, "EPOCH_SERVER");
  let server: string;
  if (explicit !== undefined) {
    const parsed = parseListenAddress(explicit.trim());
    if (!parsed)
      throw new ConfigError(`EPOCH_SERVER must be host:port, e.g. "127.0.0.1:50051" (got ${JSON.stringify(explicit)})`);
    server = parsed.address;
  } else {
    const { host, port } = parseVariable("EPOCH_LISTEN", env, overrides);
    const reachable =
      host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "[::1]" : host.includes(":") ? `[${host}]` : host;
    server = `${reachable}:${port}`;
  }
  const token = raw(env, overrides, "EPOCH_TOKEN")?.trim();
  const tlsCaFile = raw(env, overrides, "EPOCH_TLS_CA")?.trim();
  // The server validates the name (INVALID_ARGUMENT INVALID_NAME), so one rule lives in one place.
  const namespace = raw(env, overrides, "EPOCH_NAMESPACE")?.trim();
  return { server, ...(token && { token }), ...(tlsCaFile && { tlsCaFile }), ...(namespace && { namespace }) };
}
