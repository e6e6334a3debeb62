/**
 * The progress bars of `epoch-meta sync` on a terminal: one bar per phase, drawn from the
 * stream's progress events. The server sends the last event of every phase (done = total), so
 * each bar ends full; a phase with nothing to do (total 0) is drawn full as "0/0".
 */
import { SingleBar } from "cli-progress";

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
