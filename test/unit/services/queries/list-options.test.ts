import { describe, expect, it } from "vitest";
import { pageSize, parseRepositoryOrder, parseTagOrder } from "../../../../src/services/queries/list-options.js";
import { errorOf } from "../../../helpers/errors.js";

describe("page_size", () => {
  it("0 means the default of 100; values above 1000 are clamped", () => {
    expect(pageSize(0)).toBe(100);
    expect(pageSize(1)).toBe(1);
    expect(pageSize(1000)).toBe(1000);
    expect(pageSize(1001)).toBe(1000);
    expect(pageSize(2 ** 31 - 1)).toBe(1000);
  });

  it("negative (or non-integer) is INVALID_PAGE_SIZE", () => {
    for (const n of [-1, -(2 ** 31), 1.5, Number.NaN]) {
      const e = errorOf(() => pageSize(n));
      expect([e.kind, e.reason]).toEqual(["invalid_argument", "INVALID_PAGE_SIZE"]);
    }
  });
});

describe("order_by", () => {
  it("accepts the documented tag orders, name by default", () => {
    expect(parseTagOrder("")).toBe("name");
    expect(parseTagOrder("name")).toBe("name");
    expect(parseTagOrder("name desc")).toBe("name desc");
    expect(parseTagOrder("push_time desc")).toBe("push_time desc");
    expect(parseTagOrder("total_size desc")).toBe("total_size desc");
  });

  it("treats whitespace and an explicit asc as insignificant", () => {
    expect(parseTagOrder("  push_time   desc ")).toBe("push_time desc");
    expect(parseTagOrder("name asc")).toBe("name");
    expect(parseRepositoryOrder("\tupdate_time\tdesc")).toBe("update_time desc");
  });

  it("accepts the documented repository orders, name by default", () => {
    expect(parseRepositoryOrder("")).toBe("name");
    expect(parseRepositoryOrder("name")).toBe("name");
    expect(parseRepositoryOrder("update_time desc")).toBe("update_time desc");
    expect(parseRepositoryOrder("total_size desc")).toBe("total_size desc");
  });

  it("rejects anything else with INVALID_ORDER_BY", () => {
    const tagBad = [
      "push_time",
      "total_size",
      "NAME",
      "name desc, push_time desc",
      "update_time desc",
      "size desc",
      "x".repeat(100),
    ];
    for (const o of tagBad) expect(errorOf(() => parseTagOrder(o)).reason, o).toBe("INVALID_ORDER_BY");
    const repoBad = ["name desc", "push_time desc", "update_time", "total_size"];
    for (const o of repoBad) expect(errorOf(() => parseRepositoryOrder(o)).reason, o).toBe("INVALID_ORDER_BY");
  });
});
