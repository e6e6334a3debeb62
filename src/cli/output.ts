/** Human output of the client commands: aligned tables, sizes, times, kinds. stdout only. */
import { artifactKindToJSON, type ArtifactKind } from "epoch-meta-client/epoch/v1/resources";

export function printTable(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  process.stdout.write(`${[line(headers), ...rows.map(line)].join("\n")}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** 1536 → "1.5 KiB"; exact below 1 KiB. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** RFC 3339 in UTC to the second, or "-" when unset. */
export function formatTime(date: Date | undefined): string {
  return date ? date.toISOString().replace(/\.\d{3}Z$/, "Z") : "-";
}

/** ARTIFACT_KIND_CONTAINER_IMAGE → CONTAINER_IMAGE; unset → "-". */
export function formatKind(kind: ArtifactKind): string {
  const name = artifactKindToJSON(kind).replace(/^ARTIFACT_KIND_/, "");
  return name === "UNSPECIFIED" ? "-" : name;
}

/** sha256:abcdef… → abcdef012345 (the 12 characters people paste). */
export function shortDigest(digest: string): string {
  return digest.replace(/^sha256:/, "").slice(0, 12);
}

/** Tells a human how to get the next page, on stderr so stdout stays the table. */
export function printNextPageHint(nextPageToken: string): void {
  if (nextPageToken !== "") process.stderr.write(`more results: --page-token ${nextPageToken} (or --all)\n`);
}
