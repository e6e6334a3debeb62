/**
 * The metrics interceptor on a bare grpc-js server with a real client: one observation per call
 * with the status the client saw, also for calls that end without a status from the handler
 * (the client cancels, the deadline passes), and it is exactly one even though grpc-js reports
 * every call's end as a cancel.
 */
import {
  Client,
  credentials,
  Metadata,
  Server,
  ServerCredentials,
  status,
  type ServiceError,
  type sendUnaryData,
} from "@grpc/grpc-js";
import { TokenServiceService, ValidateTokenResponse } from "epoch-meta-client/epoch/v1/token_service";
import { afterEach, beforeEach, expect, it } from "vitest";
import { metricsInterceptor, type RpcObserver } from "../../src/grpc/metrics-interceptor.js";

const VALIDATE = TokenServiceService.validateToken;
const ANSWER = "/test.Calls/Answer";
const FAIL = "/test.Calls/Fail";
const HANG = "/test.Calls/Hang";

let server: Server;
let client: Client;
let seen: Array<{ path: string; code: string; seconds: number }>;
let arrived: () => void;
let hangArrived: Promise<void>;
const hanging: Array<sendUnaryData<ValidateTokenResponse>> = [];

beforeEach(async () => {
  seen = [];
  const observer: RpcObserver = {
    rpcFinished: (path, code, seconds) => seen.push({ path, code: status[code], seconds }),
  };
  server = new Server({ interceptors: [metricsInterceptor(observer)] });
  const method = (path: string) => ({ ...VALIDATE, path, originalName: path.split("/")[2]! });
  server.addService(
    { answer: method(ANSWER), fail: method(FAIL), hang: method(HANG) },
    {
      answer: (_call: unknown, cb: sendUnaryData<ValidateTokenResponse>) =>
        cb(null, ValidateTokenResponse.fromPartial({})),
      fail: (_call: unknown, cb: sendUnaryData<ValidateTokenResponse>) =>
        cb({ code: status.FAILED_PRECONDITION, details: "no" }),
      hang: (_call: unknown, cb: sendUnaryData<ValidateTokenResponse>) => {
        hanging.push(cb);
        arrived();
      },
    },
  );
  hangArrived = new Promise((resolve) => (arrived = resolve));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
});

afterEach(() => {
  client.close();
  server.forceShutdown();
  hanging.length = 0;
});

function unary(path: string, deadlineMs?: number) {
  let cancel!: () => void;
  const done = new Promise<ServiceError | null>((resolve) => {
    const call = client.makeUnaryRequest(
      path,
      VALIDATE.requestSerialize,
      VALIDATE.responseDeserialize,
      { secret: "", repository: "", action: "" },
      new Metadata(),
      deadlineMs === undefined ? {} : { deadline: Date.now() + deadlineMs },
      (e: ServiceError | null) => resolve(e),
    );
    cancel = () => call.cancel();
  });
  return { done, cancel: () => cancel() };
}

it("observes each call once, with the handler's status", async () => {
  expect(await unary(ANSWER).done).toBeNull();
  expect((await unary(FAIL).done)?.code).toBe(status.FAILED_PRECONDITION);
  await expect.poll(() => seen.length).toBe(2);
  expect(seen.map((s) => [s.path, s.code])).toEqual([
    [ANSWER, "OK"],
    [FAIL, "FAILED_PRECONDITION"],
  ]);
  expect(seen.every((s) => s.seconds >= 0 && s.seconds < 60)).toBe(true);
  // The end-of-call cancel grpc-js reports after every status adds nothing.
  await new Promise((resolve) => setImmediate(resolve));
  expect(seen).toHaveLength(2);
});

it("records CANCELLED when the client goes away before an answer", async () => {
  const pending = unary(HANG);
  await hangArrived;
  pending.cancel();
  expect((await pending.done)?.code).toBe(status.CANCELLED);
  await expect.poll(() => seen.map((s) => [s.path, s.code])).toEqual([[HANG, "CANCELLED"]]);
  // A late answer from the handler is dropped by grpc-js and not counted again.
  hanging[0]!(null, ValidateTokenResponse.fromPartial({}));
  await new Promise((resolve) => setImmediate(resolve));
  expect(seen).toHaveLength(1);
});

it("records DEADLINE_EXCEEDED when the deadline passes before an answer", async () => {
  const pending = unary(HANG, 200);
  await hangArrived;
  expect((await pending.done)?.code).toBe(status.DEADLINE_EXCEEDED);
  await expect.poll(() => seen.map((s) => [s.path, s.code])).toEqual([[HANG, "DEADLINE_EXCEEDED"]]);
});
