/**
 * The namespace a call acts in (DESIGN §8.1), resolved once per call from the request metadata
 * key `epoch-namespace` (absent = `default`) by a grpc-js server interceptor that runs before
 * authentication, so the token check knows the namespace. Handlers read it with
 * `namespaceOf(call.metadata)`: like the caller, it is kept in a WeakMap keyed by the call's
 * metadata object, so nothing downstream re-reads or re-validates the header.
 *
 * Unknown → NOT_FOUND NAMESPACE_NOT_FOUND; a bad name → INVALID_ARGUMENT INVALID_NAME, both
 * before any handler or token lookup. A cached namespace is resolved synchronously (the
 * ValidateToken hot path pays no promise for it).
 */
import { ServerInterceptingCall, type Metadata, type ServerInterceptor } from "@grpc/grpc-js";
import { logger } from "../logger.js";
import { DEFAULT_NAMESPACE } from "../services/namespaces/namespace-name.js";
import type { NamespaceContext, NamespaceResolver } from "../services/namespaces/namespace-resolver.js";
import { toStatus } from "./status-map.js";

export type { NamespaceContext };

/** The request metadata key naming the namespace; the CLI sets it from --namespace / EPOCH_NAMESPACE. */
export const NAMESPACE_METADATA = "epoch-namespace";

/** Methods outside every namespace: probes must answer while the database is down. */
const UNSCOPED_PREFIXES = ["/grpc.health.v1.Health/", "/grpc.reflection."];
/** NamespaceService names its namespaces in the request; its caller acts as `default` (system admin). */
const NAMESPACE_SERVICE_PREFIX = "/epoch.v1.NamespaceService/";

const namespaces = new WeakMap<Metadata, NamespaceContext>();

/** The namespace resolved for this call; undefined when the server runs without namespaces (component tests). */
export function namespaceOf(metadata: Metadata | undefined): NamespaceContext | undefined {
  return metadata ? namespaces.get(metadata) : undefined;
}

/** The header's value: the first one, trimmed; absent or empty = `default`. */
export function requestedNamespace(metadata: Metadata): string {
  const [value] = metadata.get(NAMESPACE_METADATA);
  const name = typeof value === "string" ? value.trim() : "";
  return name === "" ? DEFAULT_NAMESPACE : name;
}

export function namespaceInterceptor(resolver: NamespaceResolver): ServerInterceptor {
  return (method, call) => {
    if (UNSCOPED_PREFIXES.some((prefix) => method.path.startsWith(prefix))) return new ServerInterceptingCall(call);
    const admin = method.path.startsWith(NAMESPACE_SERVICE_PREFIX);
    const intercepting: ServerInterceptingCall = new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, proceed) => {
            const name = admin ? DEFAULT_NAMESPACE : requestedNamespace(metadata);
            const hit = resolver.peek(name);
            if (hit) {
              namespaces.set(metadata, hit);
              proceed(metadata);
              return;
            }
            resolver.resolve(name).then(
              (namespace) => {
                namespaces.set(metadata, namespace);
                proceed(metadata);
              },
              (e: unknown) => {
                logger.debug({ method: method.path, namespace: name, reason: (e as Error).message }, "call refused");
                intercepting.sendStatus(toStatus(e, method.path));
              },
            );
          },
        }),
    });
    return intercepting;
  };
}
