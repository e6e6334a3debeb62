/** The TokenService adapter: decode, call the domain service, encode. No logic lives here. */
import type { Duration } from "epoch-meta-client/google/protobuf/duration";
import {
  TokenInvalidReason,
  type Token as TokenMessage,
  type TokenServiceServer,
  type ValidateTokenResponse,
} from "epoch-meta-client/epoch/v1/token_service";
import type { InvalidReason, Token, TokenService, Validation } from "../services/tokens.js";
import { unary } from "./handlers.js";

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

export function tokenServiceServer(tokens: TokenService): TokenServiceServer {
  return {
    createToken: unary(async (req) => {
      const { token, secret } = await tokens.create({
        name: req.name,
        createdBy: req.createdBy,
        scopes: req.scopes,
        repositories: req.repositories,
        ttlMs: durationMs(req.ttl),
      });
      return { token: toTokenMessage(token), secret };
    }),
    listTokens: unary(async (req) => {
      const page = await tokens.list({ pageSize: req.pageSize, pageToken: req.pageToken });
      return { tokens: page.tokens.map(toTokenMessage), nextPageToken: page.nextPageToken };
    }),
    deleteToken: unary(async (req) => {
      await tokens.delete(req.id);
      return {};
    }),
    // The hot path: one cached lookup, no database work on a hit (see services/token-cache.ts).
    validateToken: unary(async (req) => toValidateResponse(await tokens.validate(req))),
    invalidateTokenCache: unary(async () => {
      await tokens.invalidateCache();
      return {};
    }),
  };
}
