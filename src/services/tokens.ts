/**
 * The token service's domain (DESIGN §2, §5): create, list, delete, validate and cache
 * invalidation, plus the `TokenLookup` that API authentication asks. Knows nothing of gRPC.
 *
 * ValidateToken: format check → SHA-256 → cache (token-cache.ts) → one indexed SELECT on a
 * miss; expiry, scopes and repository globs are checked against the cached record, so an
 * expired token is refused at once even while cached; last_used goes to an in-memory recorder.
 */
import type { TokenSettings } from "../config.js";
import { invalidArgument, isEpochError, notFound, unavailable } from "../errors.js";
import { logger } from "../logger.js";
import { assertRepositoryName } from "../oci/names.js";
import type { TokenRow } from "../db/entities/index.js";
import type { TokenStore } from "../db/token-store.js";
import { LastUsedRecorder } from "./last-used-recorder.js";
import { coversRepository, grantsAction, parseAction, parseStoredScopes, type Scope } from "./scopes.js";
import { TokenCache, type TokenCachePoint, type TokenCacheStats } from "./token-cache.js";
import { pageSize } from "./list-options.js";
import { decodeTokenPageToken, encodeTokenPageToken, validateCreateInput, type CreateTokenInput } from "./token-input.js";
import type { TokenLookup, TokenRecord } from "./token-lookup.js";
import { generateSecret, hashSecret, secretKind } from "./token-secret.js";

export type { CreateTokenInput } from "./token-input.js";

/** A token as callers see it: never its secret or hash. */
export interface Token {
  id: number;
  name: string;
  createdBy: string;
  createTime: Date;
  lastUsedTime: Date | undefined;
  expireTime: Date | undefined;
  scopes: Scope[];
  repositories: string[];
}

export type InvalidReason = "UNKNOWN_TOKEN" | "EXPIRED" | "MALFORMED" | "SCOPE_DENIED";

export interface Validation {
  valid: boolean;
  /** Present whenever the secret belongs to a token (also when expired or denied). */
  token?: Token;
  reason?: InvalidReason;
}

export interface TokenServiceOptions extends TokenSettings {
  /** Milliseconds clock (tests); defaults to Date.now. */
  now?: () => number;
  /** Test-only pause points of a cache miss. */
  pausePoint?: (point: TokenCachePoint) => Promise<void>;
}

/** What the cache holds per token: the view plus the expiry as a number for the hot path. */
interface TokenEntry {
  token: Token;
  expiresAtMs: number;
}

function toToken(row: TokenRow): Token {
  return {
    id: row.id,
    name: row.name,
    createdBy: row.createdBy,
    createTime: row.createdAt,
    lastUsedTime: row.lastUsed ?? undefined,
    expireTime: row.expiresAt ?? undefined,
    scopes: parseStoredScopes(row.scopes),
    repositories: row.repositories,
  };
}

/** Creates a token and returns it with its secret (shown once). Also used offline by the CLI. */
export async function createToken(store: TokenStore, input: CreateTokenInput, now = Date.now()): Promise<{ token: Token; secret: string }> {
  const valid = validateCreateInput(input);
  const secret = generateSecret();
  const row = await store.insert({
    name: valid.name,
    createdBy: valid.createdBy,
    tokenHash: hashSecret(secret),
    createdAt: new Date(now),
    expiresAt: valid.ttlMs > 0 ? new Date(now + valid.ttlMs) : null,
    scopes: valid.scopes.join(","),
    repositories: valid.repositories,
  });
  return { token: toToken(row), secret };
}

/** A failed read on the validation path means we cannot tell whether a secret is valid: retryable. */
function cannotTell(e: unknown): never {
  throw isEpochError(e) ? e : unavailable("the token database is unreachable", "DATABASE_UNAVAILABLE", { cause: e });
}

const MALFORMED: Validation = { valid: false, reason: "MALFORMED" };
const UNKNOWN: Validation = { valid: false, reason: "UNKNOWN_TOKEN" };

export class TokenService implements TokenLookup {
  private readonly cache: TokenCache<TokenEntry>;
  private readonly recorder: LastUsedRecorder;
  private readonly now: () => number;

