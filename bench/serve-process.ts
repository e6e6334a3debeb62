/**
 * The compiled server (`node dist/src/main.js serve`, what `npm start` runs) in a child process
 * of its own, configured by environment variables, for benchmarks that measure it from outside
 * (its own core, its own event loop). `npm run bench` builds dist/ first; callers refuse a build
 * older than src/ (bench-common `assertFreshBuild`). EPOCH_BENCH_SERVE_NODE_OPTIONS passes flags to that node (e.g. "--cpu-prof").
 */
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { credentials, Metadata } from "@grpc/grpc-js";
import { EventServiceClient } from "epoch-meta-client/epoch/v1/event_service";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

export interface ServeProcess {
  address: string;
  stop(): Promise<void>;
}

/** Starts `serve` with these EPOCH_* variables (EPOCH_LISTEN chosen here) and waits until it answers. */
export async function startServeProcess(env: Record<string, string>): Promise<ServeProcess> {
  const address = `127.0.0.1:${await freePort()}`;
  const nodeOptions = (process.env.EPOCH_BENCH_SERVE_NODE_OPTIONS ?? "").split(" ").filter(Boolean);
  // The bench's own EPOCH_BENCH_* settings are not the server's (it would warn about each).
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("EPOCH_BENCH_")));
  const child = spawn(process.execPath, [...nodeOptions, join(ROOT, "dist/src/main.js"), "serve"], {
    env: {
      ...inherited,
      EPOCH_LISTEN: address,
      EPOCH_SYNC_INTERVAL: "0",
      EPOCH_LOG_LEVEL: process.env.EPOCH_LOG_LEVEL ?? "warn",
      ...env,
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.on("exit", () => {
      exited = true;
      resolve();
    }),
  );
  const client = new EventServiceClient(address, credentials.createInsecure());
  try {
    for (let attempt = 0; ; attempt++) {
      if (exited) throw new Error("the bench server exited during start-up");
      const ok = await new Promise<boolean>((resolve) =>
        client.listEvents(
          { afterId: 0, pageSize: 1, pageToken: "", filter: [], allNamespaces: false },
          new Metadata(),
          { deadline: Date.now() + 1000 },
          (e) => resolve(!e),
        ),
      );
      if (ok) break;
      if (attempt > 300) throw new Error("the bench server did not answer within 60 s");
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    client.close();
  }
  return {
    address,
    stop: async () => {
      if (!exited) child.kill("SIGTERM");
      await exit;
    },
  };
}
