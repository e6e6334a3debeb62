/** Holds a token-cache miss at one named pause point until the test releases it (never timing). */
import type { TokenCachePoint } from "../../src/services/tokens/token-cache.js";

export function gate(point: TokenCachePoint) {
  let reached!: () => void;
  let release!: () => void;
  const reachedP = new Promise<void>((r) => (reached = r));
  const releaseP = new Promise<void>((r) => (release = r));
  return {
    pausePoint: async (p: TokenCachePoint) => {
      if (p !== point) return;
      reached();
      await releaseP;
    },
    reached: reachedP,
    release,
  };
}
