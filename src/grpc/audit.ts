/**
 * The audit trail: one structured line (`"audit": true`) for every call of an audited method
 * and for every refused credential (UNAUTHENTICATED, PERMISSION_DENIED) on any method, saying
 * who (token id and name, or "anonymous"), from where (peer), what (method, target), and how it
 * ended (status code name, error reason, message). Never a secret or its hash: lines are built
 * from picked fields only, never from metadata or whole messages.
 *
 * A grpc-js server interceptor, registered before the authentication interceptor so it sits
 * next to the transport: it sees the request first (and keeps a reference to its metadata, on
 * which authentication records the caller) and every status last, refusals included.
 */
import {
  ServerInterceptingCall,
  status,
  type Metadata,
  type ServerInterceptor,
  type StatusObject,
} from "@grpc/grpc-js";
import type {
  CancelSyncRequest,
  DeleteTagRequest,
  IndexTagRequest,
  SyncFromCatalogRequest,
  SyncFromCatalogResponse,
  UpdateRepositoryRequest,
  UpdateTagRequest,
} from "epoch-meta-client/epoch/v1/metadata_service";
import type {
  CreateTokenRequest,
  CreateTokenResponse,
  DeleteTokenRequest,
} from "epoch-meta-client/epoch/v1/token_service";
import type {
  CreateNamespaceRequest,
  DeleteNamespaceRequest,
  UpdateNamespaceRequest,
} from "epoch-meta-client/epoch/v1/namespace_service";
import { logger } from "../logger.js";
import { callerOf } from "./auth.js";
import { NAMESPACE_METADATA } from "./namespace-context.js";
import { REASON_TRAILER } from "./status-map.js";

/** How to name what an audited call acts on, from its request and its first response (if any). */
export interface AuditRule<Req = never, Res = never> {
  target(request: Req | undefined, response: Res | undefined): string;
  /** Extra fields worth keeping (a sync's run id and flags); never a secret. */
  details?(request: Req | undefined, response: Res | undefined): Record<string, unknown>;
}

const rule = <Req, Res = unknown>(r: AuditRule<Req, Res>) => r as unknown as AuditRule<unknown, unknown>;

const tagTarget = rule<IndexTagRequest | DeleteTagRequest>({
  target: (req) => `${req?.repository ?? "?"}:${req?.tag ?? "?"}`,
});

/** Label updates name the keys they touch (the mask), not the values. */
const maskDetails = (req: { updateMask?: string[] | undefined } | undefined) => ({
  updateMask: req?.updateMask ?? [],
});

/**
 * The mutating methods, one line each. A new RPC that changes state (namespaces, leases, GC) is
 * audited by adding its path here.
 */
export const AUDITED_METHODS: Readonly<Record<string, AuditRule<unknown, unknown>>> = {
  "/epoch.v1.TokenService/CreateToken": rule<CreateTokenRequest, CreateTokenResponse>({
    // The response also carries the new secret: only the id and name are read from it.
    target: (req, res) => (res?.token ? `token:${res.token.id}/${res.token.name}` : `token:new/${req?.name ?? "?"}`),
    details: (req) => ({ scopes: req?.scopes ?? [], repositories: req?.repositories ?? [] }),
  }),
  "/epoch.v1.TokenService/DeleteToken": rule<DeleteTokenRequest>({ target: (req) => `token:${req?.id ?? "?"}` }),
  "/epoch.v1.TokenService/InvalidateTokenCache": rule({ target: () => "token-cache" }),
  "/epoch.v1.MetadataService/IndexTag": tagTarget,
  "/epoch.v1.MetadataService/DeleteTag": tagTarget,
  "/epoch.v1.MetadataService/UpdateTag": rule<UpdateTagRequest>({
    target: (req) => `${req?.repository ?? "?"}:${req?.tag ?? "?"}`,
    details: maskDetails,
  }),
  "/epoch.v1.MetadataService/UpdateRepository": rule<UpdateRepositoryRequest>({
    target: (req) => `repository:${req?.name ?? "?"}`,
    details: maskDetails,
  }),
  "/epoch.v1.MetadataService/SyncFromCatalog": rule<SyncFromCatalogRequest, SyncFromCatalogResponse>({
    target: (_req, res) => (res?.event?.$case === "started" ? `sync-run:${res.event.started.runId}` : "catalog"),
    details: (req, res) => ({
      full: req?.full ?? false,
      dryRun: req?.dryRun ?? false,
      allowMassRemoval: req?.allowMassRemoval ?? false,
      ...(res?.event?.$case === "started" && { joined: res.event.started.joined }),
    }),
  }),
  "/epoch.v1.MetadataService/CancelSync": rule<CancelSyncRequest>({ target: (req) => `sync-run:${req?.runId ?? "?"}` }),
  "/epoch.v1.NamespaceService/CreateNamespace": rule<CreateNamespaceRequest>({
    target: (req) => `namespace:${req?.name ?? "?"}`,
  }),
  "/epoch.v1.NamespaceService/UpdateNamespace": rule<UpdateNamespaceRequest>({
    target: (req) => `namespace:${req?.name ?? "?"}`,
  }),
  "/epoch.v1.NamespaceService/DeleteNamespace": rule<DeleteNamespaceRequest>({
    target: (req) => `namespace:${req?.name ?? "?"}`,
  }),
};

