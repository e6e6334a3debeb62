/**
 * `migrate --from-epoch` on MariaDB (Epoch is MySQL-only): a database built with Epoch's own DDL
 * (the v0.1.7 shape and an older one) and filled the way Epoch fills it from the fixture
 * registry is adopted in place; every expected value comes from the fixture's description and
 * Epoch's rows, never from the code under test. Also: dry run writes nothing, a re-run writes
 * nothing, a run crashed after any step is finished by running again, unrecognised schemas are
 * refused untouched, and `migrate`/`serve` point at `--from-epoch`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { migrateFromEpoch } from "../../../../src/cli/migrate-from-epoch.js";
import { openDatabase, type Database } from "../../../../src/db/data-source.js";
import {
  adoptEpochDatabase,
  SimulatedAdoptionCrash,
  type AdoptionFaultPoint,
  type AdoptionResult,
} from "../../../../src/db/epoch-adoption/adopt.js";
import { assertMigrated, migrate } from "../../../../src/db/migrate.js";
import { buildTable, initialTables } from "../../../../src/db/migrations/1763900000000-initial-schema.js";
import { toBool, toDate, toJson, toNumber } from "../../../../src/db/sql/decode.js";
import { configureLogger } from "../../../../src/logger.js";
import { DirectoryObjectStore } from "../../../../src/storage/directory-store.js";
import type { ObjectStore } from "../../../../src/storage/object-store.js";
import {
  expectedRefCounts,
  writeRegistryFixture,
  type ExpectedTag,
  type RegistryFixture,
} from "../../../fixtures/registry-fixture.js";
import { createTestDatabase, mariadbServerUrl, type TestDatabase } from "../../../helpers/database.js";
import {
  createEpochDatabase,
  EPOCH_TOKENS,
  type EpochDatabase,
  type EpochShape,
} from "../../../helpers/epoch-schema.js";
import { StatementCounter } from "../../../helpers/statement-counter.js";
import { dumpIndex } from "../../../helpers/sync-harness.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

const WRITES = /^\s*(INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|RENAME|TRUNCATE|START TRANSACTION|BEGIN)\b/i;
const EPOCH_TABLES = ["repositories", "tags", "blobs", "tokens"];

interface Env {
  test: TestDatabase;
  store: ObjectStore;
  fx: RegistryFixture;
  epoch: EpochDatabase;
  db: Database;
  statements: StatementCounter;
}

const envs: Env[] = [];
const dirs: string[] = [];

async function setup(shape: EpochShape = "v0.1.7", fill = true): Promise<Env> {
  const test = await createTestDatabase("mariadb");
  const dir = mkdtempSync(join(tmpdir(), "epoch-adopt-"));
  dirs.push(dir);
  const store = new DirectoryObjectStore(dir, { durable: false });
  const fx = await writeRegistryFixture(store);
  const epoch = await createEpochDatabase(test.url, store, { shape });
  if (!fill) await epoch.query("DELETE FROM tags");
  const statements = new StatementCounter();
  const db = await openDatabase(test.url, { logger: statements });
  const env = { test, store, fx, epoch, db, statements };
  envs.push(env);
  return env;
}

afterEach(async () => {
  for (const e of envs.splice(0)) {
    await e.epoch.close();
    await e.db.close();
    await e.test.drop();
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const quiet = { print: () => {} };

async function tableNames(db: Database): Promise<string[]> {
  const rows: Array<{ t: string }> = await db.ds.query(
    "SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME",
  );
  return rows.map((r) => r.t);
}

async function tokenRows(db: Database) {
  const rows: Array<Record<string, unknown>> = await db.ds.query("SELECT * FROM tokens ORDER BY id");
  return rows.map((r) => ({
    id: toNumber(r.id),
    name: r.name,
    createdBy: r.created_by,
    tokenHash: r.token_hash,
    createdAt: toDate(r.created_at).toISOString(),
    lastUsed: r.last_used === null ? null : toDate(r.last_used).toISOString(),
    expiresAt: r.expires_at,
    scopes: r.scopes,
    repositories: toJson(r.repositories),
  }));
}

const expectedTokens = () =>
  EPOCH_TOKENS.map((t) => ({
    id: t.id,
    name: t.name,
    createdBy: t.createdBy,
    tokenHash: t.hash,
    createdAt: t.createdAt.toISOString(),
    lastUsed: t.lastUsed?.toISOString() ?? null,
    expiresAt: null,
    scopes: "pull,push,delete",
    repositories: [],
  }));

async function adoptedTags(db: Database) {
  const rows: Array<Record<string, unknown>> = await db.ds.query(
    `SELECT r.name AS repository, t.name, t.digest, t.kind, t.total_size, t.pushed_at, t.object_etag, t.incomplete,
  m.media_type, m.artifact_type, m.layer_count, m.platform_sizes
FROM tags t JOIN repositories r ON r.id = t.repository_id JOIN manifests m ON m.id = t.manifest_id ORDER BY r.name, t.name`,
  );
  return rows.map((r) => ({
    repository: r.repository,
    tag: r.name,
    digest: r.digest,
    kind: r.kind,
    totalSize: toNumber(r.total_size),
    pushedAt: toDate(r.pushed_at).toISOString(),
    objectEtag: r.object_etag,
    incomplete: toBool(r.incomplete),
    mediaType: r.media_type,
    artifactType: r.artifact_type,
    layerCount: toNumber(r.layer_count),
    platformSizes: toJson(r.platform_sizes),
  }));
}

const byName = (a: { repository: unknown; tag: unknown }, b: { repository: unknown; tag: unknown }) =>
  `${String(a.repository)}\u0000${String(a.tag)}` < `${String(b.repository)}\u0000${String(b.tag)}` ? -1 : 1;

/** Created annotations at millisecond precision; otherwise Epoch's own push time (its sync time). */
const pushTime = (t: ExpectedTag, epoch: EpochDatabase) =>
  t.createdAt
    ? new Date(Date.parse(t.createdAt.replace(/(\.\d{3})\d+/, "$1"))).toISOString()
    : epoch.syncedAt.toISOString();

