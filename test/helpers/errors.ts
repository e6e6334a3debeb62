/** Catching what a call throws or rejects with, for tests that inspect the error itself. */
import { expect } from "vitest";
import { EpochError } from "../../src/errors.js";

/** The EpochError `fn` throws (failing the test if it throws anything else, or nothing). */
export function errorOf(fn: () => unknown): EpochError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(EpochError);
    return e as EpochError;
  }
  throw new Error("expected an error");
}

/** What `p` rejects with (throws if it resolves). */
export async function rejection(p: Promise<unknown>): Promise<{ kind?: string; reason?: string }> {
  try {
    await p;
  } catch (e) {
    return e as { kind?: string; reason?: string };
  }
  throw new Error("expected a rejection");
}
