/**
 * Counts and times every call the server runs (epoch_grpc_requests_total and
 * epoch_grpc_request_duration_seconds, src/metrics/registry.ts), as a grpc-js server interceptor
 * so no handler has to remember it and refusals made by other interceptors are counted too.
 *
 * It must be the first interceptor in the server's list: grpc-js wraps them in order, so the
 * first sits next to the transport and every status — the handler's, or one an interceptor
 * after it sends (authentication refusals) — passes through it on the way out.
 */
import { ServerInterceptingCall, status, type ServerInterceptor } from "@grpc/grpc-js";

export interface RpcObserver {
  /** One call ended: its method path ("/epoch.v1.TokenService/ValidateToken"), status code and duration. */
  rpcFinished(path: string, code: status, seconds: number): void;
}

/**
 * A client whose deadline passes cancels the call itself, and its cancel reaches us just before
 * our copy of the deadline (sent as a relative timeout, so it counts from the request's arrival
 * here): a cancel this close to the deadline is counted as DEADLINE_EXCEEDED, as the client saw it.
 */
const DEADLINE_SLACK_MS = 100;

export function metricsInterceptor(observer: RpcObserver): ServerInterceptor {
  return (method, call) => {
    const startedAt = performance.now();
    let finished = false;
    const finish = (code: status) => {
      if (finished) return;
      finished = true;
      observer.rpcFinished(method.path, code, (performance.now() - startedAt) / 1000);
    };
    return new ServerInterceptingCall(call, {
      // grpc-js reports every call's end as a cancel, also after its status was sent, so this
      // only counts calls that ended without a status from above: the client went away, or the
      // deadline passed (then grpc-js answers DEADLINE_EXCEEDED itself, below the interceptors).
      start: (next) =>
        next({
          onCancel: () => {
            // Infinity (no deadline) gives an invalid Date, whose NaN compares false.
            const deadline = new Date(call.getDeadline()).getTime();
            finish(Date.now() >= deadline - DEADLINE_SLACK_MS ? status.DEADLINE_EXCEEDED : status.CANCELLED);
          },
        }),
      sendStatus: (sent, next) => {
        finish(sent.code);
        next(sent);
      },
    });
  };
}
