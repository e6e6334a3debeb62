/**
 * ListTags and GetStats through the real server (gRPC, generated client) on MariaDB, beside the
 * bare indexed SELECT measured in the same run. Goal (issue 6): p50 of ListTags < 10 ms and
 * ≤ 2× the SELECT, for the first page and the 500th page of 100. Two SELECTs are measured with a
 * bare mysql2 connection: the service's own statement for that page (`select`, the goal's
 * reference: tags joined to their manifests' media types and platform sizes) and `tags` alone
 * with the repository id known (`tags_only_select`, a floor no join can reach). The reference is
 * measured the way the service runs that statement: text protocol (`query`, not a prepared
 * `execute`), mysql2's callback API, and the service's own connection options
 * (MYSQL_CONNECTION_OPTIONS: charset, time zone, big-number decoding) — only the pool checkout
 * is left out. GetStats shows the fixed cost of one gRPC call (client and server share this
 * process).
 *
 * Two floor rows show what no service code can beat: a second grpc-js server in this process
 * (src/server.ts's message limits) answers a prebuilt copy of the page-1 response — encoded per
 * call by the generated serializer, decoded by the generated client — either at once
 * (`floor: gRPC, prebuilt page`) or after running the page-1 SELECT on its own bare connection
 * (`floor: gRPC + SELECT, prebuilt page`). They are timed in the page-1 group.
 *
 *   npx tsx bench/list.ts                          # 20k tags (deepest page: 200)
 *   EPOCH_BENCH_LIST_TAGS=100000 npx tsx bench/list.ts
 *
 * A label case (issue 15): `labels."env"==prod` matches 1 % of the tags (every 100th); its first
 * page is timed beside the service's own SQL for it, the bare label-index range alone
 * (`tags_only_select`: tag names from ix_tag_labels_value), and the "gRPC + SELECT" floor for
 * the same page (the floor server runs that SQL and answers the prebuilt label page), all in one
 * interleaved group (goal: p50 < 10 ms and ≤ 1.2× that floor).
 *
 * Env: EPOCH_BENCH_LIST_TAGS (20000; 10000 with --quick), EPOCH_BENCH_LIST_ITERATIONS (200; 50 with --quick),
 * EPOCH_BENCH_MARIADB_URL (mysql://root@127.0.0.1:3306/). Creates and drops its own database.
 */
import { createHash, randomBytes } from "node:crypto";

import { credentials, Server, ServerCredentials, type UntypedServiceImplementation } from "@grpc/grpc-js";
import {
  MetadataServiceClient,
  MetadataServiceService,
  type GetStatsResponse,
  type ListTagsRequest,
  type ListTagsResponse,
} from "epoch-meta-client/epoch/v1/metadata_service";
import mysqlCallback from "mysql2";
import mysql from "mysql2/promise";
import { createApp } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { MYSQL_CONNECTION_OPTIONS } from "../src/db/data-source.js";
import { valueHash } from "../src/db/labels/label-tables.js";
import { tagPageSql, type TagOrder } from "../src/db/queries/tag-queries.js";

import { type BenchResult, isMain, printResult, quick } from "./bench-common.js";

const PAGE = 100;
const REPOSITORY = "bench/app";

function env(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`${name} must be a positive whole number`);
  return value;
}

const digest = (...parts: Array<string | number>) =>
  `sha256:${createHash("sha256").update(parts.join("/")).digest("hex")}`;
const sqlTime = (ms: number) => new Date(ms).toISOString().replace("T", " ").replace("Z", "");

