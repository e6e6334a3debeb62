import { describe, expect, it } from "vitest";
import { formatLabels, parseLabelArgs } from "../../../src/cli/labels.js";

describe("label arguments of the CLI", () => {
  it("key=value sets, key- deletes, each named in the mask; --replace replaces all", () => {
    expect(parseLabelArgs(["env=prod", "team-", "a=b=c", "empty="], false)).toEqual({
      labels: { env: "prod", a: "b=c", empty: "" },
      updateMask: ["labels.env", "labels.team", "labels.a", "labels.empty"],
    });
    expect(parseLabelArgs(["env=prod"], true)).toEqual({ labels: { env: "prod" }, updateMask: ["labels"] });
    expect(parseLabelArgs([], true)).toEqual({ labels: {}, updateMask: ["labels"] });
  });

  it("refuses arguments that are neither, and nothing at all", () => {
    expect(() => parseLabelArgs(["nonsense"], false)).toThrow(/key=value/);
    expect(() => parseLabelArgs(["=x"], false)).toThrow(/key=value/);
    expect(() => parseLabelArgs(["team-"], true)).toThrow(/key=value/);
    expect(() => parseLabelArgs([], false)).toThrow(/at least one/);
  });

  it("shows labels as key=value pairs", () => {
    expect(formatLabels({})).toBe("-");
    expect(formatLabels({ a: "1", b: "" })).toBe("a=1, b=");
  });
});
