/**
 * A request that cannot be decoded answers INVALID_ARGUMENT (reason INVALID_ARGUMENT, with both
 * trailers and a log line), never INTERNAL. Decoding fails on bytes that are not protobuf, and on
 * a valid `uint64`/`int64` at or above 2^53, which the generated code (`forceLong=number`) refuses
 * to turn into a number.
 *
 * grpc-js runs a method's `requestDeserialize` itself and answers a throw with INTERNAL "Error
 * deserializing request" before any interceptor or handler sees the call. So the deserializer is
 * wrapped to return an `UndecodableRequest` marker instead of throwing, and the handler is wrapped
 * to answer the marker. On the happy path this costs a try block and an `instanceof`: no
 * allocation (ValidateToken's hot path stays as it was).
 */
import {
  type handleServerStreamingCall,
  type handleUnaryCall,
  type MethodDefinition,
  type sendUnaryData,
  type Server,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  type UntypedHandleCall,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { invalidArgument } from "../errors.js";
import { logger } from "../logger.js";
import { toStatus } from "./status-map.js";

/** What a guarded deserializer returns for bytes it could not decode. */
export class UndecodableRequest {
  constructor(readonly error: unknown) {}
}

/**
 * `server.addService`, with every unary and server-streaming method guarded. Methods that
 * stream requests (none of ours) are registered as they are: their messages arrive as events
 * that a wrapper could not hold back from the handler.
 */
export function addGuardedService(
  server: Server,
  definition: ServiceDefinition,
  implementation: UntypedServiceImplementation,
): void {
  const guardedDefinition: Record<string, MethodDefinition<unknown, unknown>> = {};
  const guardedImplementation: UntypedServiceImplementation = { ...implementation };
  for (const [name, method] of Object.entries(definition)) {
    const handler = implementation[name];
    if (method.requestStream || handler === undefined) {
      guardedDefinition[name] = method;
      continue;
    }
    guardedDefinition[name] = { ...method, requestDeserialize: guardDeserializer(method.requestDeserialize) };
    guardedImplementation[name] = method.responseStream
      ? guardServerStream(handler as handleServerStreamingCall<unknown, unknown>)
      : guardUnary(handler as handleUnaryCall<unknown, unknown>);
  }
  server.addService(guardedDefinition, guardedImplementation);
}

function guardDeserializer(deserialize: (bytes: Buffer) => unknown): (bytes: Buffer) => unknown {
  return (bytes) => {
    try {
      return deserialize(bytes);
    } catch (e) {
      return new UndecodableRequest(e);
    }
  };
}

function guardUnary(handler: handleUnaryCall<unknown, unknown>): UntypedHandleCall {
  return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
    if (call.request instanceof UndecodableRequest) callback(refusal(call, call.request));
    else handler(call, callback);
  };
}

function guardServerStream(handler: handleServerStreamingCall<unknown, unknown>): UntypedHandleCall {
  return (call: ServerWritableStream<unknown, unknown>) => {
    if (call.request instanceof UndecodableRequest) call.emit("error", refusal(call, call.request));
    else handler(call);
  };
}

function refusal(
  call: ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>,
  request: UndecodableRequest,
) {
  const cause = request.error instanceof Error ? request.error.message : String(request.error);
  const tooLarge = /MAX_SAFE_INTEGER|MIN_SAFE_INTEGER/.test(cause);
  const method = call.getPath();
  logger.warn({ method, peer: call.getPeer(), cause }, "request could not be decoded");
  const message = tooLarge
    ? "the request holds an integer at or beyond ±2^53, which this API does not accept"
    : `the request is not a valid protobuf message for ${method}`;
  return toStatus(invalidArgument(message, "INVALID_ARGUMENT"), method);
}
