/**
 * Captures what the process-wide logger writes, in process: the root logger's destination is
 * swapped for an in-memory one (pino's `streamSym`, the stream every line is written to after
 * redaction), so a test sees exactly the JSON lines an operator would, secrets redacted or not.
 */
import { pino } from "pino";
import { logger } from "../../src/logger.js";

export interface LogLine {
  level: string;
  msg: string;
  [field: string]: unknown;
}

export interface LogCapture {
  /** Every line written since the capture started, parsed. */
  lines(): LogLine[];
  /** The raw text written (to search for secrets). */
  text(): string;
  /** Puts the previous destination and level back. */
  restore(): void;
}

type Streamed = Record<symbol, { write(line: string): void }>;

export function captureLogs(level = "debug"): LogCapture {
  const target = logger as unknown as Streamed;
  const previous = target[pino.symbols.streamSym]!;
  const previousLevel = logger.level;
  const chunks: string[] = [];
  target[pino.symbols.streamSym] = { write: (line: string) => void chunks.push(line) };
  logger.level = level;
  return {
    lines: () =>
      chunks
        .join("")
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l) as LogLine),
    text: () => chunks.join(""),
    restore: () => {
      target[pino.symbols.streamSym] = previous;
      logger.level = previousLevel;
    },
  };
}
