/**
 * Structured JSON logs on stderr; stdout stays free for CLI output (tables, JSON lines).
 * One process-wide root logger: its level comes from EPOCH_LOG_LEVEL at import (so modules
 * can log before the configuration is validated) and is set again by `configureLogger`.
 */
import { pino, type Logger } from "pino";

export type { Logger } from "pino";

// Credentials must never reach a log line, whatever object they are nested in.
const SENSITIVE_KEYS = ["authorization", "secret", "password", "token_secret"];
export const REDACT_PATHS = SENSITIVE_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`, `*.*.*.${key}`]);

const LEVELS = new Set(["fatal", "error", "warn", "info", "debug", "trace", "silent"]);

export function createLogger(
  level: string,
  destination: pino.DestinationStream = pino.destination({ dest: 2, sync: true }),
): Logger {
  return pino(
    {
      level: LEVELS.has(level) ? level : "info",
      name: "epoch-meta",
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

export const logger: Logger = createLogger(process.env.EPOCH_LOG_LEVEL ?? "info");

export function configureLogger(level: string): void {
  if (LEVELS.has(level)) logger.level = level;
}

/**
 * A URL fit for a log line: the password (if any) replaced by `***`, everything else kept.
 * Anything that does not parse as a URL with credentials (`sqlite:./data/epoch.db`) is returned as is.
 */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url;
  }
  if (u.password === "") return url;
  u.password = "***";
  return u.toString();
}