const isIndex = (t: ExpectedTag) => t.platformSizes !== undefined;

/**
 * Epoch's rows whose manifest a sync can index, each with the fixture's description of that
 * manifest. Not simply the fixture's tags: under Epoch's `_ci` collation `Latest` and `latest`
 * were one row.
 */
function adoptable(env: Env): ExpectedTag[] {
  const described = new Map(env.fx.indexable.map((t) => [t.digest, t]));
  return env.epoch.tags.flatMap((t) => {
    const d = described.get(`sha256:${t.digest}`);
    return d ? [{ ...d, repository: t.repository, tag: t.tag }] : [];
  });
}

/** What an adoption must leave per tag (for an index, Epoch's total: the children are not read). */
function expectedTags(env: Env, shape: EpochShape) {
  const epochTotals = new Map(env.epoch.tags.map((t) => [`${t.repository}:${t.tag}`, t.totalSize]));
  return adoptable(env)
    .map((t) => ({
      repository: t.repository,
      tag: t.tag,
      digest: t.digest,
      kind: t.kind,
      totalSize: isIndex(t) ? epochTotals.get(`${t.repository}:${t.tag}`) : t.totalSize,
      pushedAt: pushTime(t, env.epoch),
      objectEtag: null,
      // Without Epoch's platform sizes nothing of an index's children is known until the first sync.
      incomplete: isIndex(t) && shape === "older" ? true : t.incomplete,
      mediaType: t.mediaType,
      artifactType: t.artifactType ?? "",
      layerCount: t.layerCount,
      platformSizes: isIndex(t) ? (shape === "older" ? [] : t.platformSizes) : null,
    }))
    .sort(byName);
}

