/**
 * API authentication (DESIGN §2) as a grpc-js server interceptor, so it covers every method the
 * server exposes — ours, reflection, and any added later — without each handler remembering to.
 *
 * Callers send `authorization: Bearer <secret>`. The interceptor looks the secret up through
 * `TokenLookup`, checks the method's required scope, and only then lets the call reach its
 * handler. Handlers read the authenticated caller with `callerOf(call.metadata)`: the interceptor
 * records it in a WeakMap keyed by the call's metadata object (which grpc-js hands unchanged to
 * the handler), so a client cannot forge it with a header. It also removes the `authorization`
 * header, so the secret never travels further than this file.
 */
import { Metadata, ServerInterceptingCall, type ServerInterceptor } from "@grpc/grpc-js";
import { isLoopbackHost, type Config } from "../config.js";
import { permissionDenied, unauthenticated } from "../errors.js";
import { logger } from "../logger.js";
import { repositoryBound, UNBOUNDED, type RepositoryBound } from "../services/tokens/repository-bound.js";
import type { TokenLookup, TokenRecord } from "../services/tokens/token-lookup.js";
import { namespaceOf } from "./namespace-context.js";
import { toStatus } from "./status-map.js";

/**
 * What a method needs: nothing, a `service` (or `admin`) token, a `push`, `service` (or `admin`)
 * token, an `admin` token, or a system admin (an `admin` token of `default`: NamespaceService).
 */
export type Access = "open" | "service" | "push" | "admin" | "system";

const SYSTEM_PREFIXES = ["/epoch.v1.NamespaceService/"];

const OPEN_PREFIXES = ["/grpc.health.v1.Health/"];

const SERVICE_METHODS: ReadonlySet<string> = new Set([
  "/epoch.v1.TokenService/ValidateToken",
  "/epoch.v1.MetadataService/ListRepositories",
  "/epoch.v1.MetadataService/GetRepository",
  "/epoch.v1.MetadataService/ListTags",
  "/epoch.v1.MetadataService/GetTag",
  "/epoch.v1.MetadataService/ListBlobs",
  "/epoch.v1.MetadataService/GetBlob",
  "/epoch.v1.MetadataService/GetStats",
  "/epoch.v1.MetadataService/GetSyncStatus",
  "/epoch.v1.MetadataService/IndexTag",
  "/epoch.v1.MetadataService/DeleteTag",
  "/epoch.v1.MetadataService/UpdateRepository",
  "/epoch.v1.MetadataService/UpdateTag",
  // Event consumers (CI triggers, scanners, caches) read with a service token; all_namespaces
  // additionally needs a system admin (grpc/event-service.ts).
  "/epoch.v1.EventService/ListEvents",
  "/epoch.v1.EventService/WatchEvents",
  "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
  "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
]);

/**
 * A push (a front end, or a client with a `push` token) works through leases and uploads
 * (DESIGN §8.3, §8.4): its token must cover the upload's repository (services/uploads), and
 * a non-admin manages only the leases its token created (services/leases). Listing every lease
 * or upload is administration (`admin`).
 */
const PUSH_METHODS: ReadonlySet<string> = new Set([
  "/epoch.v1.LeaseService/CreateLease",
  "/epoch.v1.LeaseService/GetLease",
  "/epoch.v1.LeaseService/UpdateLease",
  "/epoch.v1.LeaseService/DeleteLease",
  "/epoch.v1.LeaseService/AddLeaseResource",
  "/epoch.v1.LeaseService/DeleteLeaseResource",
  "/epoch.v1.LeaseService/ListLeaseResources",
  "/epoch.v1.UploadService/StartUpload",
  "/epoch.v1.UploadService/GetUpload",
  "/epoch.v1.UploadService/CommitUpload",
  "/epoch.v1.UploadService/AbortUpload",
]);

/** Methods not listed (SyncFromCatalog, CancelSync, the token admin RPCs, anything new) need `admin`. */
export function requiredAccess(path: string): Access {
  if (OPEN_PREFIXES.some((prefix) => path.startsWith(prefix))) return "open";
  if (SYSTEM_PREFIXES.some((prefix) => path.startsWith(prefix))) return "system";
  if (SERVICE_METHODS.has(path)) return "service";
  return PUSH_METHODS.has(path) ? "push" : "admin";
}

export function allows(scopes: readonly string[], access: Access): boolean {
  if (access === "open" || scopes.includes("admin")) return true;
  if (access === "system") return false;
  if (access === "push") return scopes.includes("push") || scopes.includes("service");
  return access === "service" && scopes.includes("service");
}

