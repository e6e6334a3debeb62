/** The TokenService adapter: decode, call the domain service, encode. No logic lives here. */
import type { Duration } from "epoch-meta-client/google/protobuf/duration";
import {
  TokenInvalidReason,
  TokenServiceService,
  type Token as TokenMessage,
  type TokenServiceServer,
  type ValidateTokenResponse,
} from "epoch-meta-client/epoch/v1/token_service";
import type { InvalidReason, Token, TokenService, Validation } from "../services/tokens/token-service.js";
import { unary, unaryNow } from "./handlers.js";

const INVALID_REASON: Record<InvalidReason, TokenInvalidReason> = {
  UNKNOWN_TOKEN: TokenInvalidReason.TOKEN_INVALID_REASON_UNKNOWN_TOKEN,
  EXPIRED: TokenInvalidReason.TOKEN_INVALID_REASON_EXPIRED,
  MALFORMED: TokenInvalidReason.TOKEN_INVALID_REASON_MALFORMED,
  SCOPE_DENIED: TokenInvalidReason.TOKEN_INVALID_REASON_SCOPE_DENIED,
};

export function toTokenMessage(t: Token): TokenMessage {
  return {
    id: t.id,
    name: t.name,
    createdBy: t.createdBy,
    createTime: t.createTime,
    lastUsedTime: t.lastUsedTime,
    expireTime: t.expireTime,
    scopes: t.scopes,
    repositories: t.repositories,
  };
}

/** Unset = 0 = no expiry; a negative duration stays negative so the service refuses it. */
function durationMs(d: Duration | undefined): number {
  return d ? d.seconds * 1000 + d.nanos / 1e6 : 0;
}

function toValidateResponse(v: Validation): ValidateTokenResponse {
  return {
    valid: v.valid,
    token: v.token && toTokenMessage(v.token),
    reason: v.reason ? INVALID_REASON[v.reason] : TokenInvalidReason.TOKEN_INVALID_REASON_UNSPECIFIED,
  };
}

const encodeValidateResponse = TokenServiceService.validateToken.responseSerialize;

/**
 * ValidateToken's hot path answers from bytes encoded once. The token service returns shared,
 * frozen answers (one set per cached token record, plus the constant MALFORMED/UNKNOWN ones), so
 * each answer is turned into a response message and encoded once, and both are kept beside it in
 * WeakMaps: they go away with the answer, i.e. when the token's cache entry is dropped (expiry,
 * eviction, revocation), and a later record of the same token gets fresh ones. Expiry, scope and
 * repository are still decided by the service on every call; only the encoding is reused.
 */
const responses = new WeakMap<Validation, ValidateTokenResponse>();
const encodings = new WeakMap<ValidateTokenResponse, Buffer>();

function responseFor(v: Validation): ValidateTokenResponse {
  let response = responses.get(v);
  if (response === undefined) {
    response = toValidateResponse(v);
    if (response.token) Object.freeze(response.token);
    Object.freeze(response);
    encodings.set(response, encodeValidateResponse(response));
    responses.set(v, response);
  }
  return response;
}

/**
 * The TokenService definition to register: TokenServiceService, except that ValidateToken's
 * response serializer sends the kept encoding of a shared answer instead of encoding it again
 * (byte for byte what encoding it gives; any other response is encoded as usual). Registered with
 * the plain TokenServiceService, the handlers still answer correctly, only slower.
 */
export const tokenServiceDefinition: typeof TokenServiceService = {
  ...TokenServiceService,
  validateToken: {
    ...TokenServiceService.validateToken,
    responseSerialize: (value: ValidateTokenResponse): Buffer => encodings.get(value) ?? encodeValidateResponse(value),
  },
};

export function tokenServiceServer(tokens: TokenService): TokenServiceServer {
  return {
    createToken: unary(async (req, ctx) => {
      const input = {
        name: req.name,
        createdBy: req.createdBy,
        scopes: req.scopes,
        repositories: req.repositories,
        ttlMs: durationMs(req.ttl),
      };
      const { token, secret } = await tokens.create(input, ctx.caller, ctx.namespace?.id);
      return { token: toTokenMessage(token), secret };
    }),
    listTokens: unary(async (req, ctx) => {
      const page = await tokens.list(
        { pageSize: req.pageSize, pageToken: req.pageToken },
        ctx.namespace?.id,
        ctx.caller,
      );
      return { tokens: page.tokens.map(toTokenMessage), nextPageToken: page.nextPageToken };
    }),
    deleteToken: unary(async (req, ctx) => {
      await tokens.delete(req.id, ctx.namespace?.id, ctx.caller);
      return {};
    }),
    // The hot path: a cached hit is answered synchronously from bytes encoded once (see above
    // and services/tokens/token-cache.ts): no promise, no database work, no encoding.
    validateToken: unaryNow((req, namespace) => {
      const answer = tokens.validateNow(req, namespace?.id);
      return answer instanceof Promise ? answer.then(responseFor) : responseFor(answer);
    }),
    invalidateTokenCache: unary(async () => {
      await tokens.invalidateCache();
      return {};
    }),
  };
}
