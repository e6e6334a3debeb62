/**
 * The collector's marking transaction (DESIGN §8.5), as a plain function over a transaction
 * (containerd's gc.go): queue what the inventory found, lock the candidates' queue rows, re-check
 * each one — unreferenced, unleased, and unreferenced for longer than the grace period both by the
 * database and by its object's Last-Modified — then mark it `deleting` and remove its index rows.
 *
 * Lock order, so IndexTag and the collector serialise on the queue row: IndexTag reads the row
 * with a shared lock before it references anything (review-queue.ts `collectedAmong`); this
 * transaction locks it for update first and only then reads references, at READ COMMITTED on
 * MariaDB, so it sees whatever a writer that held the row committed. An inventory object the queue
 * has never seen is inserted first: the insert waits for any IndexTag holding the gap.
 */
import type { EntityManager } from "typeorm";
import type { IndexScope } from "../index/index-scope.js";
import { toDate, toNumber } from "../sql/decode.js";
import { execute } from "../sql/execute.js";
import { sqlNow, sqlNowPlusMs } from "../sql/sql.js";
import { chunk, forUpdate, placeholders, timeParam } from "../sql/sql-params.js";
import { reviewKey, type ReviewItem } from "./review-queue.js";

export interface Candidate extends ReviewItem {
  /** The object's Last-Modified as the store reports it; null when the object is absent. */
  lastModified: Date | null;
  /** The object's size (0 when absent or unknown). */
  size: number;
}

export interface MarkedBlob {
  digest: string;
  size: number;
  mediaType: string;
}

export interface MarkOutcome {
  /** Marked `deleting`: their objects are to be deleted now. */
  marked: Candidate[];
  /** Absent objects: their index rows went and their rows are `deleted` at once. */
  gone: Candidate[];
  /** Blobs whose index rows this transaction removed (for `/blobs/delete`). */
  blobs: MarkedBlob[];
  /** Referenced again: their queue rows are dropped (a later change queues them anew). */
  referenced: number;
  /** Held by a lease or an upload, or not old enough: they stay pending for a later run. */
  kept: number;
}

export interface MarkOptions {
  runId: number;
  gracePeriodMs: number;
  /** Which of these digests a lease or an upload holds, read in this transaction. */
  held: (m: EntityManager, digests: readonly string[]) => Promise<Set<string>>;
}

/** Groups by (kind, repository): every statement below works on one group with a digest list. */
function groups<T extends ReviewItem>(items: readonly T[]): T[][] {
  const byGroup = new Map<string, T[]>();
  for (const i of items) {
    const key = `${i.kind}\u0000${i.repository}`;
    const list = byGroup.get(key);
    if (list) list.push(i);
    else byGroup.set(key, [i]);
  }
  return [...byGroup.values()].flatMap((g) => chunk(g, 1000));
}

const groupWhere = (n: number) => `namespace_id = ? AND kind = ? AND repository = ? AND digest IN (${placeholders(n)})`;
const groupParams = (scope: IndexScope, g: readonly ReviewItem[]) => [
  scope.namespaceId,
  g[0]!.kind,
  g[0]!.repository,
  ...g.map((i) => i.digest),
];