  constructor(
    private readonly store: TokenStore,
    options: TokenServiceOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.cache = new TokenCache<TokenEntry>(
      {
        readGeneration: () => store.readGeneration().catch(cannotTell),
        find: async (hash) => {
          const row = await store.findByHash(hash).catch(cannotTell);
          return row && { token: toToken(row), expiresAtMs: row.expiresAt?.getTime() ?? Infinity };
        },
      },
      {
        size: options.cacheSize,
        ttlMs: options.cacheTtlMs,
        negativeSize: options.negativeCacheSize,
        staleMaxMs: options.staleMaxMs,
        pollIntervalMs: options.pollIntervalMs,
        now: this.now,
        ...(options.pausePoint && { pausePoint: options.pausePoint }),
        onPollStateChange: (ok, e) => {
          if (ok) logger.info("token generation poll recovered");
          else logger.warn({ err: e }, "token generation poll failed: cached tokens are served until EPOCH_TOKEN_STALE_MAX, then refused");
        },
      },
    );
    this.recorder = new LastUsedRecorder(store, {
      flushIntervalMs: options.lastUsedFlushIntervalMs,
      now: this.now,
      onFlushError: (e) => logger.warn({ err: e }, "writing token last_used failed; will retry"),
    });
  }

  /** Starts the generation poller and the last_used flush timer. */
  async start(): Promise<void> {
    this.recorder.start();
    await this.cache.start();
  }

  /** Stops the timers and writes the pending last_used times (shutdown). */
  async stop(): Promise<void> {
    await this.cache.stop();
    await this.recorder.stop();
  }

  create(input: CreateTokenInput): Promise<{ token: Token; secret: string }> {
    return createToken(this.store, input, this.now());
  }

  async list(request: { pageSize: number; pageToken: string }): Promise<{ tokens: Token[]; nextPageToken: string }> {
    const limit = pageSize(request.pageSize);
    const after = decodeTokenPageToken(request.pageToken);
    const { rows, more } = await this.store.listAfter(after, limit);
    const tokens = rows.map((row) => {
      const token = toToken(row);
      // This replica's unflushed use is newer than the row's.
      const pending = this.recorder.pendingFor(token.id);
      if (pending && (!token.lastUsedTime || pending > token.lastUsedTime)) token.lastUsedTime = pending;
      return token;
    });
    const last = rows[rows.length - 1];
    return { tokens, nextPageToken: more && last ? encodeTokenPageToken(last.id) : "" };
  }

  /** Revokes a token: the row goes, then the generation moves (one transaction). */
  async delete(id: number): Promise<void> {
    if (!Number.isSafeInteger(id) || id < 0) throw invalidArgument("id must be a token id");
    const generation = await this.store.deleteAndBump(id);
    if (generation === null) throw notFound(`token ${id} not found`, "TOKEN_NOT_FOUND");
    // This replica drops its cache now; the others when their next poll sees the new value.
    this.cache.observe(generation);
  }

  /** Drops the caches of every replica (they follow the generation within one poll). */
  async invalidateCache(): Promise<void> {
    this.cache.observe(await this.store.bumpGeneration());
  }

  /** The hot path. An invalid secret is a normal answer; a bad action or repository is not. */
  async validate(request: { secret: string; repository: string; action: string }): Promise<Validation> {
    const action = parseAction(request.action);
    if (request.repository !== "") assertRepositoryName(request.repository);
    const entry = await this.entryFor(request.secret);
    if (entry === "malformed") return MALFORMED;
    if (entry === null) return UNKNOWN;
    const { token } = entry;
    const now = this.now();
    if (now >= entry.expiresAtMs) return { valid: false, token, reason: "EXPIRED" };
    if (!grantsAction(token.scopes, action) || (request.repository !== "" && !coversRepository(token.repositories, request.repository))) {
      return { valid: false, token, reason: "SCOPE_DENIED" };
    }
    this.recorder.record(token.id, now);
    return { valid: true, token };
  }

  /** TokenLookup for API authentication: the token, or null when unknown, malformed or expired. */
  async lookup(secret: string): Promise<TokenRecord | null> {
    const entry = await this.entryFor(secret);
    if (entry === "malformed" || entry === null) return null;
    const now = this.now();
    if (now >= entry.expiresAtMs) return null;
    this.recorder.record(entry.token.id, now);
    return entry.token;
  }

  /** Reads the generation now, as the poller does every interval. */
  refresh(): Promise<void> {
    return this.cache.poll();
  }

  /** Writes pending last_used times now (the timer does it every few seconds). */
  flushLastUsed(): Promise<void> {
    return this.recorder.flush();
  }

  cacheStats(): TokenCacheStats {
    return this.cache.stats();
  }

  /** The syntactic check runs first, so junk never costs a hash, a cache slot or a query. */
  private entryFor(secret: string): Promise<TokenEntry | null> | "malformed" {
    if (secretKind(secret) === null) return "malformed";
    return this.cache.get(hashSecret(secret));
  }
}
