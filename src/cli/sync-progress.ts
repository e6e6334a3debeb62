/**
 * Following a run's stream in `epoch-meta sync` and `epoch-meta gc`: each event to a view (JSON
 * lines, or progress bars on a terminal — one bar per phase; the server sends the last event of
 * every phase (done = total), so each bar ends full; a phase with nothing to do (total 0) is
 * drawn full as "0/0"), until the run's one `finished` event.
 */
import type { ClientReadableStream } from "@grpc/grpc-js";
import { SingleBar } from "cli-progress";

/** Shows a run's stream as it comes. */
export interface RunView<R> {
  event(r: R): void;
  close(): void;
}

/** One JSON line per event (`--json`). */
export function jsonLinesView<R>(toJSON: (r: R) => unknown): RunView<R> {
  return {
    event: (r) => process.stdout.write(`${JSON.stringify(toJSON(r))}\n`),
    close: () => undefined,
  };
}

/**
 * Shows every event of `stream` in `view` and returns its `finished` event. Ctrl-C detaches: the
 * run goes on on the server, and `command` names how to look at or stop it.
 */
export async function followRun<R extends { event?: { $case: string } }, F>(
  stream: ClientReadableStream<R>,
  view: RunView<R>,
  command: "sync" | "gc",
  finishedOf: (r: R) => F | undefined,
): Promise<F> {
  let finished: F | undefined;
  const onInterrupt = () => {
    stream.cancel();
    process.stderr.write(
      `\ndetached: the run goes on on the server (epoch-meta ${command} --status, --cancel <run-id>)\n`,
    );
  };
  process.once("SIGINT", onInterrupt);
  try {
    for await (const response of stream as AsyncIterable<R>) {
      view.event(response);
      finished = finishedOf(response) ?? finished;
    }
  } finally {
    process.off("SIGINT", onInterrupt);
    view.close();
  }
  if (!finished) throw new Error("the server ended the stream without a result");
  return finished;
}

export class PhaseBars {
  private bar: SingleBar | undefined;
  private phase = "";

  constructor(private readonly stream: NodeJS.WritableStream) {}

  progress(phase: string, done: number, total: number): void {
    // The bar's own total is at least 1, so {done}/{all} shows the real numbers.
    const value = total === 0 ? 1 : done;
    const shown = { done, all: total };
    if (phase === this.phase && this.bar) {
      this.bar.setTotal(Math.max(total, 1));
      this.bar.update(value, shown);
      return;
    }
    this.bar?.stop();
    this.phase = phase;
    this.bar = new SingleBar({
      format: `${phase.padEnd(8)} [{bar}] {done}/{all}`,
      stream: this.stream,
      hideCursor: true,
      clearOnComplete: false,
    });
    this.bar.start(Math.max(total, 1), value, shown);
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}