export async function markCandidates(
  m: EntityManager,
  scope: IndexScope,
  candidates: readonly Candidate[],
  o: MarkOptions,
): Promise<MarkOutcome> {
  const out: MarkOutcome = { marked: [], gone: [], blobs: [], referenced: 0, kept: 0 };
  if (candidates.length === 0) return out;
  candidates = [...new Map(candidates.map((c) => [reviewKey(c), c])).values()];
  await admitInventory(m, scope, candidates);
  const [{ cutoff }] = (await m.query(`SELECT ${sqlNowPlusMs(scope.dialect)} AS cutoff`, [-o.gracePeriodMs])) as Array<{
    cutoff: unknown;
  }>;
  const oldest = toDate(cutoff).getTime();
  const rows = await lockRows(m, scope, candidates);
  const referenced = await referencedAmong(m, scope, candidates);
  const pending = candidates.filter(
    (c) => rows.get(reviewKey(c))?.state === "pending" && !referenced.has(reviewKey(c)),
  );
  const held = await o.held(
    m,
    pending.filter((c) => c.kind !== "upload").map((c) => c.digest),
  );
  for (const c of candidates) {
    const row = rows.get(reviewKey(c));
    if (row?.state !== "pending") continue; // another run's, or already gone
    if (referenced.has(reviewKey(c))) out.referenced++;
    else if (
      held.has(c.digest) ||
      row.unreferencedAt.getTime() > oldest ||
      (c.lastModified !== null && c.lastModified.getTime() > oldest)
    )
      out.kept++;
    else (c.lastModified === null ? out.gone : out.marked).push(c);
  }
  await dropReferenced(m, scope, candidates, referenced);
  out.blobs = await removeBlobRows(m, scope, [...out.marked, ...out.gone]);
  await setState(m, scope, out.marked, "deleting", o.runId);
  await setState(m, scope, out.gone, "deleted", o.runId);
  return out;
}

/**
 * Inventory objects enter the queue as unreferenced since their Last-Modified (queued objects keep
 * their time and take the size seen now). A `deleted` row
 * whose object is listed again was pushed again (or its delete was lost): it becomes pending from
 * now, so a later run, after the grace period, judges it afresh.
 */
async function admitInventory(m: EntityManager, scope: IndexScope, candidates: readonly Candidate[]) {
  const seen = candidates.filter((c) => c.lastModified !== null);
  const now = sqlNow(scope.dialect);
  // One statement for all: a new row for an object the queue never had, and the size seen now for
  // a pending one (what its deletion frees).
  const keepSize =
    scope.dialect === "sqlite"
      ? "ON CONFLICT (namespace_id, kind, repository, digest) DO UPDATE SET size = excluded.size WHERE gc_review_queue.state = 'pending'"
      : "ON DUPLICATE KEY UPDATE size = IF(state = 'pending', VALUES(size), size)";
  for (const part of chunk(seen, 500)) {
    await execute(
      m,
      `INSERT INTO gc_review_queue (namespace_id, kind, repository, digest, unreferenced_at, state, run_id, size, changed_at)
VALUES ${part.map(() => `(?, ?, ?, ?, ?, 'pending', 0, ?, ${now})`).join(", ")} ${keepSize}`,
      part.flatMap((c) => [
        scope.namespaceId,
        c.kind,
        c.repository,
        c.digest,
        timeParam(c.lastModified!, scope.dialect),
        c.size,
      ]),
    );
  }
  for (const g of groups(seen)) {
    await execute(
      m,
      `UPDATE gc_review_queue SET state = 'pending', unreferenced_at = ${now}, run_id = 0, changed_at = ${now}
WHERE ${groupWhere(g.length)} AND state = 'deleted'`,
      groupParams(scope, g),
    );
  }
}

async function lockRows(
  m: EntityManager,
  scope: IndexScope,
  items: readonly ReviewItem[],
): Promise<Map<string, { state: string; unreferencedAt: Date }>> {
  const out = new Map<string, { state: string; unreferencedAt: Date }>();
  for (const g of groups(items)) {
    const rows: Array<{ digest: unknown; state: unknown; unreferenced_at: unknown }> = await m.query(
      `SELECT digest, state, unreferenced_at FROM gc_review_queue WHERE ${groupWhere(g.length)}${forUpdate(scope.dialect)}`,
      groupParams(scope, g),
    );
    for (const r of rows)
      out.set(reviewKey({ ...g[0]!, digest: String(r.digest) }), {
        state: String(r.state),
        unreferencedAt: toDate(r.unreferenced_at),
      });
  }
  return out;
}

