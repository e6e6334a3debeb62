import type { ColumnTypes } from "../column-types.js";
import { defineEntity, manyToOne } from "./define.js";

/** An access token; only the SHA-256 hex of its secret is stored (as Epoch does). */
export interface TokenRow {
  id: number;
  namespaceId: number;
  name: string;
  tokenHash: string;
  createdBy: string;
  createdAt: Date;
  lastUsed: Date | null;
  expiresAt: Date | null;
  /** Comma-separated scopes, e.g. "pull,push". */
  scopes: string;
  /** Repository glob patterns; empty = all. */
  repositories: string[];
}

export const tokenEntity = (t: ColumnTypes) =>
  defineEntity<TokenRow>("Token", "tokens", {
    columns: {
      id: ["id", t.id()],
      namespaceId: ["namespace_id", t.ref()],
      name: ["name", t.string(255)],
      tokenHash: ["token_hash", t.key(64)],
      createdBy: ["created_by", t.string(255, false, "")],
      createdAt: ["created_at", t.time()],
      lastUsed: ["last_used", t.time(true)],
      expiresAt: ["expires_at", t.time(true)],
      scopes: ["scopes", t.string(255)],
      repositories: ["repositories", t.json(false)],
    },
    relations: { namespace: manyToOne("Namespace", "namespace_id", "fk_tokens_namespace", "NO ACTION") },
    indices: [
      { name: "uq_tokens_token_hash", columns: ["tokenHash"], unique: true },
      { name: "ix_tokens_namespace_id", columns: ["namespaceId", "id"] },
    ],
  });
