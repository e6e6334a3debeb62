/**
 * The token service's domain (DESIGN §2, §5): create, list, delete, validate and cache
 * invalidation, plus the `TokenLookup` that API authentication asks. Knows nothing of gRPC.
 *
 * ValidateToken: format check → SHA-256 → cache (token-cache.ts) → one indexed SELECT on a
 * miss; expiry, scopes and repository globs are checked against the cached record on every
 * call, so an expired token is refused at once even while cached; last_used goes to an
 * in-memory recorder. A cached hit is answered synchronously (`validateNow`), and its answers
 * are objects built once per cached record, so the hot path allocates almost nothing and the
 * gRPC adapter can keep each answer's encoding beside it.
 */
import type { TokenSettings } from "../../config.js";
import { invalidArgument, isEpochError, notFound, permissionDenied, unavailable } from "../../errors.js";
import { logger } from "../../logger.js";
import { assertRepositoryName } from "../../oci/names.js";
import type { TokenRow } from "../../db/entities/index.js";
import type { TokenStore } from "../../db/tokens/token-store.js";
import { LastUsedRecorder } from "./last-used-recorder.js";
import { grantsAction, parseAction, parseStoredScopes, repositoryMatcher, type Action, type Scope } from "./scopes.js";
import { TokenCache, type TokenCachePoint, type TokenCacheStats } from "./token-cache.js";
import { pageSize } from "../queries/list-options.js";
import {
  decodeTokenPageToken,
  encodeTokenPageToken,
  validateCreateInput,
  type CreateTokenInput,
} from "./token-input.js";
import type { TokenLookup, TokenRecord } from "./token-lookup.js";
import { assertNotWider, issuedBy, reachesToken } from "./token-issuer.js";
import { generateSecret, hashSecret, secretKind } from "./token-secret.js";
import { tokenEvent } from "../events/event-topics.js";

export type { CreateTokenInput } from "./token-input.js";

/** A token as callers see it: never its secret or hash. */
export interface Token {
  id: number;
  /** The namespace it was created in; it is valid there only. */
  namespaceId: number;
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

/**
 * What the cache holds per token: the view, the expiry as a number and the compiled repository
 * check for the hot path, and the three answers a known secret can get. The answers are frozen
 * and shared by every call that gets them; they live and die with the entry.
 */
interface TokenEntry {
  token: Token;
  expiresAtMs: number;
  covers: (repository: string) => boolean;
  valid: Validation;
  expired: Validation;
  denied: Validation;
}

function toEntry(row: TokenRow): TokenEntry {
  const token = toToken(row);
  Object.freeze(token.scopes);
  Object.freeze(token.repositories);
  Object.freeze(token);
  return {
    token,
    expiresAtMs: row.expiresAt?.getTime() ?? Infinity,
    covers: repositoryMatcher(token.repositories),
    valid: Object.freeze({ valid: true, token }),
    expired: Object.freeze({ valid: false, token, reason: "EXPIRED" }),
    denied: Object.freeze({ valid: false, token, reason: "SCOPE_DENIED" }),
  };
}

function toToken(row: TokenRow): Token {
  return {
    id: row.id,
    namespaceId: row.namespaceId,
    name: row.name,
    createdBy: row.createdBy,
    createTime: row.createdAt,
    lastUsedTime: row.lastUsed ?? undefined,
    expireTime: row.expiresAt ?? undefined,
    scopes: parseStoredScopes(row.scopes),
    repositories: row.repositories,
  };
}

/** The /tokens/create or /tokens/delete event of a row: its facts, never its hash. */
const tokenEvents = (created: boolean) => (row: TokenRow) => [
  tokenEvent(
    row.namespaceId,
    {
      id: row.id,
      name: row.name,
      createdBy: row.createdBy,
      scopes: parseStoredScopes(row.scopes),
      repositories: row.repositories,
      expiresAt: row.expiresAt,
    },
    created,
  ),
];

/**
 * Creates a token and returns it with its secret (shown once). `issuer` is the authenticated
 * caller: the new token may not be wider than it, and it is the token's `created_by`. Without one
 * (offline creation by the CLI, a server without authentication) the request's `created_by` stays.
 */
export async function createToken(
  store: TokenStore,
  input: CreateTokenInput,
  now = Date.now(),
  issuer?: TokenRecord,
  namespaceId?: number,
): Promise<{ token: Token; secret: string }> {
  const valid = validateCreateInput(input);
  const expiresAt = valid.ttlMs > 0 ? new Date(now + valid.ttlMs) : null;
  if (issuer) assertNotWider(issuer, { scopes: valid.scopes, repositories: valid.repositories, expiresAt });
  const secret = generateSecret();
  const row = await store.insert(
    {
      name: valid.name,
      createdBy: issuer ? issuedBy(issuer) : valid.createdBy,
      tokenHash: hashSecret(secret),
      createdAt: new Date(now),
      expiresAt,
      scopes: valid.scopes.join(","),
      repositories: valid.repositories,
    },
    namespaceId,
    tokenEvents(true),
  );
  return { token: toToken(row), secret };
}

/** A failed read on the validation path means we cannot tell whether a secret is valid: retryable. */
function cannotTell(e: unknown): never {
  throw isEpochError(e) ? e : unavailable("the token database is unreachable", "DATABASE_UNAVAILABLE", { cause: e });
}

/**
 * How ValidateToken's well-formed secrets were answered since start: from a cached token, from a
 * secret cached as unknown, or by asking the database (a miss; also while the cache is too stale
 * to serve). Plain numbers, so the hot path pays an increment; the metrics scrape reads them.
 */
export interface ValidateCacheCounts {
  hits: number;
  negativeHits: number;
  misses: number;
}

const MALFORMED: Validation = Object.freeze({ valid: false, reason: "MALFORMED" });
const UNKNOWN: Validation = Object.freeze({ valid: false, reason: "UNKNOWN_TOKEN" });

export class TokenService implements TokenLookup {
  private readonly cache: TokenCache<TokenEntry>;
  private readonly recorder: LastUsedRecorder;
  private readonly now: () => number;
  private readonly validateCounts: ValidateCacheCounts = { hits: 0, negativeHits: 0, misses: 0 };

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
          return row && toEntry(row);
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
          else
            logger.warn(
              { err: e },
              "token generation poll failed: cached tokens are served until EPOCH_TOKEN_STALE_MAX, then refused",
            );
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