const maria = mariadbServerUrl() ? describe : describe.skip;
if (!mariadbServerUrl()) console.warn("*** SKIPPED: epoch adoption [mariadb] — no MariaDB server ***");

maria("migrate --from-epoch [mariadb]", () => {
  for (const shape of ["v0.1.7", "older"] as EpochShape[]) {
    it(`adopts the ${shape} shape: tokens, repositories, tags, manifests, edges, blobs, aggregates`, async () => {
      const env = await setup(shape);
      const { db, epoch } = env;
      const tags = adoptable(env);
      const repositories = [...new Set(tags.map((t) => t.repository))].sort();
      const lines: string[] = [];
      const result = await migrateFromEpoch(db, { print: (l) => lines.push(l) });
      expect(result.outcome).toBe("adopted");

      // Tokens: ids, names, creators, times and hashes kept; registry scopes only; no expiry.
      expect(await tokenRows(db)).toEqual(expectedTokens());

      // Tags: everything Epoch held that a sync would index (not the manifest with a negative size).
      expect(epoch.tags.map((t) => `${t.repository}:${t.tag}`)).toContain("broken/invalid:negative");
      expect(await adoptedTags(db)).toEqual(expectedTags(env, shape));
      const idPairs: Array<{ epoch: unknown; ours: unknown }> = await db.ds.query(
        `SELECT e.id AS epoch, t.id AS ours FROM epoch_v0_tags e JOIN epoch_v0_repositories er ON er.id = e.repository_id
JOIN repositories r ON r.name = er.name JOIN tags t ON t.repository_id = r.id AND t.name = e.name`,
      );
      expect(idPairs).toHaveLength(tags.length);
      for (const p of idPairs) expect(toNumber(p.ours)).toBe(toNumber(p.epoch));

      // Manifests deduplicated by digest; image manifests get their blob edges, indexes wait for the sync.
      const digests = new Set(tags.map((t) => t.digest));
      expect(toNumber((await db.ds.query("SELECT COUNT(*) AS n FROM manifests"))[0].n)).toBe(digests.size);
      const edges: Array<{ manifest: string; blobDigest: string }> = await db.ds.query(
        "SELECT m.digest AS manifest, e.blob_digest AS blobDigest FROM manifest_blobs e JOIN manifests m ON m.id = e.manifest_id",
      );
      const expectedEdges = new Set(
        tags.filter((t) => !isIndex(t)).flatMap((t) => t.blobs.map((b) => `${t.digest} ${b.digest}`)),
      );
      expect(new Set(edges.map((e) => `${e.manifest} ${e.blobDigest}`))).toEqual(expectedEdges);
      const children: Array<{ n: unknown }> = await db.ds.query("SELECT COUNT(*) AS n FROM manifest_children");
      const indexDigests = new Map(tags.filter(isIndex).map((t) => [t.digest, t.layerCount]));
      expect(toNumber(children[0]!.n)).toBe([...indexDigests.values()].reduce((a, b) => a + b, 0));

      // Blobs: every blob Epoch knew (but the negative size of the invalid manifest), `sha256:`-prefixed;
      // ref counts from the edges known so far.
      const blobs: Array<Record<string, unknown>> = await db.ds.query(
        "SELECT digest, size, media_type, ref_count FROM blobs",
      );
      const epochBlobs: Array<{ digest: string }> = await db.ds.query(
        "SELECT digest FROM epoch_v0_blobs WHERE size >= 0",
      );
      expect(toNumber((await db.ds.query("SELECT COUNT(*) AS n FROM epoch_v0_blobs WHERE size < 0"))[0].n)).toBe(1);
      expect(new Set(blobs.map((b) => b.digest))).toEqual(new Set(epochBlobs.map((b) => `sha256:${b.digest}`)));
      const refs = expectedRefCounts(tags.filter((t) => !isIndex(t)));
      for (const b of blobs) {
        const want = refs.get(String(b.digest));
        expect({ digest: b.digest, refCount: toNumber(b.ref_count), size: toNumber(b.size) }).toEqual({
          digest: b.digest,
          refCount: want?.refCount ?? 0,
          size: want?.size ?? toNumber(b.size),
        });
      }

      // Repository aggregates and the stats row.
      const repos: Array<Record<string, unknown>> = await db.ds.query(
        "SELECT name, tag_count, catalog_updated_at FROM repositories ORDER BY name",
      );
      expect(repos.map((r) => r.name)).toEqual(repositories);
      for (const r of repos) {
        expect(toNumber(r.tag_count)).toBe(tags.filter((t) => t.repository === r.name).length);
        // NULL: the first sync never skips an adopted repository.
        expect(r.catalog_updated_at).toBeNull();
      }
      const [stats] = await db.ds.query("SELECT repository_count, tag_count FROM registry_stats");
      expect({ repos: toNumber(stats.repository_count), tags: toNumber(stats.tag_count) }).toEqual({
        repos: repositories.length,
        tags: tags.length,
      });

      // Epoch's tables are kept, renamed, untouched; ours replace them; the schema is exactly ours.
      const tables = await tableNames(db);
      for (const t of EPOCH_TABLES) expect(tables).toContain(`epoch_v0_${t}`);
      expect(toNumber((await db.ds.query("SELECT COUNT(*) AS n FROM epoch_v0_tags"))[0].n)).toBe(epoch.tags.length);
      expect((await db.ds.driver.createSchemaBuilder().log()).upQueries.map((q) => q.query)).toEqual([]);
      await expect(assertMigrated(db)).resolves.toBeUndefined();
      expect(lines).toContain("adopted the Epoch database");
      expect(lines.some((l) => l.includes("token_plain"))).toBe(shape === "older");
    });
  }

  it("dry run: plans every table and writes nothing", async () => {
    const env = await setup();
    const { db, statements } = env;
    const tags = adoptable(env);
    const before = await tableNames(db);
    statements.reset();
    const lines: string[] = [];
    const result = await migrateFromEpoch(db, { dryRun: true, print: (l) => lines.push(l) });
    // It did read (the counter sees this code's statements), and wrote nothing.
    expect(statements.matching(/^\s*SELECT\b/i).length).toBeGreaterThan(5);
    expect(statements.matching(WRITES)).toEqual([]);
    expect(await tableNames(db)).toEqual(before);
    if (result.outcome !== "planned") throw new Error(`unexpected ${result.outcome}`);
    expect(result.plan).toMatchObject({
      tokens: EPOCH_TOKENS.map((t) => ({ id: t.id, name: t.name, createdBy: t.createdBy })),
      repositories: new Set(tags.map((t) => t.repository)).size,
      tags: tags.length,
      manifests: new Set(tags.map((t) => t.digest)).size,
      indexManifests: new Set(tags.filter(isIndex).map((t) => t.digest)).size,
      skippedCount: 1,
    });
    expect(result.plan.skipped[0]!.what).toBe("tag broken/invalid:negative");
    expect(lines.join("\n")).toMatch(/dry run: nothing was written/);

    // The plan is what the adoption then writes.
    const done = await adoptEpochDatabase(db);
    if (done.outcome !== "adopted") throw new Error(`unexpected ${done.outcome}`);
    const { plan } = result;
    expect(done.counts).toMatchObject({
      tokens: plan.tokens.length,
      repositories: plan.repositories,
      tags: plan.tags,
      manifests: plan.manifests,
      indexesAwaitingSync: plan.indexManifests,
      blobs: plan.blobs,
    });
  });

  it("a re-run on an adopted database says so and writes nothing; --drop-legacy then drops epoch_v0_*", async () => {
    const { db } = await setup();
    await migrateFromEpoch(db, quiet);
    const dump = await dumpIndex(db);
    statements(db).reset();
    const lines: string[] = [];
    const again = await migrateFromEpoch(db, { print: (l) => lines.push(l) });
    expect(again.outcome).toBe("already-adopted");
    expect(statements(db).count).toBeGreaterThan(0);
    expect(statements(db).matching(WRITES)).toEqual([]);
    expect(await dumpIndex(db)).toEqual(dump);
    expect(lines[0]).toContain("adopted from Epoch already");

    const dropped = await migrateFromEpoch(db, { dropLegacy: true, ...quiet });
    expect(dropped).toMatchObject({
      outcome: "already-adopted",
      droppedLegacy: EPOCH_TABLES.map((t) => `epoch_v0_${t}`).sort(byTable),
    });
    expect((await tableNames(db)).filter((t) => t.startsWith("epoch_v0_"))).toEqual([]);
    expect(await dumpIndex(db)).toEqual(dump);
    expect(await tokenRows(db)).toEqual(expectedTokens());
  });

  it("an adoption crashed after any step is finished by running it again, to the same result", async () => {
    const reference = await setup();
    await adoptEpochDatabase(reference.db, { batchSize: 4 });
    const want = { index: await dumpIndex(reference.db), tokens: await tokenRows(reference.db) };
    const points: AdoptionFaultPoint[] = [
      "after-rename",
      "after-schema",
      "after-tokens",
      "after-first-catalog-batch",
      "after-catalog",
      "after-blobs",
    ];
    for (const point of points) {
      const { db } = await setup();
      const crash = adoptEpochDatabase(db, {
        batchSize: 4,
        holder: "killed",
        faultPoints: (p) => {
          if (p === point) throw new SimulatedAdoptionCrash(p);
        },
      });
      await expect(crash).rejects.toBeInstanceOf(SimulatedAdoptionCrash);
      // Half-adopted: neither `migrate` nor `serve` may use it.
      await expect(migrate(db)).rejects.toThrow(/migrate --from-epoch/);
      // A dry run now says what is left, and still writes nothing.
      statements(db).reset();
      const planned = await adoptEpochDatabase(db, { dryRun: true });
      expect(planned, point).toMatchObject({
        outcome: "planned",
        state: { kind: "adopting" },
        plan: { tokens: expect.any(Array) },
      });
      expect(statements(db).matching(WRITES), point).toEqual([]);
      // kill -9 leaves the lease held until it expires; let it expire now instead of waiting.
      await db.ds.query("UPDATE coordination SET expires_at = '2000-01-01 00:00:00' WHERE name = 'migration'");
      const resumed: AdoptionResult = await adoptEpochDatabase(db, { batchSize: 4, holder: "second" });
      expect(resumed, point).toMatchObject({ outcome: "adopted", resumedAfter: expect.any(String) });
      expect(await dumpIndex(db), point).toEqual(want.index);
      expect(await tokenRows(db), point).toEqual(want.tokens);
      await expect(assertMigrated(db)).resolves.toBeUndefined();
      await closeEnv(db);
    }
  });

  it("two adopters at once: one adopts, the other waits for the lease and finds it done", async () => {
    const { db, test } = await setup();
    const other = await openDatabase(test.url);
    try {
      const results = await Promise.all([
        adoptEpochDatabase(db, { holder: "a" }),
        adoptEpochDatabase(other, { holder: "b" }),
      ]);
      expect(results.map((r) => r.outcome).sort()).toEqual(["adopted", "already-adopted"]);
      expect(await tokenRows(db)).toEqual(expectedTokens());
    } finally {
      await other.close();
    }
  });

  it("a kill inside the schema migration (tables created, none recorded) is repaired by running again", async () => {
    const { db } = await setup();
    const crash = adoptEpochDatabase(db, {
      holder: "killed",
      faultPoints: (p) => {
        if (p === "after-rename") throw new SimulatedAdoptionCrash(p);
      },
    });
    await expect(crash).rejects.toBeInstanceOf(SimulatedAdoptionCrash);
    // What MySQL's statement-by-statement DDL commit leaves when killed mid-migration.
    const runner = db.ds.createQueryRunner();
    const defs = initialTables(db.dialect);
    for (const t of ["namespaces", "repositories", "manifests"]) await runner.createTable(buildTable(t, defs[t]!));
    await runner.release();
    await db.ds.query("UPDATE coordination SET expires_at = '2000-01-01 00:00:00' WHERE name = 'migration'");
    const resumed = await adoptEpochDatabase(db, {});
    expect(resumed).toMatchObject({ outcome: "adopted", resumedAfter: "renamed" });
    expect(await tokenRows(db)).toEqual(expectedTokens());
  });

  it("refuses an unrecognised schema and changes nothing", async () => {
    const cases: Array<[string, string, RegExp]> = [
      ["an unknown column", "ALTER TABLE tags ADD COLUMN labels TEXT", /tags\.labels is not a column Epoch creates/],
      ["a missing table", "DROP TABLE blobs", /table blobs is missing/],
      [
        "a wrong type",
        "ALTER TABLE tokens MODIFY token_hash VARCHAR(128) NOT NULL",
        /tokens\.token_hash is varchar\(128\), expected hex64/,
      ],
      [
        "one of our tables beside Epoch's",
        "CREATE TABLE manifests (id INT PRIMARY KEY)",
        /table manifests already exists/,
      ],
    ];
    for (const [what, sql, message] of cases) {
      const { db, epoch } = await setup();
      await epoch.query(sql);
      const before = await tableNames(db);
      statements(db).reset();
      await expect(adoptEpochDatabase(db), what).rejects.toThrow(message);
      await expect(adoptEpochDatabase(db, { dryRun: true }), what).rejects.toThrow(/does not look like an Epoch/);
      expect(statements(db).matching(WRITES), what).toEqual([]);
      expect(await tableNames(db), what).toEqual(before);
      await closeEnv(db);
    }
  });

  it("refuses SQLite and databases without Epoch's tables", async () => {
    const sqlite = await createTestDatabase("sqlite");
    const lite = await openDatabase(sqlite.url);
    try {
      await expect(adoptEpochDatabase(lite)).rejects.toThrow(
        /MySQL\/MariaDB database Epoch itself used; this is SQLite/,
      );
    } finally {
      await lite.close();
      await sqlite.drop();
    }
    const empty = await createTestDatabase("mariadb");
    const db = await openDatabase(empty.url);
    try {
      await expect(adoptEpochDatabase(db)).rejects.toThrow(/no Epoch tables/);
      await migrate(db);
      await expect(adoptEpochDatabase(db)).rejects.toThrow(/already an epoch-meta database/);
    } finally {
      await db.close();
      await empty.drop();
    }
  });

  it("`migrate` and `serve --no-migrate` refuse an unadopted Epoch database, naming `migrate --from-epoch`", async () => {
    const { db } = await setup();
    await expect(migrate(db)).rejects.toThrow(
      /stop Epoch's writers, back up, then run `epoch-meta migrate --from-epoch`/,
    );
    await expect(assertMigrated(db)).rejects.toThrow(/epoch-meta migrate --from-epoch/);
    expect((await tableNames(db)).sort()).toEqual([...EPOCH_TABLES].sort());
  });
});

function byTable(a: string, b: string): number {
  const order = ["epoch_v0_tags", "epoch_v0_repositories", "epoch_v0_blobs", "epoch_v0_tokens"];
  return order.indexOf(a) - order.indexOf(b);
}

/** The statement counter of the environment that owns `db`. */
function statements(db: Database): StatementCounter {
  const env = envs.find((e) => e.db === db);
  if (!env) throw new Error("no environment for this database");
  return env.statements;
}

/** Frees one environment early (loops create several per test). */
async function closeEnv(db: Database): Promise<void> {
  const i = envs.findIndex((e) => e.db === db);
  if (i < 0) return;
  const [e] = envs.splice(i, 1);
  await e!.epoch.close();
  await e!.db.close();
  await e!.test.drop();
}
