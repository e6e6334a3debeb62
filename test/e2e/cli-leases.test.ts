/**
 * `epoch-meta leases …` and `epoch-meta uploads list` against a real server, run in-process
 * (buildProgram().parseAsync, stdout captured) rather than spawned: the commands, their
 * arguments, --namespace and the output are what is under test, not process start-up.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { buildProgram } from "../../src/cli/program.js";
import { openDatabase } from "../../src/db/data-source.js";
import { TokenStore } from "../../src/db/tokens/token-store.js";
import { configureLogger } from "../../src/logger.js";
import { createToken } from "../../src/services/tokens/token-service.js";
import { createTestDatabase, type TestDatabase } from "../helpers/database.js";
import { startE2EServer, type E2EServer } from "../helpers/e2e-server.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

describe("leases and uploads CLI", () => {
  let dir: string;
  let testDb: TestDatabase;
  let s: E2EServer;
  const saved = { ...process.env };

  /** Runs one command; returns what it printed on stdout and stderr. */
  async function cli(...args: string[]): Promise<{ out: string; err: string }> {
    let out = "";
    let err = "";
    const stdout = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
      out += String(chunk);
      return true;
    });
    const stderr = vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
      err += String(chunk);
      return true;
    });
    try {
      await buildProgram()
        .exitOverride()
        .parseAsync(["node", "epoch-meta", ...args]);
    } finally {
      stdout.mockRestore();
      stderr.mockRestore();
    }
    return { out, err };
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "epoch-cli-leases-"));
    testDb = await createTestDatabase("sqlite");
    s = await startE2EServer({ databaseUrl: testDb.url, storageUrl: `file:${dir}`, env: { EPOCH_AUTH: "required" } });
    const db = await openDatabase(testDb.url);
    try {
      process.env.EPOCH_TOKEN = (await createToken(new TokenStore(db), { name: "ops", scopes: ["admin"] })).secret;
    } finally {
      await db.close();
    }
    process.env.EPOCH_SERVER = s.address;
    delete process.env.EPOCH_NAMESPACE;
  });
  afterAll(async () => {
    process.env = saved;
    await s?.stop();
    await testDb?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("creates, labels, lists, shows and deletes leases and their resources", async () => {
    expect((await cli("leases", "create", "ci-1", "--label", "env=prod", "--ttl", "2h")).out).toBe("ci-1\n");
    const generated = (await cli("leases", "create")).out.trim();
    expect(generated).toMatch(/^[0-9a-f-]{36}$/);
    await cli("leases", "label", "ci-1", "team=a", "env-");
    const listed = (await cli("leases", "list", "--filter", 'labels."team"==a')).out;
    expect(listed.split("\n")[0]).toMatch(/^ID\s+LABELS\s+CREATED\s+EXPIRES$/);
    expect(listed).toContain("ci-1");
    expect(listed).toContain("team=a");
    expect(listed).not.toContain(generated);
    const digest = `sha256:${"a".repeat(64)}`;
    await cli("leases", "add-resource", "ci-1", "blob", digest);
    await cli("leases", "add-resource", "ci-1", "upload", "up-1");
    expect((await cli("leases", "resources", "ci-1")).out).toBe(`KIND    ID\nblob    ${digest}\nupload  up-1\n`);
    await cli("leases", "rm-resource", "ci-1", "upload", "up-1");
    const json = JSON.parse((await cli("leases", "resources", "ci-1", "--json")).out);
    expect(json).toEqual({ resources: [{ kind: "LEASE_RESOURCE_KIND_BLOB", id: digest }] });
    const shown = JSON.parse((await cli("leases", "get", "ci-1", "--json")).out);
    expect(shown.lease).toMatchObject({ id: "ci-1", labels: { team: "a" } });
    await cli("leases", "delete", "ci-1");
    await cli("leases", "delete", generated);
    expect(JSON.parse((await cli("leases", "list", "--json")).out).leases ?? []).toEqual([]);
  });

  it("acts in --namespace, and lists uploads", async () => {
    await cli("namespaces", "create", "blue");
    await cli("leases", "create", "only-blue", "--namespace", "blue");
    expect((await cli("leases", "list", "--namespace", "blue")).out).toContain("only-blue");
    expect((await cli("leases", "list")).out).not.toContain("only-blue");
    const none = (await cli("uploads", "list")).out;
    expect(none.trim()).toBe("ID  REPOSITORY  STATE  DIGEST  SIZE  STARTED  EXPIRES");
  });
});