/** Bulk multi-row INSERTs straight through mysql2: 100k tags in a few seconds. */
async function seed(conn: mysql.Connection, tags: number): Promise<void> {
  const [[ns]] = (await conn.query("SELECT id FROM namespaces WHERE name = 'default'")) as unknown as [
    [{ id: number }],
  ];
  const t0 = Date.UTC(2024, 0, 1);
  await conn.query(
    "INSERT INTO repositories (namespace_id, name, tag_count, total_size, artifact_type, kind, created_at, updated_at) VALUES (?, ?, ?, 0, '', 'CONTAINER_IMAGE', ?, ?)",
    [ns.id, REPOSITORY, tags, sqlTime(t0), sqlTime(t0 + tags * 1000)],
  );
  const [[repo]] = (await conn.query("SELECT id FROM repositories WHERE name = ?", [REPOSITORY])) as unknown as [
    [{ id: number }],
  ];
  // Tags share 1000 manifests (a realistic many-tags-per-digest ratio for CI-built images).
  const manifests = Math.min(1000, tags);
  const manifestRows = Array.from({ length: manifests }, (_, i) => [
    ns.id,
    digest("m", i),
    "application/vnd.oci.image.manifest.v1+json",
    "",
    "CONTAINER_IMAGE",
    `{"schemaVersion":2,"n":${i}}`,
    1000 + i,
    2,
  ]);
  await conn.query(
    "INSERT INTO manifests (namespace_id, digest, media_type, artifact_type, kind, json, total_size, layer_count) VALUES ?",
    [manifestRows],
  );
  const [firstManifest] = (await conn.query("SELECT MIN(id) AS id FROM manifests")) as unknown as [[{ id: number }]];
  const base = Number(firstManifest[0].id);
  for (let start = 0; start < tags; start += 2000) {
    const rows = [];
    for (let i = start; i < Math.min(tags, start + 2000); i++) {
      const m = i % manifests;
      // Push times repeat every 5000 tags and sizes every 997: both orders have ties to break by name.
      rows.push([
        repo.id,
        `t${String(i).padStart(6, "0")}`,
        base + m,
        digest("m", m),
        "CONTAINER_IMAGE",
        1000 + (i % 997),
        sqlTime(t0 + (i % 5000) * 1000),
        0,
        sqlTime(t0),
        null,
      ]);
    }
    await conn.query(
      "INSERT INTO tags (repository_id, name, manifest_id, digest, kind, total_size, pushed_at, incomplete, indexed_at, synced_at) VALUES ?",
      [rows],
    );
  }
  // Labels: env=prod on every 100th tag (1 %), env=dev on the others, so the label index holds every tag.
  for (let start = 0; start < tags; start += 2000) {
    const rows = [];
    for (let i = start; i < Math.min(tags, start + 2000); i++) {
      const value = i % 100 === 0 ? "prod" : "dev";
      rows.push([repo.id, `t${String(i).padStart(6, "0")}`, "env", value, valueHash(value)]);
    }
    await conn.query(
      "INSERT INTO tag_labels (repository_id, tag_name, label_key, label_value, value_sha256) VALUES ?",
      [rows],
    );
  }
  await conn.query(
    "INSERT INTO registry_stats (namespace_id, repository_count, tag_count, blob_count, total_size, kinds, last_sync_at) VALUES (?, 1, ?, 0, 0, ?, ?)",
    [ns.id, tags, JSON.stringify({ CONTAINER_IMAGE: tags }), sqlTime(t0)],
  );
  await conn.query("ANALYZE TABLE tags, manifests, repositories, tag_labels");
}

interface Percentiles {
  p50: number;
  p95: number;
}

/**
 * Times several operations interleaved (a, b, c, b, c, a, c, a, b, …), so load from other
 * processes on a shared machine falls on all of them alike and their ratio stays meaningful; the
 * order rotates so that no operation always runs right after the same other one.
 */
async function timed(iterations: number, ...fns: Array<() => Promise<unknown>>): Promise<Percentiles[]> {
  for (let i = 0; i < Math.min(20, iterations); i++) for (const fn of fns) await fn(); // warm-up: pool, JIT, buffer pool
  const samples = fns.map(() => [] as number[]);
  for (let i = 0; i < iterations; i++) {
    for (let j = 0; j < fns.length; j++) {
      const k = (i + j) % fns.length;
      const start = performance.now();
      await fns[k]!();
      samples[k]!.push(performance.now() - start);
    }
  }
  return samples.map((list) => {
    list.sort((a, b) => a - b);
    const at = (q: number) => Number(list[Math.min(list.length - 1, Math.floor(q * list.length))]!.toFixed(3));
    return { p50: at(0.5), p95: at(0.95) };
  });
}

function listTags(
  client: MetadataServiceClient,
  orderBy: string,
  pageToken: string,
  filter: string[] = [],
): Promise<ListTagsResponse> {
  return new Promise((resolve, reject) =>
    client.listTags({ repository: REPOSITORY, pageSize: PAGE, pageToken, filter, orderBy }, (e, res) =>
      e ? reject(e) : resolve(res),
    ),
  );
}

