import { describe, expect, it } from "vitest";
import {
  ConfigError,
  isLoopbackHost,
  loadClientConfig,
  loadConfig,
  parseDuration,
  parseListenAddress,
  unknownVariables,
} from "../../src/config.js";

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

describe("parseDuration", () => {
  it.each([
    ["0", 0],
    ["500ms", 500],
    ["30s", 30_000],
    ["1h", 3_600_000],
    ["1h30m", 5_400_000],
    ["1.5s", 1_500],
  ])("%s = %d ms", (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(["", "30", "-1s", "1d", "s", "10 s", "abc", "1h-30m"])("rejects %j", (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

describe("parseListenAddress", () => {
  it("parses IPv4, names and bracketed IPv6", () => {
    expect(parseListenAddress("127.0.0.1:50051")).toEqual({
      host: "127.0.0.1",
      port: 50051,
      address: "127.0.0.1:50051",
    });
    expect(parseListenAddress("localhost:0")).toEqual({ host: "localhost", port: 0, address: "localhost:0" });
    expect(parseListenAddress("[::1]:7")).toEqual({ host: "::1", port: 7, address: "[::1]:7" });
  });
  it.each(["50051", "host", ":50051", "1.2.3.4:70000", "::1:50051", "a b:1"])("rejects %j", (text) => {
    expect(parseListenAddress(text)).toBeUndefined();
  });
  it("knows loopback hosts", () => {
    expect(["127.0.0.1", "127.1.2.3", "::1", "localhost"].every(isLoopbackHost)).toBe(true);
    expect(["0.0.0.0", "::", "10.0.0.1", "example.com"].some(isLoopbackHost)).toBe(false);
  });
});

describe("loadConfig", () => {
  it("has the documented defaults", () => {
    const c = loadConfig({});
    expect(c.databaseUrl).toBe("sqlite:./data/epoch.db");
    expect(c.storageUrl).toBe("file:./data/registry");
    expect(c.listen.address).toBe("127.0.0.1:50051");
    expect(c.auth).toEqual({ mode: "auto", allowOpen: false });
    expect(c.tls).toBeUndefined();
    expect(c.sync).toEqual({ intervalMs: 30_000, fullIntervalMs: 3_600_000, concurrency: 16, leaseTtlMs: 30_000 });
    expect(c.tokens.staleMaxMs).toBe(60_000);
    expect(c.tokens.pollIntervalMs).toBe(500);
    expect(c.tokens.lastUsedFlushIntervalMs).toBe(5_000);
    expect(c.shutdownTimeoutMs).toBe(10_000);
    expect(c.logLevel).toBe("info");
  });

  it("reads the environment, and flags override it", () => {
    const env = {
      EPOCH_LISTEN: "0.0.0.0:9000",
      EPOCH_SYNC_INTERVAL: "0",
      EPOCH_SYNC_CONCURRENCY: "4",
      EPOCH_AUTH: "required",
    };
    const c = loadConfig(env, { EPOCH_LISTEN: "127.0.0.1:0" });
    expect(c.listen).toEqual({ host: "127.0.0.1", port: 0, address: "127.0.0.1:0" });
    expect(c.sync.intervalMs).toBe(0);
    expect(c.sync.concurrency).toBe(4);
    expect(c.auth.mode).toBe("required");
  });

  it("treats an empty variable as unset and an undefined override as absent", () => {
    expect(loadConfig({ EPOCH_LISTEN: "" }, { EPOCH_LISTEN: undefined }).listen.port).toBe(50051);
  });

  it.each([
    ["EPOCH_SYNC_INTERVAL", "soon", /duration/],
    ["EPOCH_TOKEN_POLL_INTERVAL", "0", /greater than 0/],
    ["EPOCH_SYNC_CONCURRENCY", "0", /whole number >= 1/],
    ["EPOCH_SYNC_CONCURRENCY", "2.5", /whole number/],
    ["EPOCH_TOKEN_CACHE_SIZE", "-3", /whole number/],
    ["EPOCH_AUTH", "maybe", /auto, required or none/],
    ["EPOCH_AUTH_ALLOW_OPEN", "perhaps", /true or false/],
    ["EPOCH_LISTEN", "50051", /host:port/],
    ["EPOCH_METRICS_LISTEN", "9464", /host:port/],
    ["EPOCH_METRICS_LISTEN", "metrics.local:99999", /host:port/],
    ["EPOCH_LOG_LEVEL", "loud", /one of/],
    ["EPOCH_DATABASE_URL", "postgres://x", /sqlite:, mysql:\/\/ or mariadb:\/\//],
    ["EPOCH_STORAGE_URL", "gs://bucket", /file: or s3:\/\//],
  ])("%s=%j fails with one line naming the variable", (name, value, problem) => {
    const e = configError(() => loadConfig({ [name]: value }));
    expect(e.message.startsWith(name)).toBe(true);
    expect(e.message).toMatch(problem);
    expect(e.message).not.toContain("\n");
  });

  it("serves metrics only when EPOCH_METRICS_LISTEN (or --metrics-listen) names an address", () => {
    expect(loadConfig({}).metricsListen).toBeUndefined();
    expect(loadConfig({ EPOCH_METRICS_LISTEN: "" }).metricsListen).toBeUndefined();
    expect(loadConfig({ EPOCH_METRICS_LISTEN: "0.0.0.0:9464" }).metricsListen).toEqual({
      host: "0.0.0.0",
      port: 9464,
      address: "0.0.0.0:9464",
    });
    const flag = loadConfig({ EPOCH_METRICS_LISTEN: "0.0.0.0:9464" }, { EPOCH_METRICS_LISTEN: "[::1]:0" });
    expect(flag.metricsListen?.address).toBe("[::1]:0");
    expect(configError(() => loadConfig({ EPOCH_METRICS_LISTEN: ":9464" })).message).toBe(
      'EPOCH_METRICS_LISTEN must be host:port, e.g. "127.0.0.1:9464" or "[::]:9464" (got ":9464")',
    );
  });

  it("never echoes URLs, which may hold passwords", () => {
    const e = configError(() => loadConfig({ EPOCH_DATABASE_URL: "postgres://u:hunter2@db/x" }));
    expect(e.message).not.toContain("hunter2");
  });

  it("shows the offending value of plain settings", () => {
    expect(configError(() => loadConfig({ EPOCH_SYNC_INTERVAL: "soon" })).message).toContain('"soon"');
  });

  it("keeps the token poll at most 500ms, so revocation stays within 1 s", () => {
    expect(configError(() => loadConfig({ EPOCH_TOKEN_POLL_INTERVAL: "2s" })).message).toMatch(
      /^EPOCH_TOKEN_POLL_INTERVAL.*500ms/,
    );
    expect(loadConfig({ EPOCH_TOKEN_POLL_INTERVAL: "250ms" }).tokens.pollIntervalMs).toBe(250);
  });

  it("refuses EPOCH_AUTH=none on a non-loopback address unless explicitly allowed", () => {
    const e = configError(() => loadConfig({ EPOCH_AUTH: "none", EPOCH_LISTEN: "0.0.0.0:50051" }));
    expect(e.message).toMatch(/EPOCH_AUTH=none.*EPOCH_AUTH_ALLOW_OPEN=true/);
    expect(
      loadConfig({ EPOCH_AUTH: "none", EPOCH_LISTEN: "0.0.0.0:50051", EPOCH_AUTH_ALLOW_OPEN: "true" }).auth,
    ).toEqual({
      mode: "none",
      allowOpen: true,
    });
    expect(loadConfig({ EPOCH_AUTH: "none" }).auth.mode).toBe("none");
  });

  it("needs TLS certificate and key together", () => {
    expect(configError(() => loadConfig({ EPOCH_TLS_CERT: "c.pem" })).message).toMatch(/^EPOCH_TLS_KEY/);
    expect(configError(() => loadConfig({ EPOCH_TLS_KEY: "k.pem" })).message).toMatch(/^EPOCH_TLS_CERT/);
    expect(configError(() => loadConfig({ EPOCH_TLS_CLIENT_CA: "ca.pem" })).message).toMatch(/^EPOCH_TLS_CLIENT_CA/);
    expect(loadConfig({ EPOCH_TLS_CERT: "c.pem", EPOCH_TLS_KEY: "k.pem", EPOCH_TLS_CLIENT_CA: "ca.pem" }).tls).toEqual({
      certFile: "c.pem",
      keyFile: "k.pem",
      clientCaFile: "ca.pem",
    });
  });
});

describe("unknownVariables", () => {
  it("names EPOCH_* variables nobody reads, ignoring known, client and test ones", () => {
    const env = { EPOCH_LISTN: "x", EPOCH_LISTEN: "x", EPOCH_TOKEN: "t", EPOCH_TEST_LOG_LEVEL: "debug", PATH: "/bin" };
    expect(unknownVariables(env)).toEqual(["EPOCH_LISTN"]);
  });
});

describe("loadClientConfig", () => {
  it("defaults the server to the listen address, reachable through loopback", () => {
    expect(loadClientConfig({}).server).toBe("127.0.0.1:50051");
    expect(loadClientConfig({ EPOCH_LISTEN: "0.0.0.0:7000" }).server).toBe("127.0.0.1:7000");
    expect(loadClientConfig({ EPOCH_LISTEN: "[::]:7000" }).server).toBe("[::1]:7000");
  });

  it("reads EPOCH_SERVER, EPOCH_TOKEN and EPOCH_TLS_CA, with --server overriding", () => {
    const env = { EPOCH_SERVER: "meta.internal:443", EPOCH_TOKEN: "epm_x", EPOCH_TLS_CA: "/ca.pem" };
    expect(loadClientConfig(env)).toEqual({ server: "meta.internal:443", token: "epm_x", tlsCaFile: "/ca.pem" });
    expect(loadClientConfig(env, { EPOCH_SERVER: "127.0.0.1:1" }).server).toBe("127.0.0.1:1");
  });

  it("rejects a malformed EPOCH_SERVER in one line", () => {
    expect(configError(() => loadClientConfig({ EPOCH_SERVER: "nope" })).message).toMatch(
      /^EPOCH_SERVER must be host:port/,
    );
  });
});
