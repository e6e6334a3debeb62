/**
 * Why a MySQL/MariaDB connection could not be opened, in one line an operator can act on: the
 * server is unreachable, the database does not exist (with the statement that creates it), or
 * the credentials were refused. Never the password; the URL is named by host, port and database.
 */
import { unavailable, type EpochError } from "../errors.js";

export interface ConnectionTarget {
  host: string;
  port: number;
  user: string;
  database: string;
}

const UNREACHABLE: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ETIMEDOUT: "timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed",
  ECONNRESET: "connection reset",
  PROTOCOL_CONNECTION_LOST: "connection lost",
};

const BAD_CREDENTIALS = new Set(["ER_ACCESS_DENIED_ERROR", "ER_ACCESS_DENIED_NO_PASSWORD_ERROR"]);

/** The error to report for a failed connection attempt to `target` (reason DATABASE_UNAVAILABLE). */
export function connectionError(e: unknown, target: ConnectionTarget): EpochError {
  const code = String((e as { code?: unknown } | null)?.code ?? "");
  const where = `${target.host}:${target.port}`;
  let message: string;
  if (code === "ER_BAD_DB_ERROR") {
    message =
      `database ${JSON.stringify(target.database)} does not exist on ${where}: create it with ` +
      `CREATE DATABASE \`${target.database}\` CHARACTER SET utf8mb4; (EPOCH_DATABASE_URL)`;
  } else if (BAD_CREDENTIALS.has(code)) {
    message = `database ${where} refused user ${JSON.stringify(target.user)}: bad credentials (check the user and password in EPOCH_DATABASE_URL)`;
  } else if (code === "ER_DBACCESS_DENIED_ERROR") {
    message = `database ${where} refused user ${JSON.stringify(target.user)} access to database ${JSON.stringify(target.database)} (grant it, or fix EPOCH_DATABASE_URL)`;
  } else if (code in UNREACHABLE) {
    message = `database ${where} is unreachable (${UNREACHABLE[code]}): is the server running, and is EPOCH_DATABASE_URL right?`;
  } else {
    message = `cannot connect to database ${where}/${target.database} (${code || firstLine(e)})`;
  }
  return unavailable(message, "DATABASE_UNAVAILABLE", { cause: e });
}

const firstLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split("\n")[0]!;