/** Walks to page `n` (1-based) and returns its token and the last row of page n-1 (for the SELECT). */
async function tokenOfPage(
  client: MetadataServiceClient,
  orderBy: string,
  n: number,
): Promise<{ token: string; last?: ListTagsResponse["tags"][number] }> {
  let token = "";
  let last: ListTagsResponse["tags"][number] | undefined;
  for (let page = 1; page < n; page++) {
    const res = await listTags(client, orderBy, token);
    token = res.nextPageToken;
    last = res.tags[res.tags.length - 1];
  }
  return { token, last };
}

export async function run(): Promise<BenchResult> {
  const tags = env("EPOCH_BENCH_LIST_TAGS", quick() ? 10_000 : 20_000);
  const iterations = env("EPOCH_BENCH_LIST_ITERATIONS", quick() ? 50 : 200);
  const deepPage = Math.min(500, Math.ceil(tags / PAGE));
  const serverUrl = new URL(process.env.EPOCH_BENCH_MARIADB_URL ?? "mysql://root@127.0.0.1:3306/");
  const database = `epoch_bench_list_${process.pid}_${randomBytes(3).toString("hex")}`;
  const connect = (db?: string) =>
    mysql.createConnection({
      host: serverUrl.hostname,
      port: Number(serverUrl.port || 3306),
      user: decodeURIComponent(serverUrl.username || "root"),
      password: decodeURIComponent(serverUrl.password),
      ...(db && { database: db }),
      timezone: "Z",
    });
  const admin = await connect();
  await admin.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  const dbUrl = new URL(serverUrl);
  dbUrl.pathname = `/${database}`;
  const app = await createApp(
    loadConfig({
      EPOCH_DATABASE_URL: dbUrl.toString().replace(/^mysql:/, "mariadb:"),
      EPOCH_LISTEN: "127.0.0.1:0",
      EPOCH_SYNC_INTERVAL: "0",
      EPOCH_LOG_LEVEL: "silent",
    }),
  );
  const client = new MetadataServiceClient(`127.0.0.1:${app.server.port}`, credentials.createInsecure());
  const conn = await connect(database);
  // The reference connections: the service's connection options and mysql2's callback API.
  const referenceOptions = {
    host: serverUrl.hostname,
    port: Number(serverUrl.port || 3306),
    user: decodeURIComponent(serverUrl.username || "root"),
    password: decodeURIComponent(serverUrl.password),
    database,
    ...MYSQL_CONNECTION_OPTIONS,
  };
  const reference = mysqlCallback.createConnection(referenceOptions);
  const floorConnection = mysqlCallback.createConnection(referenceOptions);
  const select = (on: mysqlCallback.Connection, sql: string, params: unknown[]) =>
    new Promise<unknown>((resolve, reject) => on.query(sql, params, (e, rows) => (e ? reject(e) : resolve(rows))));
  const floor = await floorServer();
  const floorClient = new MetadataServiceClient(`127.0.0.1:${floor.port}`, credentials.createInsecure());
  try {
    const seedStart = performance.now();
    await seed(conn, tags);
    const seedSeconds = (performance.now() - seedStart) / 1000;
    const [[repo]] = (await conn.query("SELECT id FROM repositories WHERE name = ?", [REPOSITORY])) as unknown as [
      [{ id: number }],
    ];

    const rows: Array<Record<string, string | number>> = [];
    const cases: Array<{ order: TagOrder; page: number }> = [
      { order: "name", page: 1 },
      { order: "name", page: deepPage },
      { order: "push_time desc", page: deepPage },
      { order: "total_size desc", page: deepPage },
    ];
    for (const { order, page } of cases) {
      const { token, last } = await tokenOfPage(client, order, page);
      const check = await listTags(client, order, token);
      if (check.tags.length !== PAGE) throw new Error(`page ${page} of ${order} has ${check.tags.length} tags`);
      // The same page as the service's own SQL (join with repositories and manifests)...
      const after = !last
        ? undefined
        : order === "name"
          ? [last.name]
          : order === "push_time desc"
            ? [sqlTime(last.pushTime!.getTime()), last.name]
            : [last.totalSize, last.name];
      const serviceSql = tagPageSql("mariadb", { namespaceId: 1, repository: REPOSITORY, order, after, limit: PAGE });
      // ...and the bare indexed SELECT on `tags` alone, repository id known: the floor.
      const bare = bareSelect(order, repo.id, after);
      const withFloor = page === 1 && order === "name";
      if (withFloor) floor.set(check, () => select(floorConnection, serviceSql.sql, serviceSql.params));
      const [grpc, sameSql, bareSql, floorOnly, floorSelect] = await timed(
        iterations,
        () => listTags(client, order, token),
        () => select(reference, serviceSql.sql, serviceSql.params),
        () => select(reference, bare.sql, bare.params),
        ...(withFloor
          ? [() => listTags(floorClient, order, ""), () => listTags(floorClient, order, FLOOR_WITH_SELECT)]
          : []),
      );
      rows.push({
        case: `ListTags ${order} page ${page}`,
        grpc_p50_ms: grpc.p50,
        grpc_p95_ms: grpc.p95,
        select_p50_ms: sameSql.p50,
        tags_only_select_p50_ms: bareSql.p50,
        ratio_to_select: Number((grpc.p50 / sameSql.p50).toFixed(2)),
        p50_under_10ms: grpc.p50 < 10 ? "yes" : "NO",
        within_2x_select: grpc.p50 <= 2 * sameSql.p50 ? "yes" : "NO",
      });
      if (floorOnly && floorSelect) {
        for (const [name, p] of [
          ["floor: gRPC, prebuilt page", floorOnly],
          ["floor: gRPC + SELECT, prebuilt page", floorSelect],
        ] as const) {
          rows.push({
            case: name,
            grpc_p50_ms: p.p50,
            grpc_p95_ms: p.p95,
            select_p50_ms: sameSql.p50,
            tags_only_select_p50_ms: "-",
            ratio_to_select: Number((p.p50 / sameSql.p50).toFixed(2)),
            p50_under_10ms: "-",
            within_2x_select: p.p50 <= 2 * sameSql.p50 ? "yes" : "NO",
          });
        }
      }
    }
    // The label case: the first page of labels."env"==prod (1 % of the tags).
    const labelFilter = ['labels."env"==prod'];
    const labelled = await listTags(client, "name", "", labelFilter);
    if (labelled.tags.length !== Math.min(PAGE, Math.ceil(tags / 100)) || labelled.tags[0]?.labels.env !== "prod")
      throw new Error(`the label page has ${labelled.tags.length} tags`);
    const labelSql = tagPageSql("mariadb", {
      namespaceId: 1,
      repository: REPOSITORY,
      order: "name",
      limit: PAGE,
      filter: [[{ field: "labels", op: "labelEq", key: "env", value: "prod" }]],
    });
    const bareLabels = {
      sql: `SELECT tag_name FROM tag_labels FORCE INDEX (ix_tag_labels_value) WHERE repository_id = ? AND label_key = 'env' AND value_sha256 = ? ORDER BY tag_name LIMIT ${PAGE}`,
      params: [repo.id, valueHash("prod")],
    };
    // The floor for these rows: the floor server answers this very page after running its SQL.
    floor.set(labelled, () => select(floorConnection, labelSql.sql, labelSql.params));
    const [labelGrpc, labelSame, labelBare, labelFloor] = await timed(
      iterations,
      () => listTags(client, "name", "", labelFilter),
      () => select(reference, labelSql.sql, labelSql.params),
      () => select(reference, bareLabels.sql, bareLabels.params),
      () => listTags(floorClient, "name", FLOOR_WITH_SELECT),
    );
    rows.push({
      case: 'ListTags name labels."env"==prod (1 %) page 1',
      grpc_p50_ms: labelGrpc.p50,
      grpc_p95_ms: labelGrpc.p95,
      select_p50_ms: labelSame.p50,
      tags_only_select_p50_ms: labelBare.p50,
      ratio_to_select: Number((labelGrpc.p50 / labelSame.p50).toFixed(2)),
      p50_under_10ms: labelGrpc.p50 < 10 ? "yes" : "NO",
      // The label goal compares with the "gRPC + SELECT" floor for the same page (≤ 1.2×), not with 2× the SELECT.
      within_2x_select: `${(labelGrpc.p50 / labelFloor!.p50).toFixed(2)}× floor ${labelGrpc.p50 <= 1.2 * labelFloor!.p50 ? "(≤ 1.2: yes)" : "(≤ 1.2: NO)"}`,
    });
    rows.push({
      case: 'floor: gRPC + SELECT, prebuilt labels."env"==prod page',
      grpc_p50_ms: labelFloor!.p50,
      grpc_p95_ms: labelFloor!.p95,
      select_p50_ms: labelSame.p50,
      tags_only_select_p50_ms: "-",
      ratio_to_select: Number((labelFloor!.p50 / labelSame.p50).toFixed(2)),
      p50_under_10ms: "-",
      within_2x_select: "-",
    });
    const [stats, statsSelect] = await timed(
      iterations,
      () =>
        new Promise<GetStatsResponse>((resolve, reject) => client.getStats({}, (e, r) => (e ? reject(e) : resolve(r)))),
      () => select(reference, "SELECT * FROM registry_stats WHERE namespace_id = 1", []),
    );
    rows.push({
      case: "GetStats",
      grpc_p50_ms: stats.p50,
      grpc_p95_ms: stats.p95,
      select_p50_ms: statsSelect.p50,
      tags_only_select_p50_ms: "-",
      ratio_to_select: Number((stats.p50 / statsSelect.p50).toFixed(2)),
      p50_under_10ms: stats.p50 < 10 ? "yes" : "NO",
      // One primary-key row: the difference is the fixed cost of a gRPC call, not the query.
      within_2x_select: "-",
    });
    return {
      name: "list",
      rows,
      json: {
        tags,
        iterations,
        page_size: PAGE,
        deep_page: deepPage,
        seed_seconds: Number(seedSeconds.toFixed(1)),
        rows,
      },
    };
  } finally {
    client.close();
    floorClient.close();
    floor.server.forceShutdown();
    await app.stop();
    await conn.end();
    await new Promise((resolve) => reference.end(resolve));
    await new Promise((resolve) => floorConnection.end(resolve));
    await admin.query(`DROP DATABASE IF EXISTS \`${database}\``);
    await admin.end();
  }
}

