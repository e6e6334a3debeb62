/**
 * Namespace labels (DESIGN §8.1, §8.2) in NamespaceService against real databases (SQLite and
 * MariaDB): CreateNamespace with labels (limits refused before anything is written),
 * UpdateNamespace's update_mask semantics (replace all, set one, delete one) moving update_time
 * only when something changed, labels in Get and List answers (a page's labels in one more
 * statement), ListNamespaces filters on `name` and every `labels."key"` operator with
 * pagination and inserts between pages, and labels going with a deleted namespace.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../../../src/db/data-source.js";
import { findNamespace } from "../../../../src/db/namespaces/namespace-store.js";
import { NamespaceResolver } from "../../../../src/services/namespaces/namespace-resolver.js";
import { NamespaceRuntimes } from "../../../../src/services/namespaces/namespace-runtimes.js";
import { NamespaceService } from "../../../../src/services/namespaces/namespace-service.js";
import { createMigratedDatabase, forEachDialect } from "../../../helpers/database.js";
import { rejection } from "../../../helpers/errors.js";
import { StatementCounter } from "../../../helpers/statement-counter.js";

forEachDialect("namespace labels", (dialect) => {
  let db: Database;
  let cleanup: () => Promise<void>;
  let service: NamespaceService;
  const counter = new StatementCounter();

  beforeAll(async () => {
    ({ db, cleanup } = await createMigratedDatabase(dialect, { logger: counter }));
    const runtimes = new NamespaceRuntimes(db, {
      storageUrl: "file:/nonexistent-epoch-root",
      sync: { concurrency: 1, leaseTtlMs: 30_000 },
    });
    service = new NamespaceService(db, new NamespaceResolver((name) => findNamespace(db, name)), runtimes, "file:/x");
  });
  afterAll(async () => {
    await cleanup?.();
  });

  const labelRows = async () =>
    Number((await db.ds.query("SELECT COUNT(*) AS n FROM namespace_labels"))[0].n as number | string);

  describe("create, get, update", () => {
    it("creates with labels, shows them in Get and List, and refuses bad ones before writing", async () => {
      const created = await service.create({ name: "alpha", storageUrl: "", labels: { team: "a", env: "prod" } });
      expect(created.labels).toEqual({ env: "prod", team: "a" });
      expect((await service.get("alpha")).labels).toEqual({ env: "prod", team: "a" });
      expect((await service.get("default")).labels).toEqual({});

      const before = await labelRows();
      for (const labels of [
        { "bad key": "x" },
        { "": "x" },
        { k: "v".repeat(4096) },
        Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`k${i}`, "v"])),
      ]) {
        const e = await rejection(service.create({ name: "beta", storageUrl: "", labels }));
        expect(e).toMatchObject({ kind: "invalid_argument", reason: "INVALID_LABEL" });
      }
      expect(await findNamespace(db, "beta")).toBeUndefined();
      expect(await labelRows()).toBe(before);
      // 256 labels is the limit, not over it.
      const many = Object.fromEntries(Array.from({ length: 256 }, (_, i) => [`k${i}`, "v"]));
      expect(Object.keys((await service.create({ name: "beta", storageUrl: "", labels: many })).labels)).toHaveLength(
        256,
      );
    });

    it("UpdateNamespace: `labels` (and an empty mask) replaces all; `labels.<key>` sets or deletes one", async () => {
      await service.create({ name: "gamma", storageUrl: "", labels: { a: "1" } });
      const update = (labels: Record<string, string>, updateMask: string[]) =>
        service.update({ name: "gamma", labels, updateMask });
      expect((await update({ env: "prod", team: "x" }, [])).labels).toEqual({ env: "prod", team: "x" });
      expect((await update({ tier: "1" }, ["labels"])).labels).toEqual({ tier: "1" });
      expect((await update({ env: "dev", ignored: "y" }, ["labels.env", "labels.tier"])).labels).toEqual({
        env: "dev",
      });
      expect((await update({ "io.x/y.z": "1" }, ["labels.io.x/y.z"])).labels).toEqual({ env: "dev", "io.x/y.z": "1" });
      expect((await service.get("gamma")).labels).toEqual({ env: "dev", "io.x/y.z": "1" });

      for (const [labels, mask] of [
        [{}, ["name"]],
        [{}, ["labels.bad key"]],
        [{ "bad key": "1" }, ["labels"]],
      ] as Array<[Record<string, string>, string[]]>) {
        expect(await rejection(update(labels, mask))).toMatchObject({ reason: "INVALID_LABEL" });
      }
      const tooMany = Object.fromEntries(Array.from({ length: 255 }, (_, i) => [`n${i}`, "v"]));
      // 2 kept + 255 set = 257: refused as a whole.
      const e = await rejection(
        update(
          tooMany,
          Object.keys(tooMany).map((k) => `labels.${k}`),
        ),
      );
      expect(e).toMatchObject({ reason: "INVALID_LABEL" });
      expect((await service.get("gamma")).labels).toEqual({ env: "dev", "io.x/y.z": "1" });

      expect(await rejection(service.update({ name: "nope", labels: {}, updateMask: [] }))).toMatchObject({
        kind: "not_found",
        reason: "NAMESPACE_NOT_FOUND",
      });
      expect(await rejection(service.update({ name: "Bad!", labels: {}, updateMask: [] }))).toMatchObject({
        reason: "INVALID_NAME",
      });
    });

    it("moves update_time only when the labels change, and writes nothing otherwise", async () => {
      const created = await service.create({ name: "delta", storageUrl: "", labels: { a: "1" } });
      await new Promise((r) => setTimeout(r, 20));
      counter.reset();
      const same = await service.update({ name: "delta", labels: { a: "1" }, updateMask: ["labels.a"] });
      expect(counter.matching(/^\s*(INSERT|UPDATE|DELETE)/i)).toEqual([]);
      expect(same.updateTime).toEqual(created.updateTime);
      const changed = await service.update({ name: "delta", labels: { a: "2" }, updateMask: [] });
      expect(changed.updateTime.getTime()).toBeGreaterThan(created.updateTime.getTime());
      expect(changed.createTime).toEqual(created.createTime);
    });

    it("labels go with a deleted namespace; the name taken again starts bare", async () => {
      await service.create({ name: "epsilon", storageUrl: "", labels: { gone: "soon" } });
      const id = (await findNamespace(db, "epsilon"))!.id;
      await service.delete("epsilon");
      const left = await db.ds.query("SELECT COUNT(*) AS n FROM namespace_labels WHERE namespace_id = ?", [id]);
      expect(Number(left[0].n)).toBe(0);
      expect((await service.create({ name: "epsilon", storageUrl: "", labels: {} })).labels).toEqual({});
    });
  });

  describe("ListNamespaces filters", () => {
    /** f00…f19: env = prod (i % 3 == 0), dev (i % 3 == 1), "" (i % 3 == 2 and i even), none otherwise; tier on every 4th. */
    const NAMES = Array.from({ length: 20 }, (_, i) => `f${String(i).padStart(2, "0")}`);
    const labelsOf = (i: number): Record<string, string> => ({
      ...(i % 3 === 0 && { env: "prod" }),
      ...(i % 3 === 1 && { env: "dev" }),
      ...(i % 3 === 2 && i % 2 === 0 && { env: "" }),
      ...(i % 4 === 0 && { tier: `t${i % 8}` }),
    });
    beforeAll(async () => {
      for (const [i, name] of NAMES.entries()) await service.create({ name, storageUrl: "", labels: labelsOf(i) });
    });

    const readAll = async (filter: string[], pageSize: number, between?: (page: number) => Promise<void>) => {
      const names: string[] = [];
      let pageToken = "";
      let pages = 0;
      do {
        const page = await service.list({ pageSize, pageToken, filter });
        names.push(...page.namespaces.map((n) => n.name));
        pageToken = page.nextPageToken;
        pages++;
        if (pageToken && between) await between(pages);
      } while (pageToken);
      return { names, pages };
    };
    const value = (i: number, key: string) => (Object.hasOwn(labelsOf(i), key) ? labelsOf(i)[key] : undefined);
    const cases: Array<[string[], (i: number) => boolean]> = [
      [['labels."env"==prod'], (i) => value(i, "env") === "prod"],
      [['labels."env"!=prod'], (i) => (value(i, "env") ?? "") !== "prod"],
      [['labels."env"==""'], (i) => value(i, "env") === ""],
      [['labels."env"!=""'], (i) => (value(i, "env") ?? "") !== ""],
      [["labels.env"], (i) => value(i, "env") !== undefined],
      [['labels."env"~="^(pr|de)"'], (i) => /^(pr|de)/.test(value(i, "env") ?? "")],
      [['labels."env"~="^(dev)?$"'], (i) => /^(dev)?$/.test(value(i, "env") ?? "")],
      [['labels."env"==prod,labels.tier'], (i) => value(i, "env") === "prod" && value(i, "tier") !== undefined],
      [['labels."env"==dev', 'labels."tier"==t4'], (i) => value(i, "env") === "dev" || value(i, "tier") === "t4"],
      [['labels."env"==prod,name~="^f1"'], (i) => value(i, "env") === "prod" && i >= 10],
      [["name==f05"], (i) => i === 5],
      [['labels."nope"==x'], () => false],
    ];
    for (const [filter, expected] of cases) {
      it(`${JSON.stringify(filter)}, two at a time`, async () => {
        const want = NAMES.filter((_, i) => expected(i));
        // `default` and the namespaces of the other tests have no `env`, so they match only the negations.
        const { names, pages } = await readAll(filter, 2);
        expect(names.filter((n) => /^f\d\d$/.test(n))).toEqual(want);
        expect(names).toEqual([...names].sort());
        expect(pages).toBeGreaterThanOrEqual(Math.ceil(want.length / 2));
      });
    }

    it("reads a page's labels in one more statement", async () => {
      counter.reset();
      const page = await service.list({ pageSize: 5, pageToken: "", filter: ['labels."tier"==t0'] });
      expect(page.namespaces.map((n) => [n.name, n.labels])).toEqual([0, 8, 16].map((i) => [NAMES[i], labelsOf(i)]));
      expect(counter.count).toBe(2);
      expect(counter.statements[1]).toMatch(/FROM namespace_labels/);
    });

    it("paginates a label filter with inserts and relabels between pages: no repeats, in order, nothing lost", async () => {
      let n = 0;
      const { names } = await readAll(['labels."env"==prod'], 2, async () => {
        n++;
        // One new match before the cursor (never seen), one after it (seen), one relabelled away.
        await service.create({ name: `a0-${n}`, storageUrl: "", labels: { env: "prod" } });
        await service.create({ name: `f19-${n}`, storageUrl: "", labels: { env: "prod" } });
        if (n === 1) await service.update({ name: "f18", labels: {}, updateMask: ["labels.env"] });
      });
      expect(names).toEqual([...new Set(names)].sort());
      // Matched throughout: f00 … f15 (f18 was relabelled before its page).
      for (const i of [0, 3, 6, 9, 12, 15]) expect(names).toContain(NAMES[i]);
      expect(names).not.toContain("f18");
      expect(names.filter((x) => x.startsWith("f19-")).length).toBeGreaterThan(0);
      expect(names.filter((x) => x.startsWith("a0-"))).toEqual([]);
    });

    it("binds page tokens to the filter", async () => {
      const first = await service.list({ pageSize: 1, pageToken: "", filter: ['labels."env"==prod'] });
      const e = await rejection(service.list({ pageSize: 1, pageToken: first.nextPageToken, filter: ["labels.env"] }));
      expect(e).toMatchObject({ reason: "INVALID_PAGE_TOKEN" });
      const bad = await rejection(service.list({ pageSize: 1, pageToken: "", filter: ['labels."a b"==x'] }));
      expect(bad).toMatchObject({ reason: "INVALID_FILTER" });
    });
  });
});
