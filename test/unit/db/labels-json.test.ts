/** The labels a list reads in its own statement (labelsJsonSql), decoded; an unreadable value asks for a separate read. */
import { describe, expect, it } from "vitest";
import { labelsFromJson } from "../../../src/db/labels/label-store.js";

describe("labelsFromJson", () => {
  it("decodes the aggregate of either dialect, sorted by key; none is {}", () => {
    expect(labelsFromJson('{"team":"a", "env":"pr\\"od"}')).toEqual({ env: 'pr"od', team: "a" });
    expect(Object.keys(labelsFromJson('{"b":"1","a":"2","c":""}')!)).toEqual(["a", "b", "c"]);
    expect(labelsFromJson(null)).toEqual({});
    expect(labelsFromJson("{}")).toEqual({});
  });

  it("answers undefined for an aggregate cut short or not an object", () => {
    expect(labelsFromJson('{"env":"pro')).toBeUndefined();
    expect(labelsFromJson('["a"]')).toBeUndefined();
    expect(labelsFromJson("null")).toBeUndefined();
  });
});