const FLOOR_WITH_SELECT = "select";

/**
 * The floor server: MetadataService whose ListTags answers a prebuilt response (set per case),
 * after running `query` when the request's page_token is FLOOR_WITH_SELECT.
 */
async function floorServer() {
  let response: ListTagsResponse | undefined;
  let query: () => Promise<unknown> = () => Promise.resolve();
  const server = new Server({
    "grpc.max_receive_message_length": 4 * 1024 * 1024,
    "grpc.max_send_message_length": 4 * 1024 * 1024,
  });
  const listTags = (call: { request: ListTagsRequest }, callback: (e: Error | null, r?: ListTagsResponse) => void) => {
    if (call.request.pageToken !== FLOOR_WITH_SELECT) return callback(null, response);
    query().then(
      () => callback(null, response),
      (e: unknown) => callback(e as Error),
    );
  };
  server.addService(MetadataServiceService, { listTags } as unknown as UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return {
    server,
    port,
    set(page: ListTagsResponse, select: () => Promise<unknown>) {
      response = page;
      query = select;
    },
  };
}

function bareSelect(
  order: TagOrder,
  repositoryId: number,
  after: Array<string | number> | undefined,
): { sql: string; params: unknown[] } {
  const columns = "name, digest, kind, total_size, pushed_at, incomplete, indexed_at, synced_at";
  if (order === "name") {
    return {
      // The hint matters here too: without it MariaDB reads this page by a worse plan (~10× slower at page 500).
      sql: `SELECT ${columns} FROM tags FORCE INDEX (uq_tags_repository_name) WHERE repository_id = ?${after ? " AND name > ?" : ""} ORDER BY name LIMIT ${PAGE}`,
      params: after ? [repositoryId, after[0]] : [repositoryId],
    };
  }
  const column = order === "push_time desc" ? "pushed_at" : order === "total_size desc" ? "total_size" : "name";
  const index =
    order === "push_time desc"
      ? "ix_tags_push_time"
      : order === "total_size desc"
        ? "ix_tags_total_size"
        : "uq_tags_repository_name";
  const bound = !after
    ? ""
    : column === "name"
      ? " AND name < ?"
      : ` AND (${column} < ? OR (${column} = ? AND name < ?))`;
  const params = !after
    ? [repositoryId]
    : column === "name"
      ? [repositoryId, after[0]]
      : [repositoryId, after[0], after[0], after[1]];
  const orderBy = column === "name" ? "name DESC" : `${column} DESC, name DESC`;
  return {
    sql: `SELECT ${columns} FROM tags FORCE INDEX (${index}) WHERE repository_id = ?${bound} ORDER BY ${orderBy} LIMIT ${PAGE}`,
    params,
  };
}

if (isMain(import.meta)) {
  printResult(await run());
  process.exit(0);
}
