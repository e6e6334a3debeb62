/**
 * The scale of the event benchmarks: full (the goals' sizes, the default) or small, with
 * `--quick` (bench-common), `--small` or `--scale=small`, or EPOCH_BENCH_SCALE=small.
 */
import { quick } from "./bench-common.js";

export type BenchScale = "full" | "small";

export function benchScale(): BenchScale {
  if (quick() || process.argv.includes("--small")) return "small";
  const arg = process.argv.find((a) => a.startsWith("--scale="));
  const value = arg?.slice("--scale=".length) ?? process.env.EPOCH_BENCH_SCALE ?? "full";
  if (value !== "full" && value !== "small") throw new Error(`scale must be full or small, got ${value}`);
  return value;
}

/** `full` at full scale, `small` otherwise; an environment variable overrides both. */
export function scaled(name: string, full: number, small: number): number {
  const raw = process.env[name];
  const value = raw === undefined ? (benchScale() === "full" ? full : small) : Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`${name} must be a positive whole number`);
  return value;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
