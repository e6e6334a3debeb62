/**
 * One human line for a failed call. Errors our server sends carry a reason and a message written
 * for people; those are printed as they are. Errors grpc-js makes up on the client side (no
 * server reached, deadline, a refused TLS handshake) carry its own diagnostic text instead, and
 * are said here in words, naming the server that was dialled and what to check.
 */
import { status, type ServiceError } from "@grpc/grpc-js";
import { REASON_TRAILER } from "../grpc/status-map.js";

const CONNECT_CAUSES: Array<[RegExp, string]> = [
  [/ECONNREFUSED/, "connection refused"],
  [/ENOTFOUND|EAI_AGAIN|Name resolution failed|DNS resolution failed/i, "host not found"],
  [/ETIMEDOUT|timed out/i, "connection timed out"],
  [/EHOSTUNREACH|ENETUNREACH/, "host unreachable"],
  [/ECONNRESET|Connection dropped|socket hang up/i, "the connection was reset"],
  [/certificate|SSL|TLS|handshake/i, "the TLS handshake failed (EPOCH_TLS_CA)"],
];

export function describeCallError(e: ServiceError, server: string | undefined): string {
  const [reason] = e.metadata?.get(REASON_TRAILER) ?? [];
  const details = firstLine(e.details || e.message);
  const code = status[e.code] ?? String(e.code);
  if (reason !== undefined) return `${code}: ${details} (${String(reason)})`;
  const at = server ? ` at ${server}` : "";
  switch (e.code) {
    case status.UNAVAILABLE: {
      const cause = CONNECT_CAUSES.find(([pattern]) => pattern.test(e.details ?? ""))?.[1] ?? "no connection";
      return `cannot reach the server${at} (${cause}): is \`epoch-meta serve\` running there? (EPOCH_SERVER or --server)`;
    }
    case status.DEADLINE_EXCEEDED:
      return `the server${at} did not answer in time`;
    case status.UNAUTHENTICATED:
      return `the server${at} refused the call: set EPOCH_TOKEN to a valid token (${details})`;
    case status.PERMISSION_DENIED:
      return `the server${at} refused the call: the token in EPOCH_TOKEN lacks the scope (${details})`;
    case status.UNIMPLEMENTED:
      return `the server${at} does not know this call: is it an older epoch-meta? (${details})`;
    case status.RESOURCE_EXHAUSTED:
      return `the message was too large for the server${at} (${details})`;
    case status.CANCELLED:
      return `the call was cancelled`;
    default:
      return `${code}: ${details}`;
  }
}

const firstLine = (text: string) => text.split("\n")[0]!.trim();
