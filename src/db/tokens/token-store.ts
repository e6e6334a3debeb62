/**
 * All SQL of the token table and the token-cache generation, in one place. Reads on the
 * validation path are raw statements (one round trip, no query builder); rows are converted
 * here, so the services see the same `TokenRow` on every dialect.
 */
import type { EntityManager } from "typeorm";
import { coordinationValue, ensureCoordinationRow } from "../coordination.js";
import type { Database } from "../data-source.js";
import { DEFAULT_NAMESPACE, type TokenRow } from "../entities/index.js";
import { appendEvents, type NewEvent } from "../events/event-store.js";
import { toDate } from "../sql/decode.js";
import { execute } from "../sql/execute.js";
import { forUpdate, sqlTime } from "../sql/sql-params.js";
import { serialized, writeTransaction } from "../write-transaction.js";

/** The `coordination` row every replica polls; DeleteToken and InvalidateTokenCache bump it. */
export const TOKEN_GENERATION = "token_generation";

const TOKEN_COLUMNS = "id, name, created_by, created_at, last_used, expires_at, scopes, repositories";
// Tokens per last_used statement: keeps the parameter count far below every dialect's limit.
const LAST_USED_CHUNK = 500;

export type NewToken = Omit<TokenRow, "id" | "namespaceId" | "lastUsed">;

interface RawToken {
  id: number | string;
  name: string;
  created_by: string;
  created_at: Date | string;
  last_used: Date | string | null;
  expires_at: Date | string | null;
  scopes: string;
  repositories: string | string[] | null;
}

function fromRaw(r: RawToken, namespaceId: number, tokenHash: string): TokenRow {
  const repositories =
    r.repositories === null
      ? []
      : typeof r.repositories === "string"
        ? (JSON.parse(r.repositories) as string[])
        : r.repositories;
  return {
    id: Number(r.id),
    namespaceId,
    name: r.name,
    tokenHash,
    createdBy: r.created_by,
    createdAt: toDate(r.created_at),
    lastUsed: r.last_used === null ? null : toDate(r.last_used),
    expiresAt: r.expires_at === null ? null : toDate(r.expires_at),
    scopes: r.scopes,
    repositories: Array.isArray(repositories) ? repositories : [],
  };
}

/** The events a write makes of the row it wrote (or removed); appended in its transaction. */
export type Outbox<Row> = (row: Row) => NewEvent[];
const noEvents = () => [];

export class TokenStore {
  private namespaceId: number | undefined;

  constructor(private readonly db: Database) {}

  /** The id of `default`, where tokens go when no namespace is named (ids never change). */
  async defaultNamespaceId(): Promise<number> {
    if (this.namespaceId === undefined) {
      const rows: Array<{ id: number | string }> = await this.db.ds.query("SELECT id FROM namespaces WHERE name = ?", [
        DEFAULT_NAMESPACE,
      ]);
      if (!rows[0]) throw new Error("the default namespace row is missing: run the migrations");
      this.namespaceId = Number(rows[0].id);
    }
    return this.namespaceId;
  }

  /** Inserts the token and, in the same transaction, the events `outbox` makes of the new row. */
  async insert(token: NewToken, namespace?: number, outbox: Outbox<TokenRow> = noEvents): Promise<TokenRow> {
    const namespaceId = namespace ?? (await this.defaultNamespaceId());
    const row = { ...token, namespaceId, lastUsed: null };
    return writeTransaction(this.db, async (manager) => {
      const result = await manager.getRepository<TokenRow>("Token").insert(row);
      const inserted = { ...row, id: Number((result.identifiers[0] as { id: number | string }).id) };
      await appendEvents(manager, this.db.dialect, outbox(inserted));
      return inserted;
    });
  }

  /** The token with this secret hash (the unique index), or null. */
  async findByHash(tokenHash: string): Promise<TokenRow | null> {
    const rows: RawToken[] = await this.db.ds.query(
      `SELECT namespace_id, ${TOKEN_COLUMNS} FROM tokens WHERE token_hash = ?`,
      [tokenHash],
    );
    const r = rows[0] as (RawToken & { namespace_id: number | string }) | undefined;
    return r ? fromRaw(r, Number(r.namespace_id), tokenHash) : null;
  }

