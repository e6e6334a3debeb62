/**
 * Debian's Python grpcio (/usr/bin/python3) as an independent gRPC client for the wire tests.
 * Tries Debian's packages once when absent (root only; .ci/run normally installs them). When it
 * is still missing the suites are skipped loudly — and under CI=true that is a failure instead.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

export const PYTHON = "/usr/bin/python3";

function pythonGrpcAvailable(): boolean {
  return existsSync(PYTHON) && spawnSync(PYTHON, ["-c", "import grpc, grpc_tools.protoc"]).status === 0;
}

function tryInstall(): void {
  if (process.getuid?.() !== 0 || !existsSync("/usr/bin/apt-get")) return;
  const packages = ["python3-grpcio", "python3-grpc-tools", "grpc-proto"];
  spawnSync("/usr/bin/apt-get", ["install", "-y", "--no-install-recommends", ...packages], {
    stdio: "ignore",
    timeout: 180_000,
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
}

let checked: boolean | undefined;

/** True when Python grpcio can run; otherwise warns (or throws under CI=true) naming `suite`. */
export function requirePythonGrpc(suite: string): boolean {
  if (checked === undefined) {
    if (!pythonGrpcAvailable()) tryInstall();
    checked = pythonGrpcAvailable();
  }
  if (!checked) {
    const message = "python3-grpcio / python3-grpc-tools are not installed and could not be installed";
    if (process.env.CI === "true") throw new Error(`${message} (required under CI=true)`);
    console.warn(`*** SKIPPED: ${suite} — ${message} ***`);
  }
  return checked;
}
