/** The paging flags shared by `repos list` and `tags list`. */
import { InvalidArgumentError, type Command } from "commander";

export interface ListFlags {
  pageSize?: number;
  pageToken?: string;
  orderBy?: string;
  filter?: string[];
  all?: boolean;
  json?: boolean;
}

function nonNegativeInt(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) throw new InvalidArgumentError("must be a whole number >= 0");
  return n;
}

export function addListFlags(command: Command, orders: string): Command {
  return command
    .option("--page-size <n>", "results per page (0 = server default 100, max 1000)", nonNegativeInt)
    .option("--page-token <token>", "continue from a previous page")
    .option("--order-by <order>", orders)
    .option(
      "--filter <filter>",
      'containerd syntax, e.g. "kind==SNAPSHOT,name~=^v1\\." (repeat to OR)',
      (value: string, all: string[] = []) => [...all, value],
    )
    .option("--all", "follow page tokens to the end")
    .option("--json", "print the response as JSON");
}

/** With --all and no explicit size, large pages: fewer round trips. */
export function pageSizeOf(flags: ListFlags): number {
  return flags.pageSize ?? (flags.all ? 1000 : 0);
}
