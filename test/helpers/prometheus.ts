/**
 * Scrapes the server's EPOCH_METRICS_LISTEN endpoints over real HTTP and reads `/metrics` with
 * the Prometheus project's own text-format parser (the Python client's
 * `text_string_to_metric_families`, Debian's python3-prometheus-client), so a test checks what
 * Prometheus would read. (The npm parse-prometheus-text-format merges every labelled histogram
 * series into one and drops their labels, so it cannot check latency by method and code.)
 * Installs the package once when absent (root only; .ci/run installs it); a suite without it is
 * skipped loudly, or fails under CI=true.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { PYTHON } from "./python-grpc.js";

const PARSE = `
import json, math, sys
from prometheus_client.parser import text_string_to_metric_families
def number(v):
    # JSON has no NaN or infinities (an event-loop percentile is NaN before its first sample).
    return v if math.isfinite(v) else ("NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity"))
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        out.append({"family": family.name, "type": family.type, "name": s.name, "labels": s.labels, "value": number(s.value)})
json.dump(out, sys.stdout)
`;

export interface Sample {
  family: string;
  type: string;
  /** The sample's own name: `…_total`, `…_bucket`, `…_count`, `…_sum`, or the gauge's name. */
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Scrape {
  samples: Sample[];
  /** The samples called `name` whose labels include `labels`. */
  find(name: string, labels?: Record<string, string>): Sample[];
  /** The one sample called `name` with exactly these labels' values (0 when absent, like `or vector(0)`). */
  value(name: string, labels?: Record<string, string>): number;
  /** The sum over every sample called `name` (all label values). */
  sum(name: string): number;
}

function available(): boolean {
  return existsSync(PYTHON) && spawnSync(PYTHON, ["-c", "import prometheus_client.parser"]).status === 0;
}

let checked: boolean | undefined;

/** True when the parser can run; otherwise warns (or throws under CI=true) naming `suite`. */
export function requirePrometheusParser(suite: string): boolean {
  if (checked === undefined) {
    if (!available() && process.getuid?.() === 0 && existsSync("/usr/bin/apt-get")) {
      spawnSync("/usr/bin/apt-get", ["install", "-y", "--no-install-recommends", "python3-prometheus-client"], {
        stdio: "ignore",
        timeout: 180_000,
        env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
      });
    }
    checked = available();
  }
  if (!checked) {
    const message = "python3-prometheus-client is not installed and could not be installed";
    if (process.env.CI === "true") throw new Error(`${message} (required under CI=true)`);
    console.warn(`*** SKIPPED: ${suite} — ${message} ***`);
  }
  return checked;
}

export function parseExposition(text: string): Sample[] {
  const run = spawnSync(PYTHON, ["-c", PARSE], { input: text, encoding: "utf8" });
  if (run.status !== 0) throw new Error(`the Prometheus parser refused the scrape: ${run.stderr}`);
  const samples = JSON.parse(run.stdout) as Array<Omit<Sample, "value"> & { value: number | string }>;
  return samples.map((s) => ({ ...s, value: Number(s.value) }));
}

export async function scrape(address: string): Promise<Scrape> {
  const res = await fetch(`http://${address}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  const contentType = res.headers.get("content-type") ?? "";
  if (!contentType.startsWith("text/plain; version=0.0.4")) throw new Error(`unexpected content-type ${contentType}`);
  const samples = parseExposition(await res.text());
  const find = (name: string, labels: Record<string, string> = {}) =>
    samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return {
    samples,
    find,
    value: (name, labels = {}) => {
      const exact = find(name, labels).filter((s) => Object.keys(s.labels).length === Object.keys(labels).length);
      if (exact.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${exact.length} samples`);
      return exact[0]?.value ?? 0;
    },
    sum: (name) => find(name).reduce((total, s) => total + s.value, 0),
  };
}

/** GET `path` on the metrics listener: status and body. */
export async function probe(address: string, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://${address}${path}`);
  return { status: res.status, body: await res.text() };
}