/** What a call ended with (grpc-js's PartialStatusObject, which it does not export). */
type CallEnd = Pick<StatusObject, "code" | "details"> & { metadata?: Metadata | null };

const REFUSALS: ReadonlySet<status> = new Set([status.UNAUTHENTICATED, status.PERMISSION_DENIED]);

/** Open methods can refuse nobody and change nothing. */
const UNAUDITED_PREFIXES = ["/grpc.health.v1.Health/"];

export interface AuditOptions {
  /** The audited methods (default AUDITED_METHODS). */
  methods?: Readonly<Record<string, AuditRule<unknown, unknown>>>;
  /**
   * Whether calls are authenticated. Without authentication no credential is refused, so calls
   * of methods that are not audited pass through untouched (ValidateToken's hot path).
   */
  authenticating: boolean;
}

export function auditInterceptor(options: AuditOptions): ServerInterceptor {
  const methods = options.methods ?? AUDITED_METHODS;
  return (method, call) => {
    const rule = methods[method.path];
    if ((!rule && !options.authenticating) || UNAUDITED_PREFIXES.some((p) => method.path.startsWith(p)))
      return new ServerInterceptingCall(call);
    let metadata: Metadata | undefined;
    let request: unknown;
    let response: unknown;
    let logged = false;
    const log = (end: CallEnd) => {
      if (logged) return;
      logged = true;
      if (!rule && !REFUSALS.has(end.code)) return;
      writeLine(method.path, rule, { metadata, request, response, peer: call.getPeer(), end });
    };
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (md, proceed) => {
            metadata = md;
            proceed(md);
          },
          onReceiveMessage: (message, proceed) => {
            request ??= message;
            proceed(message);
          },
          // The stream closed without a status from any handler: the caller went away first.
          onCancel: () => log({ code: status.CANCELLED, details: "the caller cancelled the call" }),
        }),
      sendMessage: (message, proceed) => {
        response ??= message;
        proceed(message);
      },
      sendStatus: (end, proceed) => {
        log(end);
        proceed(end);
      },
    });
  };
}

interface CallRecord {
  metadata: Metadata | undefined;
  request: unknown;
  response: unknown;
  peer: string;
  end: CallEnd;
}

function writeLine(path: string, rule: AuditRule<unknown, unknown> | undefined, c: CallRecord): void {
  const caller = c.metadata && callerOf(c.metadata);
  const [reason] = c.end.metadata?.get(REASON_TRAILER) ?? [];
  const failed = c.end.code !== status.OK;
  const [namespace] = c.metadata?.get(NAMESPACE_METADATA) ?? [];
  const line = {
    audit: true,
    method: path,
    // The namespace the call acted in (absent header = default).
    namespace: namespace === undefined ? "default" : String(namespace),
    caller: caller ? `token:${caller.id}/${caller.name}` : "anonymous",
    peer: c.peer,
    ...(rule && { target: rule.target(c.request, c.response) }),
    ...rule?.details?.(c.request, c.response),
    outcome: status[c.end.code] ?? String(c.end.code),
    ...(reason !== undefined && { reason: String(reason).replace(/^ERROR_REASON_/, "") }),
    ...(failed && c.end.details && { message: c.end.details }),
  };
  if (REFUSALS.has(c.end.code)) logger.warn(line, "credential refused");
  else logger.info(line, "audit");
}
