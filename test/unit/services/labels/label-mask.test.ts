/**
 * The label rules without a database (DESIGN §8.2): update_mask parsing and the change it plans
 * (replace all, set one, delete one; only differences are written), and the limits.
 */
import { describe, expect, it } from "vitest";
import { parseLabelUpdate, planLabelChange } from "../../../../src/services/labels/label-mask.js";
import { assertLabels, MAX_LABELS } from "../../../../src/services/labels/label-rules.js";
import { errorOf } from "../../../helpers/errors.js";

const plan = (current: Record<string, string>, labels: Record<string, string>, mask: string[]) =>
  planLabelChange(current, parseLabelUpdate(labels, mask));

describe("update_mask", () => {
  const current = { env: "prod", team: "a", tier: "1" };

  it("an empty mask and `labels` replace every label", () => {
    for (const mask of [[], ["labels"], ["labels.env", "labels"]]) {
      const { result, change } = plan(current, { env: "dev", owner: "me" }, mask);
      expect(result).toEqual({ env: "dev", owner: "me" });
      expect(change.set).toEqual({ env: "dev", owner: "me" });
      expect([...change.remove].sort()).toEqual(["team", "tier"]);
    }
    expect(plan(current, {}, []).result).toEqual({});
  });

  it("`labels.<key>` sets the key from the request, or deletes it when the request lacks it; other keys stay", () => {
    const { result, change } = plan(current, { env: "dev", ignored: "x" }, ["labels.env", "labels.team"]);
    expect(result).toEqual({ env: "dev", tier: "1" });
    expect(change).toEqual({ set: { env: "dev" }, remove: ["team"] });
    // Everything after the first `labels.` is the key; a path twice counts once.
    expect(plan({}, { "labels.x.y": "1" }, ["labels.labels.x.y", "labels.labels.x.y"]).result).toEqual({
      "labels.x.y": "1",
    });
    // Deleting an absent key changes nothing.
    expect(plan(current, {}, ["labels.nope"]).change).toEqual({ set: {}, remove: [] });
  });

  it("plans only the differences and returns the result sorted by key", () => {
    const { result, change } = plan({ b: "2", a: "1" }, { a: "1", b: "2", c: "3" }, []);
    expect(change).toEqual({ set: { c: "3" }, remove: [] });
    expect(Object.keys(result)).toEqual(["a", "b", "c"]);
  });

  it("refuses other paths and bad keys in paths", () => {
    for (const mask of [["name"], ["labels."], ["labels.a b"], ["label.x"], ["Labels"]]) {
      expect(errorOf(() => parseLabelUpdate({}, mask)).reason, JSON.stringify(mask)).toBe("INVALID_LABEL");
    }
  });

  it("holds the label count for the result of a partial update", () => {
    const full = Object.fromEntries(Array.from({ length: MAX_LABELS }, (_, i) => [`k${i}`, "v"]));
    expect(errorOf(() => plan(full, { one: "more" }, ["labels.one"])).reason).toBe("INVALID_LABEL");
    // Replacing one of them keeps the count.
    expect(Object.keys(plan(full, { k0: "w" }, ["labels.k0"]).result)).toHaveLength(MAX_LABELS);
  });
});

describe("limits", () => {
  it("keys are 1-1024 bytes of printable ASCII without spaces; key + value at most 4096 UTF-8 bytes", () => {
    const ok: Array<Record<string, string>> = [
      { ["k".repeat(1024)]: "v".repeat(3072) },
      { "~!#$%": "" },
      { key: "é".repeat(2046) },
    ];
    for (const labels of ok) expect(() => assertLabels(labels)).not.toThrow();
    const bad: Array<Record<string, string>> = [
      { "": "v" },
      { "a b": "v" },
      { "a\tb": "v" },
      { é: "v" },
      { ["k".repeat(1025)]: "" },
      { ["k".repeat(1024)]: "v".repeat(3073) },
      { key: "é".repeat(2047) },
    ];
    for (const labels of bad) expect(errorOf(() => assertLabels(labels)).reason).toBe("INVALID_LABEL");
  });

  it("at most 256 labels", () => {
    const labels = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, "v"]));
    expect(() => assertLabels(labels(256))).not.toThrow();
    expect(errorOf(() => assertLabels(labels(257))).reason).toBe("INVALID_LABEL");
  });
});
