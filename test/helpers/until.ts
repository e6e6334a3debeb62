/**
 * Polls `ok` every 10 ms until it holds, or fails naming `what` after `ms` (a correctness deadline
 * with a generous margin, never a measured speed).
 */
export async function until(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  if (!ok()) throw new Error(`timed out waiting for ${what}`);
}
