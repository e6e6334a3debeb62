/**
 * The client package as a user gets it. generated/ is copied outside the repository (so only the
 * package's own declared dependencies can build it, as on a fresh clone), `npm pack`ed there, and
 * the tarball is installed into a scratch project in a temp dir; scripts in that project then call
 * a running server through the package from an ES module and from CommonJS (`require(esm)`),
 * under the Node that runs this suite. A package that does not build, pack, install, load or talk
 * to the server fails here.
 */
import { execFile } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/database.js";
import { call, startE2EServer, type E2EServer } from "../helpers/e2e-server.js";

const run = promisify(execFile);
const PACKAGE_DIR = fileURLToPath(new URL("../../generated", import.meta.url));

/**
 * The env of a nested npm as on a fresh machine: none of the npm_* variables `npm test` exports,
 * and no node_modules/.bin on PATH (the repository's tsc must not build the package), with the
 * Node that runs this suite first.
 */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
  const path = (process.env.PATH ?? "").split(delimiter).filter((dir) => !dir.includes(`node_modules${sep}.bin`));
  return { ...env, PATH: [dirname(process.execPath), ...path].join(delimiter) };
}

/** npm from the cache where it can (the registry only for what the cache lacks). */
async function npm(cwd: string, ...args: string[]): Promise<string> {
  const flags = ["--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"];
  const { stdout } = await run("npm", [...args, ...flags], { cwd, env: cleanEnv(), maxBuffer: 16 << 20 });
  return stdout;
}

async function node(cwd: string, script: string, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [script, ...args], { cwd, env: cleanEnv() });
}

// The same calls from both module systems; only the way the package is loaded differs.
const CALLS = `
const [address, secret] = process.argv.slice(2);
const tokens = new TokenServiceClient(address, grpc.credentials.createInsecure());
const validate = (secret) =>
  new Promise((ok, fail) =>
    tokens.validateToken({ secret, repository: "", action: "" }, (e, res) => (e ? fail(e) : ok(res))),
  );
const good = await validate(secret);
const bad = await validate("epoch_not-a-token");
const missing = await new Promise((ok) =>
  tokens.deleteToken({ id: 987654 }, (e) => ok(e ? e.metadata.get("epoch-error-reason")[0] : "no error")),
);
tokens.close();
console.log(
  JSON.stringify({
    valid: good.valid,
    name: good.token?.name,
    badReason: pkg.epoch.v1.tokenInvalidReasonToJSON(bad.reason),
    missingReason: missing,
    encodedBytes: pkg.epoch.v1.ValidateTokenRequest.encode({ secret: "x", repository: "", action: "" }).finish()
      .length,
  }),
);
`;

const ESM = `
import * as grpc from "@grpc/grpc-js";
import * as pkg from "epoch-meta-client";
import { TokenServiceClient } from "epoch-meta-client/epoch/v1/token_service";
${CALLS}
`;

const CJS = `
const grpc = require("@grpc/grpc-js");
const pkg = require("epoch-meta-client");
const { TokenServiceClient } = require("epoch-meta-client/epoch/v1/token_service");
(async () => {
${CALLS}
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
`;

interface PackedFile {
  path: string;
}

describe("epoch-meta-client as a packed tarball", () => {
  let work: string;
  let app: string;
  let packedFiles: string[];
  let packed: Record<string, unknown>;
  let readme: string;
  let testDb: TestDatabase;
  let server: E2EServer;
  let secret: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "epoch-client-package-"));
    const pkgDir = join(work, "epoch-meta-client");
    for (const entry of ["package.json", "tsconfig.json", "README.md", "src"]) {
      cpSync(join(PACKAGE_DIR, entry), join(pkgDir, entry), { recursive: true });
    }
    await npm(pkgDir, "install");
    const [report] = JSON.parse(await npm(pkgDir, "pack", "--json", "--pack-destination", work)) as {
      filename: string;
      files: PackedFile[];
    }[];
    packedFiles = report!.files.map((f) => f.path);
    const tarball = join(work, report!.filename);

    app = join(work, "app");
    mkdirSync(app);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "scratch", private: true }));
    await npm(app, "install", tarball);
    const installed = join(app, "node_modules/epoch-meta-client");
    packed = JSON.parse(readFileSync(join(installed, "package.json"), "utf8")) as Record<string, unknown>;
    readme = readFileSync(join(installed, "README.md"), "utf8");
    writeFileSync(join(app, "client.mjs"), ESM);
    writeFileSync(join(app, "client.cjs"), CJS);

    testDb = await createTestDatabase("sqlite");
    server = await startE2EServer({ databaseUrl: testDb.url });
    const created = await call<{ secret: string }>((cb) =>
      server.tokens.createToken(
        { name: "packaged", createdBy: "test", scopes: ["service"], repositories: [], ttl: undefined },
        server.callMetadata(),
        cb,
      ),
    );
    secret = created.secret;
  }, 600_000);

  afterAll(async () => {
    await server?.stop();
    await testDb?.drop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("ships compiled modules, declarations and sources", () => {
    for (const file of ["README.md", "package.json", "dist/index.js", "dist/index.d.ts", "src/index.ts"]) {
      expect(packedFiles).toContain(file);
    }
    expect(packedFiles).toContain("dist/epoch/v1/token_service.js");
  });

  it("declares engines (Node 22 LTS included) and a caret range on @bufbuild/protobuf", () => {
    const engines = packed.engines as { node?: string } | undefined;
    expect(engines?.node).toMatch(/22/);
    const dependencies = packed.dependencies as Record<string, string>;
    expect(dependencies["@bufbuild/protobuf"]).toMatch(/^\^2\./);
  });

  it("has a README that works inside the tarball", () => {
    expect(readme).not.toMatch(/\]\((?!https?:\/\/|#)/);
    expect(readme).toContain("npm pack");
    expect(readme).toContain("npm publish");
  });

  it.each([
    ["ESM", "client.mjs"],
    ["CommonJS", "client.cjs"],
  ])("calls the server from %s", async (_kind, script) => {
    const { stdout } = await node(app, script, server.address, secret);
    expect(JSON.parse(stdout)).toEqual({
      valid: true,
      name: "packaged",
      badReason: "TOKEN_INVALID_REASON_MALFORMED",
      missingReason: "ERROR_REASON_TOKEN_NOT_FOUND",
      encodedBytes: 3,
    });
  });
});