/**
 * Those of `items` the index references: a blob with ref_count > 0; a `_digests/` manifest of a
 * repository one of whose tags points at it or at an index listing it. Uploads are judged by
 * their rows (gc-roots.ts), never here.
 */
export async function referencedAmong(
  m: Pick<EntityManager, "query">,
  scope: IndexScope,
  items: readonly ReviewItem[],
): Promise<Set<string>> {
  const out = new Set<string>();
  for (const g of groups(items)) {
    const { kind, repository } = g[0]!;
    const digests = g.map((i) => i.digest);
    const list = placeholders(digests.length);
    let rows: Array<{ d: unknown }> = [];
    if (kind === "blob") {
      rows = await m.query(
        `SELECT digest AS d FROM blobs WHERE namespace_id = ? AND digest IN (${list}) AND ref_count > 0`,
        [scope.namespaceId, ...digests],
      );
    } else if (kind === "manifest") {
      rows = await m.query(
        `SELECT mf.digest AS d FROM manifests mf
JOIN tags t ON t.manifest_id = mf.id JOIN repositories r ON r.id = t.repository_id
WHERE mf.namespace_id = ? AND mf.digest IN (${list}) AND r.name = ?
UNION
SELECT mc.child_digest AS d FROM manifest_children mc
JOIN tags t ON t.manifest_id = mc.parent_id JOIN repositories r ON r.id = t.repository_id
WHERE mc.child_digest IN (${list}) AND r.namespace_id = ? AND r.name = ?`,
        [scope.namespaceId, ...digests, repository, ...digests, scope.namespaceId, repository],
      );
    }
    for (const r of rows) out.add(reviewKey({ kind, repository, digest: String(r.d) }));
  }
  return out;
}

async function dropReferenced(
  m: EntityManager,
  scope: IndexScope,
  candidates: readonly Candidate[],
  referenced: ReadonlySet<string>,
) {
  for (const g of groups(candidates.filter((c) => referenced.has(reviewKey(c))))) {
    await execute(m, `DELETE FROM gc_review_queue WHERE ${groupWhere(g.length)} AND state = 'pending'`, [
      ...groupParams(scope, g),
    ]);
  }
}

/** The blob rows of collected blobs (still unreferenced: the re-check above holds their queue rows). */
async function removeBlobRows(m: EntityManager, scope: IndexScope, items: readonly Candidate[]): Promise<MarkedBlob[]> {
  const digests = items.filter((i) => i.kind === "blob").map((i) => i.digest);
  const out: MarkedBlob[] = [];
  for (const part of chunk(digests, 1000)) {
    const list = placeholders(part.length);
    const rows: Array<{ digest: unknown; size: unknown; media_type: unknown }> = await m.query(
      `SELECT digest, size, media_type FROM blobs WHERE namespace_id = ? AND digest IN (${list}) AND ref_count = 0`,
      [scope.namespaceId, ...part],
    );
    for (const r of rows)
      out.push({ digest: String(r.digest), size: toNumber(r.size), mediaType: String(r.media_type ?? "") });
    await execute(m, `DELETE FROM blobs WHERE namespace_id = ? AND digest IN (${list}) AND ref_count = 0`, [
      scope.namespaceId,
      ...part,
    ]);
  }
  // Blobs the index never had (found by the inventory) are reported with their object's size.
  const known = new Set(out.map((b) => b.digest));
  for (const i of items)
    if (i.kind === "blob" && !known.has(i.digest)) out.push({ digest: i.digest, size: i.size, mediaType: "" });
  return out;
}

async function setState(
  m: EntityManager,
  scope: IndexScope,
  items: readonly Candidate[],
  state: "deleting" | "deleted",
  runId: number,
) {
  const now = sqlNow(scope.dialect);
  for (const g of groups(items)) {
    await execute(
      m,
      `UPDATE gc_review_queue SET state = ?, run_id = ?, changed_at = ${now} WHERE ${groupWhere(g.length)}`,
      [state, runId, ...groupParams(scope, g)],
    );
  }
}
