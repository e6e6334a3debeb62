/**
 * ValidateToken's hot path in the gRPC adapter: a cached hit is answered synchronously from an
 * encoding kept beside the cached record's answer. These tests pin what that must not change:
 * the bytes are exactly what encoding the response object gives, expiry/scope/repository are
 * decided on every call, and a dropped record's answers (and bytes) are never served again.
 */
import { status, type sendUnaryData, type ServerUnaryCall, type ServiceError } from "@grpc/grpc-js";
import {
  TokenInvalidReason,
  TokenServiceService,
  ValidateTokenResponse,
  type ValidateTokenRequest,
} from "epoch-meta-client/epoch/v1/token_service";
import { describe, expect, it } from "vitest";
import type { TokenRow } from "../../../../src/db/entities/index.js";
import type { TokenStore } from "../../../../src/db/tokens/token-store.js";
import { tokenServiceDefinition, tokenServiceServer } from "../../../../src/grpc/token-service.js";
import { configureLogger } from "../../../../src/logger.js";
import { generateSecret, hashSecret } from "../../../../src/services/tokens/token-secret.js";
import { TokenService } from "../../../../src/services/tokens/token-service.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

const T0 = Date.UTC(2026, 0, 2, 3, 4, 5, 678);

/** An in-memory stand-in for the token table: rows by hash, a generation, counted reads. */
function fakeStore() {
  const rows = new Map<string, TokenRow>();
  const state = { generation: 0, finds: 0 };
  const store = {
    readGeneration: () => Promise.resolve(state.generation),
    findByHash: (hash: string) => {
      state.finds++;
      const row = rows.get(hash);
      return Promise.resolve(row ? { ...row, repositories: [...row.repositories] } : null);
    },
    recordLastUsed: (times: ReadonlyMap<number, Date>) => Promise.resolve(times.size > 0 ? 1 : 0),
  };
  return { store: store as unknown as TokenStore, rows, state };
}

function row(secret: string, over: Partial<TokenRow> = {}): TokenRow {
  return {
    id: 7,
    namespaceId: 1,
    name: "ci – ünïcode",
    tokenHash: hashSecret(secret),
    createdBy: "ops",
    createdAt: new Date(T0),
    lastUsed: new Date(T0 + 1_000),
    expiresAt: new Date(T0 + 60_000),
    scopes: "pull,push",
    repositories: ["team/*", "base"],
    ...over,
  };
}

async function setup() {
  const { store, rows, state } = fakeStore();
  const clock = { t: T0 };
  const tokens = new TokenService(store, {
    cacheSize: 10,
    cacheTtlMs: 300_000,
    negativeCacheSize: 10,
    staleMaxMs: 60_000,
    pollIntervalMs: 500,
    lastUsedFlushIntervalMs: 60_000,
    now: () => clock.t,
  });
  await tokens.refresh();
  const handler = tokenServiceServer(tokens).validateToken;
  const serialize = tokenServiceDefinition.validateToken.responseSerialize;

  /** Calls the handler as grpc-js does; `sync` tells whether it answered before returning. */
  async function call(request: ValidateTokenRequest) {
    let sync = false;
    let returned = false;
    const answer = await new Promise<{ error: ServiceError | null; response?: ValidateTokenResponse }>((resolve) => {
      const callback: sendUnaryData<ValidateTokenResponse> = (error, response) => {
        sync = !returned;
        resolve({ error: error as ServiceError | null, ...(response ? { response } : {}) });
      };
      const fakeCall = { request, getPath: () => TokenServiceService.validateToken.path } as unknown as ServerUnaryCall<
        ValidateTokenRequest,
        ValidateTokenResponse
      >;
      handler(fakeCall, callback);
      returned = true;
    });
    return { ...answer, sync };
  }

  /** The bytes the registered serializer sends, and what plain encoding of an equal object gives. */
  function wire(response: ValidateTokenResponse) {
    const sent = serialize(response);
    const copy: ValidateTokenResponse = { ...response, ...(response.token && { token: { ...response.token } }) };
    const fresh = Buffer.from(ValidateTokenResponse.encode(copy).finish());
    return { sent, fresh };
  }

  return { tokens, rows, state, clock, call, wire };
}

