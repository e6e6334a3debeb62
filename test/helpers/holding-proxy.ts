/**
 * An HTTP proxy in front of s3rver that can hold chosen requests until the test lets them go:
 * a way to stop a server's sync at an exact point (e.g. its first manifest GET) from outside
 * the process's object graph, without timing. Headers pass unchanged (the SigV4 signature
 * covers the Host header the client sent).
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface Hold {
  /** Resolves when a matching request arrived (and is being held). */
  reached: Promise<void>;
  release(): void;
}

export interface HoldingProxy {
  endpoint: string;
  /** Holds the next GET whose path matches. */
  hold(path: RegExp): Hold;
  close(): Promise<void>;
}

export async function startHoldingProxy(target: string): Promise<HoldingProxy> {
  const upstream = new URL(target);
  const holds: Array<{ path: RegExp; arrive(): void; opened: Promise<void> }> = [];
  const forward = (req: IncomingMessage, res: ServerResponse) => {
    const up = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    up.on("error", () => res.destroy());
    req.pipe(up);
  };
  const server = createServer((req, res) => {
    const i = holds.findIndex((h) => req.method === "GET" && h.path.test(decodeURIComponent(req.url ?? "")));
    if (i < 0) return forward(req, res);
    const [hold] = holds.splice(i, 1);
    hold!.arrive();
    void hold!.opened.then(() => forward(req, res));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hold(path) {
      let arrive!: () => void;
      let release!: () => void;
      const reached = new Promise<void>((r) => (arrive = r));
      const opened = new Promise<void>((r) => (release = r));
      holds.push({ path, arrive, opened });
      return { reached, release };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
