/**
 * `epoch-meta token create|list|delete` through a running server (EPOCH_SERVER, EPOCH_TOKEN),
 * and `token create --offline`, which writes straight to EPOCH_DATABASE_URL (applying pending
 * migrations first) to make the first admin token. A new secret goes alone to stdout, so
 * `EPOCH_TOKEN=$(epoch-meta token create …)` works; everything else goes to stderr.
 */
import { hostname } from "node:os";
import type { ServiceError } from "@grpc/grpc-js";
import type { Command } from "commander";
import type { Token as TokenMessage } from "epoch-meta-client/epoch/v1/token_service";
import { loadConfig, parseDuration } from "../config.js";
import { openDatabase } from "../db/data-source.js";
import { migrate } from "../db/migrate.js";
import { findNamespace } from "../db/namespaces/namespace-store.js";
import { TokenStore } from "../db/tokens/token-store.js";
import { invalidArgument } from "../errors.js";
import { configureLogger, logger } from "../logger.js";
import { assertNamespaceName } from "../services/namespaces/namespace-name.js";
import { namespaceNotFound } from "../services/namespaces/namespace-resolver.js";
import { createToken, type Token } from "../services/tokens/token-service.js";
import { addServerOption, clientConfigFrom, connect } from "./client.js";

interface CreateOptions {
  name: string;
  createdBy?: string;
  scope: string[];
  repository: string[];
  ttl?: string;
  offline?: boolean;
  database?: string;
  server?: string;
  namespace?: string;
  json?: boolean;
}

const collect = (value: string, previous: string[]) => [...previous, value];

const promised = <Res>(start: (cb: (e: ServiceError | null, res: Res) => void) => unknown) =>
  new Promise<Res>((resolve, reject) => {
    start((e, res) => (e ? reject(e) : resolve(res)));
  });

function ttlMs(text: string | undefined): number {
  if (text === undefined) return 0;
  const ms = parseDuration(text.trim());
  if (ms === undefined)
    throw invalidArgument(`--ttl must be a duration such as "720h", "30m" or "0" (got ${JSON.stringify(text)})`);
  return ms;
}

/** What both a domain token (offline) and a Token message (from a server) have. */
type Shown = Pick<Token, "id" | "name" | "createdBy" | "repositories" | "lastUsedTime" | "expireTime"> & {
  createTime: Date | undefined;
  scopes: readonly string[];
};

const when = (d: Date | undefined, none: string) => (d ? d.toISOString() : none);

function describe(t: Shown): string {
  const repositories = t.repositories.length ? t.repositories.join(",") : "all";
  return `token ${t.id} ${JSON.stringify(t.name)}: scopes ${t.scopes.join(",")}; repositories ${repositories}; expires ${when(t.expireTime, "never")}`;
}

/** A token to create, as the options give it. */
interface TokenInput {
  name: string;
  createdBy: string;
  scopes: string[];
  repositories: string[];
  ttlMs: number;
}

async function createOffline(opts: CreateOptions, input: TokenInput) {
  const config = loadConfig(process.env, { EPOCH_DATABASE_URL: opts.database });
  configureLogger(config.logLevel);
  const db = await openDatabase(config.databaseUrl);
  try {
    const { applied } = await migrate(db, { holder: `token-create@${hostname()}:${process.pid}` });
    if (applied.length > 0) logger.info({ applied }, "applied migrations");
    // --namespace / EPOCH_NAMESPACE, as for the client commands; `default` when absent.
    const name = (opts.namespace ?? process.env.EPOCH_NAMESPACE ?? "").trim() || "default";
    assertNamespaceName(name);
    const namespace = await findNamespace(db, name);
    if (!namespace) throw namespaceNotFound(name);
    return await createToken(new TokenStore(db), input, Date.now(), undefined, namespace.id);
  } finally {
    await db.close();
  }
}

export function register(program: Command): void {
  const token = program.command("token").description("create, list and delete access tokens");
  registerCreate(token);
  registerList(token);
  registerDelete(token);
}

