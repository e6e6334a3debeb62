/**
 * Finds a MariaDB for the test run, once: 127.0.0.1:3306 (or EPOCH_TEST_MARIADB_URL); if that
 * is unreachable and `mariadbd` exists, a private server in a temp dir; otherwise the MariaDB
 * suites are skipped with a loud message — and under CI=true the run fails instead.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mysql from "mysql2/promise";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    mariadbUrl: string | null;
  }
}

async function reachable(url: string): Promise<boolean> {
  const u = new URL(url);
  try {
    const conn = await mysql.createConnection({
      host: u.hostname,
      port: Number(u.port || 3306),
      user: decodeURIComponent(u.username || "root"),
      password: decodeURIComponent(u.password),
      connectTimeout: 3000,
    });
    await conn.end();
    return true;
  } catch {
    return false;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

const MARIADBD = ["/usr/sbin/mariadbd", "/usr/bin/mariadbd"].find((p) => existsSync(p));

async function startPrivateMariadb(): Promise<{ url: string; stop: () => void } | null> {
  if (!MARIADBD) return null;
  const dir = mkdtempSync(join(tmpdir(), "epoch-mariadb-"));
  const datadir = join(dir, "data");
  const install = spawnSync(
    "mariadb-install-db",
    [
      "--no-defaults",
      `--datadir=${datadir}`,
      "--auth-root-authentication-method=normal",
      "--skip-test-db",
      "--user=root",
    ],
    { encoding: "utf8" },
  );
  if (install.status !== 0) {
    console.error(`mariadb-install-db failed: ${install.stderr}`);
    return null;
  }
  const port = await freePort();
  const child: ChildProcess = spawn(
    MARIADBD,
    [
      "--no-defaults",
      `--datadir=${datadir}`,
      `--socket=${join(dir, "sock")}`,
      `--port=${port}`,
      "--bind-address=127.0.0.1",
      "--user=root",
    ],
    { stdio: "ignore" },
  );
  const url = `mysql://root@127.0.0.1:${port}/`;
  for (let i = 0; i < 100; i++) {
    if (await reachable(url)) {
      return {
        url,
        stop: () => {
          child.kill("SIGTERM");
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill("SIGKILL");
  return null;
}

export default async function setup(project: TestProject) {
  const wanted = process.env.EPOCH_TEST_MARIADB_URL ?? "mysql://root@127.0.0.1:3306/";
  if (await reachable(wanted)) {
    project.provide("mariadbUrl", wanted);
    return;
  }
  const priv = await startPrivateMariadb();
  if (priv) {
    console.warn(`\n*** MariaDB at ${wanted} is unreachable: started a private mariadbd at ${priv.url} ***\n`);
    project.provide("mariadbUrl", priv.url);
    return priv.stop;
  }
  if (process.env.CI === "true") {
    throw new Error(
      `MariaDB at ${wanted} is unreachable and no mariadbd binary could be started: CI requires the MariaDB suites`,
    );
  }
  console.warn(
    `\n*** MariaDB at ${wanted} is unreachable and mariadbd is not installed: MARIADB SUITES ARE SKIPPED ***\n`,
  );
  project.provide("mariadbUrl", null);
}
