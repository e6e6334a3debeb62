/** Holds a task at one named pause point (a token-cache miss, a sync's fault point) until the test releases it (never timing). */
export function gate(point: string) {
  let reached!: () => void;
  let release!: () => void;
  const reachedP = new Promise<void>((r) => (reached = r));
  const releaseP = new Promise<void>((r) => (release = r));
  return {
    pausePoint: async (p: string) => {
      if (p !== point) return;
      reached();
      await releaseP;
    },
    reached: reachedP,
    release,
  };
}
