/**
 * Bounded concurrency for the loops that look at many objects or namespaces (HEADs, stats,
 * unlinks, fixture writes, scheduled syncs): a few workers take the next item until none is left.
 * No layer of its own: storage/, services/ and demo/ all use it.
 */

/**
 * `fn` over `items`, at most `concurrency` at a time (at least one), results in the items' order.
 * A rejection rejects the whole once the workers in flight are done with their current item.
 */
export async function mapBounded<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => R | Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  return out;
}