  /** `namespaceId` undefined = `default` (as everywhere in this service). */
  create(
    input: CreateTokenInput,
    issuer?: TokenRecord,
    namespaceId?: number,
  ): Promise<{ token: Token; secret: string }> {
    return createToken(this.store, input, this.now(), issuer, namespaceId);
  }

  /**
   * A page of the namespace's tokens. A caller limited to some repositories sees only the tokens
   * it could have minted (`reachesToken`), so a page may hold fewer than it asked for; the page
   * token still moves past every row read.
   */
  async list(
    request: { pageSize: number; pageToken: string },
    namespaceId?: number,
    caller?: TokenRecord,
  ): Promise<{ tokens: Token[]; nextPageToken: string }> {
    const limit = pageSize(request.pageSize);
    const after = decodeTokenPageToken(request.pageToken, namespaceId);
    const { rows, more } = await this.store.listAfter(after, limit, namespaceId);
    const tokens = rows
      .filter((row) => reachesToken(caller, row))
      .map((row) => {
        const token = toToken(row);
        // This replica's unflushed use is newer than the row's.
        const pending = this.recorder.pendingFor(token.id);
        if (pending && (!token.lastUsedTime || pending > token.lastUsedTime)) token.lastUsedTime = pending;
        return token;
      });
    const last = rows[rows.length - 1];
    return { tokens, nextPageToken: more && last ? encodeTokenPageToken(last.id, namespaceId) : "" };
  }

  /**
   * Revokes a token: the row goes, then the generation moves (one transaction). A caller limited
   * to some repositories may revoke only the tokens it could have minted.
   */
  async delete(id: number, namespaceId?: number, caller?: TokenRecord): Promise<void> {
    if (!Number.isSafeInteger(id) || id < 0) throw invalidArgument("id must be a token id");
    const generation = await this.store.deleteAndBump(id, namespaceId, tokenEvents(false), (row) => {
      if (!reachesToken(caller, row))
        throw permissionDenied(`token ${id} reaches repositories outside the ones the calling token is limited to`);
    });
    if (generation === null) throw notFound(`token ${id} not found`, "TOKEN_NOT_FOUND");
    // This replica drops its cache now; the others when their next poll sees the new value.
    this.cache.observe(generation);
  }

  /** Drops the caches of every replica (they follow the generation within one poll). */
  async invalidateCache(): Promise<void> {
    this.cache.observe(await this.store.bumpGeneration());
  }

  /** The hot path. An invalid secret is a normal answer; a bad action or repository is not. */
  async validate(
    request: { secret: string; repository: string; action: string },
    namespaceId?: number,
  ): Promise<Validation> {
    return this.validateNow(request, namespaceId);
  }

  /**
   * `validate` without a promise when it can: a malformed secret or a cached record (positive or
   * negative) is answered synchronously, anything else returns the pending lookup. Throws
   * (synchronously) INVALID_ARGUMENT for a bad action or repository name. The answers are
   * shared, frozen objects (one set per cached record): equal answers are the same object.
   * With `namespaceId`, a token of another namespace is UNKNOWN_TOKEN (its existence does not leak).
   */
  validateNow(
    request: { secret: string; repository: string; action: string },
    namespaceId?: number,
  ): Validation | Promise<Validation> {
    const action = parseAction(request.action);
    const repository = request.repository;
    if (repository !== "") assertRepositoryName(repository);
    if (secretKind(request.secret) === null) return MALFORMED;
    const hash = hashSecret(request.secret);
    const cached = this.cache.peek(hash);
    if (cached !== undefined) {
      if (cached === null) this.validateCounts.negativeHits++;
      else this.validateCounts.hits++;
      return this.check(cached, action, repository, namespaceId);
    }
    this.validateCounts.misses++;
    return this.cache.get(hash).then((entry) => this.check(entry, action, repository, namespaceId));
  }

  /** Namespace, expiry, action and repository against the record; every call, cached or not. */
  private check(entry: TokenEntry | null, action: Action, repository: string, namespaceId?: number): Validation {
    if (entry === null) return UNKNOWN;
    if (namespaceId !== undefined && entry.token.namespaceId !== namespaceId) return UNKNOWN;
    const now = this.now();
    if (now >= entry.expiresAtMs) return entry.expired;
    if (!grantsAction(entry.token.scopes, action) || (repository !== "" && !entry.covers(repository)))
      return entry.denied;
    this.recorder.record(entry.token.id, now);
    return entry.valid;
  }

  /**
   * TokenLookup for API authentication: the token, or null when unknown, malformed or expired.
   * The syntactic check runs first, so junk never costs a hash, a cache slot or a query.
   */
  async lookup(secret: string): Promise<TokenRecord | null> {
    if (secretKind(secret) === null) return null;
    const entry = await this.cache.get(hashSecret(secret));
    if (entry === null) return null;
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

  /** ValidateToken's cache outcomes so far (a copy). */
  validateCacheCounts(): ValidateCacheCounts {
    return { ...this.validateCounts };
  }
}
