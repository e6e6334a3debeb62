/** The tokens step: every Epoch token that can validate, in one transaction with its record. */
import { chunk } from "../sql/sql-params.js";
import { execute } from "../sql/execute.js";
import { recordStep } from "./adoption-state.js";
import { readEpochTokens } from "./epoch-rows.js";
import type { StepContext } from "./step-context.js";
import { ADOPTED_SCOPES, convertEpochToken, tokenProblem } from "./token-conversion.js";

export async function copyTokens(c: StepContext): Promise<number> {
  return c.fenced(async (m) => {
    const rows = await readEpochTokens(m, c.schema);
    const now = new Date();
    const tokens = rows.flatMap((t) => {
      const problem = tokenProblem(t);
      if (problem) c.log(`skipped token ${t.id}: ${problem}`);
      return problem ? [] : [convertEpochToken(t, now)];
    });
    for (const part of chunk(tokens, 500)) {
      await execute(
        m,
        `INSERT INTO tokens (id, namespace_id, name, token_hash, created_by, created_at, last_used, expires_at, scopes, repositories)
VALUES ${part.map(() => "(?, ?, ?, ?, ?, ?, ?, NULL, ?, '[]')").join(", ")}`,
        part.flatMap((t) => [
          t.id,
          c.namespaceId,
          t.name,
          t.tokenHash,
          t.createdBy,
          t.createdAt,
          t.lastUsed,
          ADOPTED_SCOPES,
        ]),
      );
    }
    await recordStep(m, "schema", "tokens");
    return tokens.length;
  });
}