function registerCreate(token: Command): void {
  addServerOption(
    token
      .command("create")
      .description("create a token and print its secret (shown once)")
      .requiredOption("--name <name>", "what the token is for (1–255 characters)")
      .option("--created-by <who>", "who asked for it")
      .option("--scope <scope>", "pull, push, delete, service or admin (repeatable; default pull)", collect, [])
      .option(
        "--repository <glob>",
        "limit to repositories matching this glob, * crosses / (repeatable; default all)",
        collect,
        [],
      )
      .option("--ttl <duration>", 'expire after this long, e.g. "720h" (default: never)')
      .option("--offline", "write straight to the database (EPOCH_DATABASE_URL) instead of calling a server")
      .option("--database <url>", "with --offline: sqlite:<path>, mysql://… or mariadb://… (EPOCH_DATABASE_URL)")
      .option("--json", "print the token and its secret as one JSON object"),
  ).action(async (opts: CreateOptions) => {
    const input: TokenInput = {
      name: opts.name,
      createdBy: opts.createdBy ?? "",
      scopes: opts.scope,
      repositories: opts.repository,
      ttlMs: ttlMs(opts.ttl),
    };
    const created = opts.offline ? await createOffline(opts, input) : await createOnServer(opts, input);
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(created)}\n`);
      return;
    }
    process.stderr.write(`created ${describe(created.token)}\nthe secret below is shown only once: store it now\n`);
    process.stdout.write(`${created.secret}\n`);
  });
}

async function createOnServer(opts: CreateOptions, input: TokenInput): Promise<{ token: Shown; secret: string }> {
  const clients = connect(clientConfigFrom(opts));
  try {
    const res = await promised<{ token?: TokenMessage; secret: string }>((cb) =>
      clients.tokens.createToken(
        {
          name: input.name,
          createdBy: input.createdBy,
          scopes: input.scopes,
          repositories: input.repositories,
          ttl: toDuration(input.ttlMs),
        },
        cb,
      ),
    );
    if (!res.token) throw new Error("the server returned no token");
    return { token: res.token, secret: res.secret };
  } finally {
    clients.close();
  }
}

function registerList(token: Command): void {
  addServerOption(
    token
      .command("list")
      .description("list tokens (never their secrets)")
      .option("--page-size <n>", "tokens per request (default 100)", "100")
      .option("--json", "print one JSON object per token"),
  ).action(async (opts: { pageSize: string; json?: boolean; server?: string }) => {
    const clients = connect(clientConfigFrom(opts));
    try {
      let pageToken = "";
      do {
        const page = await promised<{ tokens: TokenMessage[]; nextPageToken: string }>((cb) =>
          clients.tokens.listTokens({ pageSize: Number(opts.pageSize), pageToken }, cb),
        );
        for (const t of page.tokens) process.stdout.write(`${opts.json ? JSON.stringify(t) : listLine(t)}\n`);
        pageToken = page.nextPageToken;
      } while (pageToken !== "");
    } finally {
      clients.close();
    }
  });
}

const listLine = (t: TokenMessage) =>
  `${describe(t)}; created ${when(t.createTime, "?")}${t.createdBy ? ` by ${t.createdBy}` : ""}; last used ${when(t.lastUsedTime, "never")}`;

function registerDelete(token: Command): void {
  addServerOption(
    token
      .command("delete")
      .description("revoke a token (effective on every replica within 1 s)")
      .argument("<id>", "token id"),
  ).action(async (id: string, opts: { server?: string }) => {
    if (!/^\d+$/.test(id) || !Number.isSafeInteger(Number(id)))
      throw invalidArgument(`token id must be a number (got ${JSON.stringify(id)})`);
    const clients = connect(clientConfigFrom(opts));
    try {
      await promised((cb) => clients.tokens.deleteToken({ id: Number(id) }, cb));
      process.stderr.write(`deleted token ${id}\n`);
    } finally {
      clients.close();
    }
  });
}

function toDuration(ms: number): { seconds: number; nanos: number } | undefined {
  return ms === 0 ? undefined : { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}