  /** One page in id order after `afterId`; `limit + 1` rows are read to tell whether more follow. */
  async listAfter(afterId: number, limit: number, namespace?: number): Promise<{ rows: TokenRow[]; more: boolean }> {
    const namespaceId = namespace ?? (await this.defaultNamespaceId());
    const rows: RawToken[] = await this.db.ds.query(
      `SELECT ${TOKEN_COLUMNS} FROM tokens WHERE namespace_id = ? AND id > ? ORDER BY id LIMIT ?`,
      [namespaceId, afterId, limit + 1],
    );
    // The hash stays in the database: listings never carry it.
    return { rows: rows.slice(0, limit).map((r) => fromRaw(r, namespaceId, "")), more: rows.length > limit };
  }

  /**
   * Deletes the token, then bumps the generation, in one transaction: a revocation is never
   * committed without the signal that makes every replica drop its cache. Returns the new
   * generation, or null when there is no such token. `guard` sees the row first and may refuse
   * (throw), which deletes nothing.
   */
  async deleteAndBump(
    id: number,
    namespace?: number,
    outbox: Outbox<TokenRow> = noEvents,
    guard?: (row: TokenRow) => void,
  ): Promise<number | null> {
    const namespaceId = namespace ?? (await this.defaultNamespaceId());
    return writeTransaction(this.db, async (manager) => {
      const rows: RawToken[] = await manager.query(
        `SELECT ${TOKEN_COLUMNS} FROM tokens WHERE id = ? AND namespace_id = ?${forUpdate(this.db.dialect)}`,
        [id, namespaceId],
      );
      if (!rows[0]) return null;
      guard?.(fromRaw(rows[0], namespaceId, ""));
      await execute(manager, "DELETE FROM tokens WHERE id = ? AND namespace_id = ?", [id, namespaceId]);
      const generation = await this.bumpWith(manager);
      await appendEvents(manager, this.db.dialect, outbox(fromRaw(rows[0], namespaceId, "")));
      return generation;
    });
  }

  /** Moves the generation; returns the new value. */
  bumpGeneration(): Promise<number> {
    return writeTransaction(this.db, (manager) => this.bumpWith(manager));
  }

  private async bumpWith(manager: EntityManager): Promise<number> {
    await ensureCoordinationRow(manager, this.db.dialect, TOKEN_GENERATION);
    await execute(manager, "UPDATE coordination SET value = value + 1 WHERE name = ?", [TOKEN_GENERATION]);
    return coordinationValue(manager, TOKEN_GENERATION);
  }

  /** The current generation (0 before the first bump). */
  readGeneration(): Promise<number> {
    return coordinationValue(this.db.ds, TOKEN_GENERATION);
  }

  /**
   * Writes last-used times, one statement per 500 tokens; a time never moves backwards (the
   * row keeps a later value written by another replica).
   */
  async recordLastUsed(times: ReadonlyMap<number, Date>): Promise<number> {
    const entries = [...times];
    let statements = 0;
    for (let i = 0; i < entries.length; i += LAST_USED_CHUNK) {
      const chunk = entries.slice(i, i + LAST_USED_CHUNK);
      const cases = chunk.map(() => "WHEN ? THEN ?").join(" ");
      const pairs = chunk.flatMap(([id, at]) => [id, sqlTime(at)]);
      await serialized(this.db, () =>
        execute(
          this.db.ds,
          `UPDATE tokens SET last_used = CASE id ${cases} END
         WHERE id IN (${chunk.map(() => "?").join(", ")}) AND (last_used IS NULL OR last_used < CASE id ${cases} END)`,
          [...pairs, ...chunk.map(([id]) => id), ...pairs],
        ),
      );
      statements++;
    }
    return statements;
  }
}
