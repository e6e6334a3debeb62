/**
 * The TokenService end to end, with real tokens: the per-RPC scope table of API
 * authentication (UNAUTHENTICATED / PERMISSION_DENIED with their reason trailer), every RPC
 * through the generated client, the `token` CLI (`create --offline` makes the first admin
 * token), and two `epoch-meta serve` processes on one MariaDB database proving cross-replica
 * revocation within 1 s, with no secret in any log line.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { credentials, status } from "@grpc/grpc-js";
import { MetadataServiceClient } from "epoch-meta-client/epoch/v1/metadata_service";
import {
  TokenInvalidReason,
  TokenServiceClient,
  type CreateTokenResponse,
  type ListTokensResponse,
  type ValidateTokenResponse,
} from "epoch-meta-client/epoch/v1/token_service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/data-source.js";
import { TokenStore } from "../../src/db/tokens/token-store.js";
import { configureLogger } from "../../src/logger.js";
import { generateSecret } from "../../src/services/tokens/token-secret.js";
import { MAIN, REPO_ROOT, runCli, TSX } from "../helpers/cli.js";
import { createTestDatabase, forEachDialect, mariadbServerUrl, type TestDatabase } from "../helpers/database.js";
import { call, callError, callMetadata, startE2EServer, type E2EServer } from "../helpers/e2e-server.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const newSecretLine = (out: string) => out.trim().split("\n").pop() ?? "";

forEachDialect("TokenService end to end", (dialect) => {
  let testDb: TestDatabase;
  let s: E2EServer;
  let admin: string;
  let service: string;
  let puller: string;
  let expired: string;
  const md = (secret?: string) => callMetadata(secret);

  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    // The first admin token is made offline, by the CLI, before any server runs (and migrates).
    const created = await runCli(["token", "create", "--offline", "--name", "ops", "--scope", "admin"], {
      EPOCH_DATABASE_URL: testDb.url,
      EPOCH_LOG_LEVEL: "warn",
    });
    expect(created.code, created.stderr).toBe(0);
    admin = newSecretLine(created.stdout);
    expect(admin).toMatch(/^epm_[0-9A-Za-z]{49}$/);
    expect(created.stderr).toContain('"ops": scopes admin');
    expect(created.stderr).not.toContain(admin);

    s = await startE2EServer({ databaseUrl: testDb.url, env: { EPOCH_AUTH: "required" } });
    const create = (name: string, scopes: string[]) =>
      call<CreateTokenResponse>((cb) =>
        s.tokens.createToken({ name, createdBy: "e2e", scopes, repositories: [], ttl: undefined }, md(admin), cb),
      );
    service = (await create("front-end", ["service"])).secret;
    puller = (await create("puller", ["pull", "push", "delete"])).secret;
    // An admin token that expired a second after it was made.
    const db = await openDatabase(testDb.url);
    try {
      const { createToken } = await import("../../src/services/tokens/token-service.js");
      expired = (
        await createToken(
          new TokenStore(db),
          { name: "old-admin", scopes: ["admin"], ttlMs: 1000 },
          Date.now() - 60_000,
        )
      ).secret;
    } finally {
      await db.close();
    }
  });
  afterAll(async () => {
    await s?.stop();
    await testDb?.drop();
  });

  const validate = (secret: string, repository = "", action = "", as = service) =>
    call<ValidateTokenResponse>((cb) => s.tokens.validateToken({ secret, repository, action }, md(as), cb));

  describe("API authentication with real tokens", () => {
    const rpcs: Array<[string, "service" | "admin", (secret: string | undefined) => Promise<unknown>]> = [
      [
        "ValidateToken",
        "service",
        (k) => call((cb) => s.tokens.validateToken({ secret: "x", repository: "", action: "" }, md(k), cb)),
      ],
      ["GetStats", "service", (k) => call((cb) => s.metadata.getStats({}, md(k), cb))],
      [
        "ListRepositories",
        "service",
        (k) =>
          call((cb) => s.metadata.listRepositories({ pageSize: 0, pageToken: "", filter: [], orderBy: "" }, md(k), cb)),
      ],
      ["ListTokens", "admin", (k) => call((cb) => s.tokens.listTokens({ pageSize: 0, pageToken: "" }, md(k), cb))],
      ["InvalidateTokenCache", "admin", (k) => call((cb) => s.tokens.invalidateTokenCache({}, md(k), cb))],
      [
        "CreateToken",
        "admin",
        (k) =>
          call((cb) =>
            s.tokens.createToken({ name: "m", createdBy: "", scopes: [], repositories: [], ttl: undefined }, md(k), cb),
          ),
      ],
    ];

    it.each(rpcs)(
      "%s refuses a missing, junk, unknown or expired credential with UNAUTHENTICATED",
      async (_name, _needs, rpc) => {
        for (const credential of [undefined, "junk", generateSecret(), expired]) {
          const err = await callError(rpc(credential));
          expect(err.code).toBe(status.UNAUTHENTICATED);
          expect(err.reason).toBe("ERROR_REASON_UNAUTHENTICATED");
          if (credential) expect(`${err.message} ${err.details}`).not.toContain(credential);
        }
      },
    );

    it.each(rpcs)(
      "%s applies the scope table: pull/push/delete nothing, service the reads, admin everything",
      async (_name, needs, rpc) => {
        const denied = await callError(rpc(puller));
        expect(denied.code).toBe(status.PERMISSION_DENIED);
        expect(denied.reason).toBe("ERROR_REASON_PERMISSION_DENIED");
        expect(`${denied.message} ${denied.details}`).not.toContain(puller);
        if (needs === "service") await expect(rpc(service)).resolves.toBeTruthy();
        else expect((await callError(rpc(service))).code).toBe(status.PERMISSION_DENIED);
        await expect(rpc(admin)).resolves.toBeTruthy();
      },
    );

    it("keeps health open without a credential", async () => {
      expect(await s.health.check("")).toBe("SERVING");
      expect(await s.health.check("epoch.v1.TokenService")).toBe("SERVING");
    });

    it("refuses a revoked token at once on the replica that revoked it", async () => {
      const made = await call<CreateTokenResponse>((cb) =>
        s.tokens.createToken(
          { name: "short-lived", createdBy: "", scopes: ["service"], repositories: [], ttl: undefined },
          md(admin),
          cb,
        ),
      );
      await expect(validate("x", "", "", made.secret)).resolves.toBeTruthy();
      await call((cb) => s.tokens.deleteToken({ id: made.token!.id }, md(admin), cb));
      expect((await callError(validate("x", "", "", made.secret))).code).toBe(status.UNAUTHENTICATED);
    });
  });

  describe("every RPC through the generated client", () => {
    it("CreateToken → ValidateToken → ListTokens → DeleteToken", async () => {
      const created = await call<CreateTokenResponse>((cb) =>
        s.tokens.createToken(
          {
            name: "ci",
            createdBy: "alice",
            scopes: ["push", "pull"],
            repositories: ["team/*"],
            ttl: { seconds: 3600, nanos: 0 },
          },
          md(admin),
          cb,
        ),
      );
      const t = created.token!;
      // created_by is the authenticated caller (the offline-made "ops" token), not the request's "alice".
      expect(t).toMatchObject({ name: "ci", scopes: ["pull", "push"], repositories: ["team/*"] });
      expect(t.createdBy).toMatch(/^token:\d+\/ops$/);
      expect(t.expireTime!.getTime() - t.createTime!.getTime()).toBe(3_600_000);

      expect(await validate(created.secret, "team/a/b", "push")).toMatchObject({
        valid: true,
        token: { id: t.id, name: "ci" },
      });
      expect(await validate(created.secret, "other", "pull")).toMatchObject({
        valid: false,
        reason: TokenInvalidReason.TOKEN_INVALID_REASON_SCOPE_DENIED,
      });
      expect(await validate(created.secret, "team/a", "delete")).toMatchObject({
        reason: TokenInvalidReason.TOKEN_INVALID_REASON_SCOPE_DENIED,
      });
      expect(await validate(generateSecret())).toEqual({
        valid: false,
        token: undefined,
        reason: TokenInvalidReason.TOKEN_INVALID_REASON_UNKNOWN_TOKEN,
      });
      expect(await validate("x".repeat(1024 * 1024))).toMatchObject({
        valid: false,
        reason: TokenInvalidReason.TOKEN_INVALID_REASON_MALFORMED,
      });
      expect(await validate(expired, "", "pull")).toMatchObject({
        valid: false,
        reason: TokenInvalidReason.TOKEN_INVALID_REASON_EXPIRED,
      });

      const names: string[] = [];
      let pageToken = "";
      do {
        const page = await call<ListTokensResponse>((cb) =>
          s.tokens.listTokens({ pageSize: 2, pageToken }, md(admin), cb),
        );
        expect(JSON.stringify(page)).not.toContain(created.secret);
        names.push(...page.tokens.map((x) => x.name));
        pageToken = page.nextPageToken;
      } while (pageToken);
      expect(names).toContain("ci");

      await call((cb) => s.tokens.deleteToken({ id: t.id }, md(admin), cb));
      expect(await validate(created.secret)).toMatchObject({
        valid: false,
        reason: TokenInvalidReason.TOKEN_INVALID_REASON_UNKNOWN_TOKEN,
      });
      const gone = await callError(call((cb) => s.tokens.deleteToken({ id: t.id }, md(admin), cb)));
      expect([gone.code, gone.reason]).toEqual([status.NOT_FOUND, "ERROR_REASON_TOKEN_NOT_FOUND"]);
      await call((cb) => s.tokens.invalidateTokenCache({}, md(admin), cb));
    });

    it("answers bad input with INVALID_ARGUMENT and its reason", async () => {
      const bad = async (p: Promise<unknown>) => {
        const e = await callError(p);
        return [e.code, e.reason];
      };
      const create = (req: Partial<Parameters<TokenServiceClient["createToken"]>[0]>) =>
        call((cb) =>
          s.tokens.createToken(
            { name: "n", createdBy: "", scopes: [], repositories: [], ttl: undefined, ...req },
            md(admin),
            cb,
          ),
        );
      expect(await bad(validate(admin, "", "write"))).toEqual([
        status.INVALID_ARGUMENT,
        "ERROR_REASON_INVALID_ARGUMENT",
      ]);
      expect(await bad(validate(admin, "Not/A/Name", "pull"))).toEqual([
        status.INVALID_ARGUMENT,
        "ERROR_REASON_INVALID_NAME",
      ]);
      expect(await bad(create({ name: "" }))).toEqual([status.INVALID_ARGUMENT, "ERROR_REASON_INVALID_ARGUMENT"]);
      expect(await bad(create({ scopes: ["root"] }))).toEqual([
        status.INVALID_ARGUMENT,
        "ERROR_REASON_INVALID_ARGUMENT",
      ]);
      expect(await bad(create({ ttl: { seconds: -1, nanos: 0 } }))).toEqual([
        status.INVALID_ARGUMENT,
        "ERROR_REASON_INVALID_ARGUMENT",
      ]);
      expect(await bad(create({ ttl: { seconds: 11 * 366 * 86_400, nanos: 0 } }))).toEqual([
        status.INVALID_ARGUMENT,
        "ERROR_REASON_INVALID_ARGUMENT",
      ]);
      expect(await bad(call((cb) => s.tokens.listTokens({ pageSize: -1, pageToken: "" }, md(admin), cb)))).toEqual([
        status.INVALID_ARGUMENT,
        "ERROR_REASON_INVALID_PAGE_SIZE",
      ]);
      expect(await bad(call((cb) => s.tokens.listTokens({ pageSize: 0, pageToken: "nope" }, md(admin), cb)))).toEqual([
        status.INVALID_ARGUMENT,
        "ERROR_REASON_INVALID_PAGE_TOKEN",
      ]);
    });
  });

  it("the token CLI lists and deletes through the server", async () => {
    const env = { EPOCH_SERVER: s.address, EPOCH_TOKEN: admin, EPOCH_LOG_LEVEL: "warn" };
    const made = await runCli(
      ["token", "create", "--name", "from-cli", "--scope", "pull", "--repository", "team/*", "--ttl", "24h", "--json"],
      env,
    );
    expect(made.code, made.stderr).toBe(0);
    const { token, secret } = JSON.parse(made.stdout) as { token: { id: number }; secret: string };
    expect((await validate(secret, "team/x", "pull")).valid).toBe(true);
    const listed = await runCli(["token", "list"], env);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/token \d+ "from-cli": scopes pull; repositories team\/\*; expires 20/);
    expect(listed.stdout).not.toContain(secret);
    const deleted = await runCli(["token", "delete", String(token.id)], env);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect((await validate(secret)).valid).toBe(false);
    const again = await runCli(["token", "delete", String(token.id)], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/NOT_FOUND: token \d+ not found \(ERROR_REASON_TOKEN_NOT_FOUND\)/);
  }, 60_000);
});

describe.skipIf(!mariadbServerUrl())("two serve processes on one MariaDB database", () => {
  let testDb: TestDatabase;
  const procs: Array<{ child: ChildProcess; stderr: () => string; address: Promise<string> }> = [];

  function serve(): (typeof procs)[number] {
    const child = spawn(process.execPath, ["--import", TSX, MAIN, "serve"], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        EPOCH_DATABASE_URL: testDb.url,
        EPOCH_LISTEN: "127.0.0.1:0",
        EPOCH_AUTH: "required",
        EPOCH_SYNC_INTERVAL: "0",
        EPOCH_LOG_LEVEL: "debug",
        EPOCH_TOKEN_POLL_INTERVAL: "500ms",
      },
    });
    let err = "";
    const address = new Promise<string>((resolveAddress, reject) => {
      child.stderr!.on("data", (d: Buffer) => {
        err += d.toString();
        const m = /"listen":"([^"]+)"[^\n]*"msg":"serving"/.exec(err);
        if (m) resolveAddress(m[1]!);
      });
      child.on("exit", (code) => reject(new Error(`serve exited with ${code}: ${err}`)));
    });
    const p = { child, stderr: () => err, address };
    procs.push(p);
    return p;
  }

  beforeAll(async () => {
    testDb = await createTestDatabase("mariadb");
  });
  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill("SIGKILL");
    await testDb?.drop();
  });

  it("a token revoked through A is refused by B within 1 s, and no secret reaches a log", async () => {
    const made = await runCli(["token", "create", "--offline", "--name", "ops", "--scope", "admin"], {
      EPOCH_DATABASE_URL: testDb.url,
    });
    expect(made.code, made.stderr).toBe(0);
    const admin = newSecretLine(made.stdout);
    const a = serve();
    const b = serve();
    const [addrA, addrB] = await Promise.all([a.address, b.address]);
    const tokensA = new TokenServiceClient(addrA, credentials.createInsecure());
    const tokensB = new TokenServiceClient(addrB, credentials.createInsecure());
    const metadataB = new MetadataServiceClient(addrB, credentials.createInsecure());
    const junk = generateSecret();
    let revokedSecret: string | undefined;
    try {
      const md = (secret: string) => callMetadata(secret);
      const created = await call<CreateTokenResponse>((cb) =>
        tokensA.createToken(
          { name: "registry", createdBy: "", scopes: ["pull"], repositories: [], ttl: undefined },
          md(admin),
          cb,
        ),
      );
      revokedSecret = created.secret;
      const validateOnB = () =>
        call<ValidateTokenResponse>((cb) =>
          tokensB.validateToken({ secret: created.secret, repository: "app", action: "pull" }, md(admin), cb),
        );
      expect((await validateOnB()).valid).toBe(true); // now cached on B
      expect((await callError(call((cb) => metadataB.getStats({}, md(junk), cb)))).code).toBe(status.UNAUTHENTICATED);

      await call((cb) => tokensA.deleteToken({ id: created.token!.id }, md(admin), cb));
      const deletedAt = Date.now();
      let revokedAfter = -1;
      while (Date.now() - deletedAt < 5_000) {
        if (!(await validateOnB()).valid) {
          revokedAfter = Date.now() - deletedAt;
          break;
        }
        await sleep(20);
      }
      expect(revokedAfter, "B never refused the revoked token").toBeGreaterThanOrEqual(0);
      expect(revokedAfter).toBeLessThan(1000);
    } finally {
      tokensA.close();
      tokensB.close();
      metadataB.close();
    }

    // Graceful shutdown flushes last_used (the admin token was used on both).
    for (const p of [a, b]) p.child.kill("SIGTERM");
    const codes = await Promise.all(
      [a, b].map((p) => new Promise((r) => (p.child.exitCode !== null ? r(p.child.exitCode) : p.child.on("exit", r)))),
    );
    expect(codes).toEqual([0, 0]);
    const db = await openDatabase(testDb.url);
    try {
      const rows: Array<{ last_used: Date | null }> = await db.ds.query(
        "SELECT last_used FROM tokens WHERE name = 'ops'",
      );
      expect(rows[0]?.last_used).toBeInstanceOf(Date);
    } finally {
      await db.close();
    }
    const logs = a.stderr() + b.stderr() + made.stderr;
    expect(logs).toMatch(/"msg":"call refused"/); // debug lines were written, and ...
    for (const secret of [admin, junk, revokedSecret ?? admin]) expect(logs).not.toContain(secret); // ... carry no secret
  }, 90_000);
});
