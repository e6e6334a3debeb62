/**
 * The name → namespace cache that every call goes through: a fresh answer is served without a
 * promise, an entry is trusted for its TTL only (so a namespace deleted on another replica stops
 * resolving), `default` is kept for good, unknown names are not kept, and an unreachable
 * database gets the last answer for up to staleMaxMs.
 */
import { describe, expect, it } from "vitest";
import type { NamespaceRecord } from "../../../../src/db/namespaces/namespace-store.js";
import { NamespaceResolver } from "../../../../src/services/namespaces/namespace-resolver.js";
import { rejection } from "../../../helpers/errors.js";

function setup() {
  const clock = { t: 0 };
  const rows = new Map<string, NamespaceRecord>();
  const add = (name: string, id: number) =>
    rows.set(name, { id, name, storageUrl: "", createdAt: new Date(0), updatedAt: null });
  add("default", 1);
  add("blue", 2);
  const state = { reads: 0, down: false };
  const resolver = new NamespaceResolver(
    async (name) => {
      state.reads++;
      if (state.down) throw Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
      return rows.get(name);
    },
    { ttlMs: 1_000, staleMaxMs: 60_000, now: () => clock.t },
  );
  return { clock, rows, state, resolver };
}

describe("NamespaceResolver", () => {
  it("serves a fresh entry synchronously and re-reads it after the TTL; a deleted namespace stops resolving", async () => {
    const { clock, rows, state, resolver } = setup();
    expect(resolver.peek("blue")).toBeUndefined();
    expect(await resolver.resolve("blue")).toMatchObject({ id: 2, name: "blue" });
    expect(resolver.peek("blue")).toMatchObject({ id: 2 });
    await resolver.resolve("blue");
    expect(state.reads).toBe(1);

    rows.delete("blue");
    clock.t = 999;
    expect(resolver.peek("blue")).toMatchObject({ id: 2 });
    clock.t = 1_000;
    expect(resolver.peek("blue")).toBeUndefined();
    expect(await rejection(resolver.resolve("blue"))).toMatchObject({
      kind: "not_found",
      reason: "NAMESPACE_NOT_FOUND",
    });
    expect(state.reads).toBe(2);
  });

  it("keeps default for good and does not keep unknown names", async () => {
    const { clock, rows, state, resolver } = setup();
    await resolver.resolve("default");
    rows.delete("default");
    clock.t = 1e9;
    expect(resolver.peek("default")).toMatchObject({ id: 1 });
    for (let i = 0; i < 3; i++)
      expect(await rejection(resolver.resolve("nope"))).toMatchObject({ reason: "NAMESPACE_NOT_FOUND" });
    expect(state.reads).toBe(4);
  });

  it("refuses a bad name before any read", async () => {
    const { state, resolver } = setup();
    for (const bad of ["Blue", "a..b", "x".repeat(77), "-a", "a/b"])
      expect(await rejection(resolver.resolve(bad))).toMatchObject({
        kind: "invalid_argument",
        reason: "INVALID_NAME",
      });
    expect(state.reads).toBe(0);
  });

  it("serves the last answer while the database is unreachable, up to staleMaxMs", async () => {
    const { clock, state, resolver } = setup();
    await resolver.resolve("blue");
    state.down = true;
    clock.t = 30_000;
    expect(await resolver.resolve("blue")).toMatchObject({ id: 2 });
    clock.t = 60_000;
    await expect(resolver.resolve("blue")).rejects.toThrow(/ECONNREFUSED/);
  });

  it("evicts a name at once on this replica", async () => {
    const { state, resolver } = setup();
    await resolver.resolve("blue");
    resolver.evict("blue");
    expect(resolver.peek("blue")).toBeUndefined();
    await resolver.resolve("blue");
    expect(state.reads).toBe(2);
  });
});