describe("ValidateToken answers", () => {
  it("a cached hit is answered synchronously with the bytes encoding gives, for every kind of answer", async () => {
    const { rows, state, clock, call, wire } = await setup();
    const secret = generateSecret();
    rows.set(hashSecret(secret), row(secret));

    const first = await call({ secret, repository: "team/app", action: "pull" });
    expect(first.error).toBeNull();
    expect(first.sync).toBe(false); // the miss went to the store
    expect(state.finds).toBe(1);

    const cases: Array<[ValidateTokenRequest, boolean, TokenInvalidReason]> = [
      [{ secret, repository: "team/app", action: "pull" }, true, TokenInvalidReason.TOKEN_INVALID_REASON_UNSPECIFIED],
      [{ secret, repository: "base", action: "push" }, true, TokenInvalidReason.TOKEN_INVALID_REASON_UNSPECIFIED],
      [{ secret, repository: "", action: "" }, true, TokenInvalidReason.TOKEN_INVALID_REASON_UNSPECIFIED],
      [
        { secret, repository: "team/app", action: "delete" },
        false,
        TokenInvalidReason.TOKEN_INVALID_REASON_SCOPE_DENIED,
      ],
      [
        { secret, repository: "other/app", action: "pull" },
        false,
        TokenInvalidReason.TOKEN_INVALID_REASON_SCOPE_DENIED,
      ],
      [
        { secret: `${secret.slice(0, -1)}!`, repository: "", action: "pull" },
        false,
        TokenInvalidReason.TOKEN_INVALID_REASON_MALFORMED,
      ],
    ];
    for (const [request, valid, reason] of cases) {
      for (let i = 0; i < 2; i++) {
        const { error, response, sync } = await call(request);
        expect(error).toBeNull();
        expect(sync).toBe(true);
        expect(response).toMatchObject({ valid, reason });
        const { sent, fresh } = wire(response!);
        expect(sent.equals(fresh)).toBe(true);
        expect(ValidateTokenResponse.decode(sent)).toEqual(ValidateTokenResponse.decode(fresh));
        if (reason !== TokenInvalidReason.TOKEN_INVALID_REASON_MALFORMED) {
          expect(ValidateTokenResponse.decode(sent).token).toEqual({
            id: 7,
            name: "ci – ünïcode",
            createdBy: "ops",
            createTime: new Date(T0),
            lastUsedTime: new Date(T0 + 1_000),
            expireTime: new Date(T0 + 60_000),
            scopes: ["pull", "push"],
            repositories: ["team/*", "base"],
          });
        }
      }
    }
    expect(state.finds).toBe(1);

    // Expiry is checked on every call: the record stays cached, the answer turns EXPIRED at once.
    clock.t = T0 + 60_000;
    const expired = await call({ secret, repository: "team/app", action: "pull" });
    expect(expired.sync).toBe(true);
    expect(expired.response).toMatchObject({ valid: false, reason: TokenInvalidReason.TOKEN_INVALID_REASON_EXPIRED });
    const { sent, fresh } = wire(expired.response!);
    expect(sent.equals(fresh)).toBe(true);
    expect(state.finds).toBe(1);
  });

  it("unknown secrets are encoded like any response, and a negative-cache hit answers synchronously", async () => {
    const { state, call, wire } = await setup();
    const secret = generateSecret();
    const miss = await call({ secret, repository: "", action: "pull" });
    expect(miss.sync).toBe(false);
    const hit = await call({ secret, repository: "", action: "pull" });
    expect(hit.sync).toBe(true);
    for (const { response } of [miss, hit]) {
      expect(response).toEqual({
        valid: false,
        token: undefined,
        reason: TokenInvalidReason.TOKEN_INVALID_REASON_UNKNOWN_TOKEN,
      });
      const { sent, fresh } = wire(response!);
      expect(sent.equals(fresh)).toBe(true);
    }
    expect(state.finds).toBe(1);
  });

  it("a dropped record's answers are never served again: a reload answers from the new row", async () => {
    const { tokens, rows, state, call, wire } = await setup();
    const secret = generateSecret();
    rows.set(hashSecret(secret), row(secret));
    const before = (await call({ secret, repository: "team/app", action: "pull" })).response!;
    expect(before.token?.scopes).toEqual(["pull", "push"]);

    // The row changes (here: its scopes and last use) and the generation moves: the cache drops.
    rows.set(hashSecret(secret), row(secret, { scopes: "push", lastUsed: new Date(T0 + 5_000) }));
    state.generation++;
    await tokens.refresh();

    const after = await call({ secret, repository: "team/app", action: "pull" });
    expect(after.sync).toBe(false);
    expect(state.finds).toBe(2);
    expect(after.response).toMatchObject({
      valid: false,
      reason: TokenInvalidReason.TOKEN_INVALID_REASON_SCOPE_DENIED,
    });
    expect(after.response?.token?.scopes).toEqual(["push"]);
    expect(after.response?.token?.lastUsedTime).toEqual(new Date(T0 + 5_000));
    const { sent, fresh } = wire(after.response!);
    expect(sent.equals(fresh)).toBe(true);
    expect(sent.equals(wire(before).sent)).toBe(false);

    // Revoked: the row is gone and the generation moves; the next call is UNKNOWN_TOKEN.
    rows.clear();
    state.generation++;
    await tokens.refresh();
    const revoked = await call({ secret, repository: "team/app", action: "push" });
    expect(revoked.response).toEqual({
      valid: false,
      token: undefined,
      reason: TokenInvalidReason.TOKEN_INVALID_REASON_UNKNOWN_TOKEN,
    });
  });

  it("a bad action or repository is INVALID_ARGUMENT through the callback, cached or not", async () => {
    const { rows, call } = await setup();
    const secret = generateSecret();
    rows.set(hashSecret(secret), row(secret));
    await call({ secret, repository: "", action: "" });
    for (const request of [
      { secret, repository: "team/app", action: "admin" },
      { secret, repository: "Team/App", action: "pull" },
    ]) {
      const { error, response } = await call(request);
      expect(error?.code).toBe(status.INVALID_ARGUMENT);
      expect(response).toBeUndefined();
    }
  });

  it("any other response object is encoded as the plain definition encodes it", () => {
    const serialize = tokenServiceDefinition.validateToken.responseSerialize;
    const response: ValidateTokenResponse = {
      valid: true,
      token: {
        id: 1,
        name: "x",
        createdBy: "",
        createTime: new Date(T0),
        lastUsedTime: undefined,
        expireTime: undefined,
        scopes: ["pull"],
        repositories: [],
      },
      reason: TokenInvalidReason.TOKEN_INVALID_REASON_UNSPECIFIED,
    };
    expect(serialize(response).equals(TokenServiceService.validateToken.responseSerialize(response))).toBe(true);
    expect(serialize(ValidateTokenResponse.fromPartial({})).length).toBe(0);
  });
});
