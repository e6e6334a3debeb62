/**
 * `epoch-meta events watch [--after ID] [--filter F]… [--all-namespaces] [--json]`: follows the
 * event stream of a running server, one line per event, until interrupted. A consumer script
 * keeps the last id it printed and passes it back with --after to resume without a gap.
 */
import { Metadata } from "@grpc/grpc-js";
import type { Command } from "commander";
import { Event, type WatchEventsResponse } from "epoch-meta-client/epoch/v1/event_service";
import { addServerOption, clientConfigFrom, connect } from "./client.js";
import { formatTime } from "./output.js";

interface WatchFlags {
  server?: string;
  after: string;
  filter: string[];
  allNamespaces?: boolean;
  json?: boolean;
}

export function register(program: Command): void {
  const events = program.command("events").description("the event stream (every change to the index)");
  addServerOption(events.command("watch"))
    .description("print stored events after --after, then live ones, until interrupted")
    .option("--after <id>", "resume after this event id (0 = from the oldest kept)", "0")
    .option(
      "--filter <filter>",
      'containerd filter on topic, subject, namespace, e.g. topic~="^/tags/" (repeat = OR)',
      collect,
      [],
    )
    .option("--all-namespaces", "every namespace's events (system admin)")
    .option("--json", "print each event as a JSON line")
    .action(async (flags: WatchFlags) => {
      const afterId = Number(flags.after);
      if (!Number.isSafeInteger(afterId) || afterId < 0)
        throw new Error("--after must be an event id (a whole number)");
      await watch(flags, afterId);
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

async function watch(flags: WatchFlags, afterId: number): Promise<void> {
  const clients = connect(clientConfigFrom(flags));
  const stream = clients.events.watchEvents(
    { afterId, filter: flags.filter, allNamespaces: flags.allNamespaces ?? false },
    new Metadata(),
  );
  const stop = () => stream.cancel();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    await new Promise<void>((resolve, reject) => {
      stream.on("data", (r: WatchEventsResponse) => print(r.event!, flags.json ?? false));
      stream.on("end", resolve);
      stream.on("error", (e: Error & { code?: number }) =>
        e.code === 1 /* CANCELLED: we stopped */ ? resolve() : reject(e),
      );
    });
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    clients.close();
  }
}

function print(event: Event, json: boolean): void {
  if (json) {
    // One line per event (JSON Lines), so a consumer can read it as a stream.
    process.stdout.write(`${JSON.stringify(Event.toJSON(event))}\n`);
    return;
  }
  process.stdout.write(
    `${event.id}\t${formatTime(event.time)}\t${event.namespace}\t${event.topic}\t${event.subject}\n`,
  );
}
