import type { ColumnTypes } from "../column-types.js";
import { defineEntity } from "./define.js";

/**
 * Cross-replica coordination rows: the token-cache generation counter, the sync lease and the
 * migration lease. Leases are taken with conditional UPDATEs (never GET_LOCK, which is bound
 * to one pooled connection and rejected by Galera).
 */
export interface CoordinationRow {
  name: string;
  /** A counter (token generation) or the lease's run id. */
  value: number;
  holder: string;
  expiresAt: Date | null;
}

export const coordinationEntity = (t: ColumnTypes) =>
  defineEntity<CoordinationRow>("Coordination", "coordination", {
    columns: {
      name: ["name", { ...t.key(64), primary: true }],
      value: ["value", t.bigint()],
      holder: ["holder", t.string(255, false, "")],
      expiresAt: ["expires_at", t.time(true)],
    },
  });
