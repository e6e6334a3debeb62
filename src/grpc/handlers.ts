/**
 * Adapters that let service code be plain async functions (nice-grpc style): they receive the
 * request and a CallContext, return the response (or send stream messages), and throw domain
 * errors; status codes and the reason trailer are added here via status-map.
 */
import {
  Metadata,
  status,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  type UntypedHandleCall,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { callerOf, type Caller } from "./auth.js";
import { errorStatus, toStatus } from "./status-map.js";
import { namespaceOf, type NamespaceContext } from "./namespace-context.js";

export interface CallContext {
  /** Aborted when the caller cancels, its deadline passes, or the server force-closes the call. */
  signal: AbortSignal;
  /** The authenticated caller; undefined when the server runs without authentication. */
  caller: Caller | undefined;
  /** The namespace the call acts in (grpc/namespace-context.ts); undefined when the server runs without namespaces. */
  namespace: NamespaceContext | undefined;
  /** The caller's address, e.g. "ipv4:127.0.0.1:53412". */
  peer: string;
  metadata: Metadata;
}

type AnyCall = ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>;

/**
 * The call's context. Its AbortSignal is made only when a handler asks for it: grpc-js emits
 * "cancelled" when every call's stream closes, even after a response, and an eager
 * AbortController would then build a DOMException (with a stack) per call on the hot path.
 * `done()` detaches the listener once the handler has answered.
 */
function contextOf(call: AnyCall): { ctx: CallContext; done(): void } {
  let controller: AbortController | undefined;
  let cancelled = call.cancelled;
  const onCancelled = () => {
    cancelled = true;
    controller?.abort();
  };
  call.once("cancelled", onCancelled);
  const ctx: CallContext = {
    get signal() {
      if (!controller) {
        controller = new AbortController();
        if (cancelled) controller.abort();
      }
      return controller.signal;
    },
    caller: callerOf(call.metadata),
    namespace: namespaceOf(call.metadata),
    // Formatted only when asked for (logs, errors): not on every call of the hot path.
    get peer() {
      return call.getPeer();
    },
    metadata: call.metadata,
  };
  return { ctx, done: () => call.removeListener("cancelled", onCancelled) };
}

export function unary<Req, Res>(fn: (request: Req, ctx: CallContext) => Promise<Res>): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const { ctx, done } = contextOf(call as AnyCall);
    // Through a promise, so a synchronous throw is mapped like a rejection.
    new Promise<Res>((resolve) => resolve(fn(call.request, ctx))).then(
      (response) => {
        done();
        callback(null, response);
      },
      (e: unknown) => {
        done();
        callback(toStatus(e, call.getPath()));
      },
    );
  };
}

/**
 * For handlers that need no CallContext and can often answer at once (ValidateToken's cached
 * hit): `fn` returns the response or a promise of it. A plain value is sent synchronously — no
 * promise, no listener, no context — as an empty handler would; a throw or a rejection is mapped
 * as in `unary`.
 */
export function unaryNow<Req, Res>(
  fn: (request: Req, namespace: NamespaceContext | undefined) => Res | Promise<Res>,
): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    let response: Res | Promise<Res>;
    try {
      response = fn(call.request, namespaceOf(call.metadata));
    } catch (e) {
      callback(toStatus(e, call.getPath()));
      return;
    }
    if (response instanceof Promise) {
      response.then(
        (r: Res) => callback(null, r),
        (e: unknown) => callback(toStatus(e, call.getPath())),
      );
    } else {
      callback(null, response);
    }
  };
}

/** Sends one stream message, resolving when grpc-js can take more (backpressure) or rejecting if the call ended. */
export type Send<Res> = (message: Res) => Promise<void>;

export function serverStream<Req, Res>(
  fn: (request: Req, send: Send<Res>, ctx: CallContext) => Promise<void>,
): handleServerStreamingCall<Req, Res> {
  return (call) => {
    const { ctx, done } = contextOf(call as AnyCall);
    const send: Send<Res> = (message) => {
      if (ctx.signal.aborted || call.writableEnded)
        return Promise.reject(new DOMException("call cancelled", "AbortError"));
      // Resolved at once while grpc-js's buffer has room (a replay of a million events is not a
      // million round trips through the transport's callback); otherwise on 'drain', or rejected
      // when the call goes away first.
      if (call.write(message)) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const settle = (error?: Error) => {
          call.off("drain", drained);
          call.off("error", failed);
          ctx.signal.removeEventListener("abort", cancelled);
          if (error) reject(error);
          else resolve();
        };
        const drained = () => settle();
        const failed = (e: Error) => settle(e);
        const cancelled = () => settle(new DOMException("call cancelled", "AbortError"));
        call.on("drain", drained);
        call.on("error", failed);
        ctx.signal.addEventListener("abort", cancelled, { once: true });
      });
    };
    new Promise<void>((resolve) => resolve(fn(call.request, send, ctx))).then(
      () => {
        done();
        if (!call.writableEnded) call.end();
      },
      (e: unknown) => {
        const wasCancelled = ctx.signal.aborted;
        done();
        if (!call.writableEnded && !wasCancelled) call.emit("error", toStatus(e, call.getPath()));
      },
    );
  };
}

/**
 * Handlers for every method of a service that answer UNIMPLEMENTED with reason UNIMPLEMENTED —
 * for capabilities not built yet (never fake data). `only` limits it to some methods, so a
 * partly built service can spread its real handlers over the result.
 */
export function unimplementedService(
  definition: ServiceDefinition,
  only?: readonly string[],
): UntypedServiceImplementation {
  const handlers: UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(definition)) {
    if (only && !only.includes(name)) continue;
    const statusObject = () =>
      errorStatus(status.UNIMPLEMENTED, `${method.path} is not implemented yet`, "UNIMPLEMENTED");
    // Unary and client-streaming calls answer through a callback, streaming responses through "error".
    const handler: handleUnaryCall<unknown, unknown> | handleServerStreamingCall<unknown, unknown> =
      method.responseStream
        ? (call: ServerWritableStream<unknown, unknown>) => call.emit("error", statusObject())
        : (_call: unknown, callback: sendUnaryData<unknown>) => callback(statusObject());
    handlers[name] = handler as UntypedHandleCall;
  }
  return handlers;
}
