import type { Dialect } from "../column-types.js";

/** Which namespace's index a write or read works on, and the SQL dialect it speaks. */
export interface IndexScope {
  dialect: Dialect;
  namespaceId: number;
}
