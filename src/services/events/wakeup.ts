/**
 * The wait of a loop that polls the outbox (the watch tail, each sink's deliverer): it ends after
 * the poll interval, or at once when this replica committed events (`notify`). Armed before the
 * read it follows, so a notify that comes during the read is not lost.
 */
import { EventEmitter } from "node:events";

export interface ArmedWait {
  /** Resolves at the interval, on a notify, or when `signal` aborts. */
  promise: Promise<void>;
  /** Ends the wait now (the read found work, or failed). */
  cancel(): void;
}

export class Wakeup {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  notify(): void {
    this.emitter.emit("wake");
  }

  arm(ms: number, signal?: AbortSignal): ArmedWait {
    let cancel = () => {};
    const promise = new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.emitter.off("wake", done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.emitter.once("wake", done);
      signal?.addEventListener("abort", done, { once: true });
      if (signal?.aborted) done();
      cancel = done;
    });
    return { promise, cancel };
  }
}