const NEEDED: Record<"service" | "push" | "admin", string> = {
  service: "the service or admin scope",
  push: "the push, service or admin scope",
  admin: "the admin scope",
};

export type Caller = TokenRecord;

const callers = new WeakMap<Metadata, Caller>();

/** The repositories the caller's token may reach; unbounded when no token authenticated the call. */
export function boundOf(caller: Caller | undefined): RepositoryBound {
  return caller ? repositoryBound(caller.repositories) : UNBOUNDED;
}

/** The caller authenticated for this call; undefined when authentication is off (open server). */
export function callerOf(metadata: Metadata): Caller | undefined {
  return callers.get(metadata);
}

export function bearerSecret(metadata: Metadata): string | undefined {
  const [value] = metadata.get("authorization");
  if (typeof value !== "string") return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(value);
  return m?.[1];
}

/** The id of `default`, whose admin tokens are system admins; undefined without namespaces. */
export type SystemNamespace = () => number | undefined;

/**
 * A token authorises calls in its own namespace; an `admin` token of `default` (a system admin)
 * in every namespace, and it alone NamespaceService. A token of another namespace is refused as
 * an unknown one, so the call does not learn that it exists elsewhere.
 */
function belongs(token: TokenRecord, metadata: Metadata, access: Access, systemNamespace: SystemNamespace): boolean {
  const namespace = namespaceOf(metadata);
  if (namespace === undefined) return true;
  const systemAdmin = token.scopes.includes("admin") && token.namespaceId === systemNamespace();
  if (access === "system") return systemAdmin;
  return token.namespaceId === namespace.id || systemAdmin;
}

async function authenticate(
  metadata: Metadata,
  access: Access,
  tokens: TokenLookup,
  systemNamespace: SystemNamespace,
): Promise<Caller> {
  const secret = bearerSecret(metadata);
  if (secret === undefined) throw unauthenticated("missing credential: send 'authorization: Bearer <token>'");
  const token = await tokens.lookup(secret);
  if (token === null) throw unauthenticated("invalid credential");
  if (access === "system" && namespaceOf(metadata) !== undefined && !belongs(token, metadata, access, systemNamespace))
    throw permissionDenied("this method needs a system admin: an admin token of the default namespace");
  if (!belongs(token, metadata, access, systemNamespace)) throw unauthenticated("invalid credential");
  // Recorded before the scope check, so the audit line of a refusal names the token refused.
  callers.set(metadata, token);
  if (!allows(token.scopes, access)) {
    throw permissionDenied(`this method needs a token with ${NEEDED[access as keyof typeof NEEDED]}`);
  }
  return token;
}

export function authInterceptor(
  tokens: TokenLookup,
  systemNamespace: SystemNamespace = () => undefined,
): ServerInterceptor {
  return (method, call) => {
    const access = requiredAccess(method.path);
    if (access === "open") return new ServerInterceptingCall(call);
    const intercepting: ServerInterceptingCall = new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          // grpc-js holds back the request message and half-close until `proceed` is called,
          // so the handler never starts before the (async) lookup has succeeded.
          onReceiveMetadata: (metadata, proceed) => {
            authenticate(metadata, access, tokens, systemNamespace).then(
              (caller) => {
                callers.set(metadata, caller);
                metadata.remove("authorization");
                proceed(metadata);
              },
              (e: unknown) => {
                logger.debug(
                  { method: method.path, peer: call.getPeer(), reason: (e as Error).message },
                  "call refused",
                );
                intercepting.sendStatus(toStatus(e, method.path));
              },
            );
          },
        }),
    });
    return intercepting;
  };
}

/**
 * Whether calls must authenticate. `auto` serves openly only when bound to loopback; `none`
 * on a non-loopback address was already refused by the configuration unless explicitly allowed.
 */
export function authRequired(config: Pick<Config, "auth" | "listen">): boolean {
  const { mode } = config.auth;
  return mode === "required" || (mode === "auto" && !isLoopbackHost(config.listen.host));
}

/** Says at start when calls are not authenticated, so an open server is never a surprise. */
export function logAuthMode(config: Pick<Config, "auth" | "listen">, listen = config.listen.address): void {
  if (authRequired(config))
    logger.info({ listen, auth: config.auth.mode }, "calls must authenticate with a bearer token");
  else if (config.auth.mode === "none")
    logger.warn({ listen }, "EPOCH_AUTH=none: every method is open without a token");
  else
    logger.info(
      { listen },
      "EPOCH_AUTH=auto: listening on loopback only, so calls are not authenticated (set EPOCH_AUTH=required to enforce tokens)",
    );
}
