import { describe, expect, it } from "vitest";
import { mapBounded } from "../../src/bounded.js";

describe("mapBounded", () => {
  it("maps in the items' order with at most `concurrency` calls in flight", async () => {
    let inFlight = 0;
    let most = 0;
    const out = await mapBounded([5, 1, 4, 2, 3, 0], 2, async (n, i) => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, n));
      inFlight--;
      return `${i}:${n}`;
    });
    expect(out).toEqual(["0:5", "1:1", "2:4", "3:2", "4:3", "5:0"]);
    expect(most).toBe(2);
  });

  it("runs one at a time for a concurrency below one, and nothing for no items", async () => {
    const seen: number[] = [];
    expect(await mapBounded([1, 2], 0, (n) => seen.push(n))).toEqual([1, 2]);
    expect(seen).toEqual([1, 2]);
    expect(await mapBounded([], 4, () => 1)).toEqual([]);
  });

  it("rejects with the first failure", async () => {
    await expect(
      mapBounded([1, 2, 3], 2, async (n) => {
        if (n === 2) throw new Error("two");
        return n;
      }),
    ).rejects.toThrow("two");
  });
});
