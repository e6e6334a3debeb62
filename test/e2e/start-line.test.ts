/**
 * What the server says at start: the "serving" line names the database detected (kind and
 * version) and the storage URL, credentials redacted; a directory store whose root does not
 * exist is a warning at start, but for the embedded default's, which the start creates. A database
 * that cannot be used stops the start with one line saying which of unreachable / unknown database
 * / bad credentials it is.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/data-source.js";
import { redactUrl } from "../../src/logger.js";
import { MAIN, runCli, TSX } from "../helpers/cli.js";
import { createTestDatabase, forEachDialect, mariadbServerUrl, type TestDatabase } from "../helpers/database.js";
import { startE2EServer, type E2EServer } from "../helpers/e2e-server.js";
import { captureLogs, type LogCapture } from "../helpers/log-capture.js";

forEachDialect("the start line", (dialect) => {
  let testDb: TestDatabase | undefined;
  let s: E2EServer | undefined;
  let logs: LogCapture | undefined;
  let parent: string | undefined;
  afterEach(async () => {
    await s?.stop();
    logs?.restore();
    await testDb?.drop();
    if (parent) rmSync(parent, { recursive: true, force: true });
  });

  it("names the database kind and version and the storage URL, and warns about a missing registry root", async () => {
    testDb = await createTestDatabase(dialect);
    parent = mkdtempSync(join(tmpdir(), "epoch-start-"));
    const root = join(parent, "registry");
    logs = captureLogs();
    s = await startE2EServer({ databaseUrl: testDb.url, storageUrl: `file:${root}`, env: { EPOCH_LOG_LEVEL: "info" } });
    const lines = logs.lines();
    const serving = lines.find((l) => l.msg === "serving");
    expect(serving?.database).toMatch(dialect === "sqlite" ? /^SQLite 3\.\d+/ : /^MariaDB \d+\.\d+\.\d+$/);
    expect(serving?.databaseUrl).toBe(testDb.url);
    expect(serving?.storage).toBe(`file:${root}`);
    const warning = lines.find((l) => l.level === "warn" && String(l.msg).includes("does not exist"));
    expect(warning?.msg).toContain(`registry root ${root} does not exist`);
  });
});

describe("the embedded default (`npm start` on a fresh checkout)", () => {
  it("creates ./data/registry beside ./data/epoch.db, so the start-up sync indexes an empty registry", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "epoch-default-"));
    try {
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        EPOCH_LISTEN: "127.0.0.1:0",
        EPOCH_LOG_LEVEL: "info",
        EPOCH_GC_INTERVAL: "0",
      };
      delete env.EPOCH_STORAGE_URL;
      delete env.EPOCH_DATABASE_URL;
      const child = spawn(process.execPath, ["--import", TSX, MAIN, "serve"], { cwd, env });
      let out = "";
      const exited = new Promise((done) => child.on("close", done));
      const synced = new Promise<void>((done, fail) => {
        const read = (d: Buffer) => {
          out += d.toString();
          if (out.includes('"msg":"sync finished"')) done();
        };
        // Log lines may come on either stream (pino's destination depends on how it was started).
        child.stdout.on("data", read);
        child.stderr.on("data", read);
        child.on("close", () => fail(new Error(`serve exited before its first sync:\n${out}`)));
      });
      await synced.finally(() => child.kill("SIGTERM"));
      await exited;
      const lines = out
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(existsSync(join(cwd, "data", "registry"))).toBe(true);
      expect(lines.find((l) => l.msg === "sync finished")).toMatchObject({ trigger: "start", state: "SUCCEEDED" });
      expect(lines.filter((l) => String(l.msg).includes("does not exist"))).toEqual([]);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  }, 60_000);
});

describe("redactUrl", () => {
  it("keeps everything but the password", () => {
    expect(redactUrl("mysql://epoch:s3cr%23t@db.internal:3306/epoch")).toBe("mysql://epoch:***@db.internal:3306/epoch");
    expect(redactUrl("mariadb://root@127.0.0.1/epoch")).toBe("mariadb://root@127.0.0.1/epoch");
    expect(redactUrl("sqlite:./data/epoch.db")).toBe("sqlite:./data/epoch.db");
    expect(redactUrl("s3://bucket/prefix?endpoint=http://minio:9000")).toBe(
      "s3://bucket/prefix?endpoint=http://minio:9000",
    );
  });
});

describe.skipIf(!mariadbServerUrl())("database connection errors", () => {
  const server = () => new URL(mariadbServerUrl()!);
  const urlWith = (change: (u: URL) => void) => {
    const u = server();
    change(u);
    return u.toString();
  };

  it("tells an unknown database (with the CREATE DATABASE hint), bad credentials and an unreachable server apart", async () => {
    const unknown = urlWith((u) => (u.pathname = "/epoch_no_such_database"));
    await expect(openDatabase(unknown)).rejects.toThrow(
      /database "epoch_no_such_database" does not exist on .*: create it with CREATE DATABASE `epoch_no_such_database`/,
    );
    const badUser = urlWith((u) => {
      u.username = "epoch_no_such_user";
      u.password = "wrong";
      u.pathname = "/test";
    });
    const refused = openDatabase(badUser);
    await expect(refused).rejects.toThrow(/refused user "epoch_no_such_user": bad credentials/);
    await expect(refused).rejects.not.toThrow(/wrong/);
    const unreachable = urlWith((u) => {
      u.host = "127.0.0.1:1";
      u.pathname = "/test";
    });
    await expect(openDatabase(unreachable)).rejects.toThrow(
      /database 127\.0\.0\.1:1 is unreachable \(connection refused\)/,
    );
  });

  it("stops `serve` with one line", async () => {
    const run = await runCli(["serve"], {
      EPOCH_DATABASE_URL: urlWith((u) => (u.pathname = "/epoch_no_such_database")),
      EPOCH_LISTEN: "127.0.0.1:0",
      EPOCH_SYNC_INTERVAL: "0",
      EPOCH_LOG_LEVEL: "warn",
    });
    expect(run.code).toBe(1);
    const lines = run.stderr.split("\n").filter((l) => l !== "");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^epoch-meta: database "epoch_no_such_database" does not exist on .*CREATE DATABASE/);
  }, 60_000);
});
