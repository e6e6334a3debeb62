/**
 * The bookkeeping a service does for the run it has in flight (a sync, a collection): forget it
 * once it settles, and hand its result to the `onRunFinished` hook (metrics, the scheduler)
 * without letting a failing hook become an unhandled rejection.
 */
import { logger } from "../../logger.js";

export function settleActiveRun<F>(
  done: Promise<F>,
  clear: () => void,
  onRunFinished: ((finished: F) => void) | undefined,
  what: "sync" | "GC",
): void {
  done.then(clear, clear);
  if (onRunFinished)
    done
      .then(onRunFinished, () => undefined)
      .catch((e: unknown) => logger.error({ err: e }, `recording a finished ${what} run failed`));
}
