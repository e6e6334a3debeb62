import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatRfc3339, parseRfc3339 } from "../../../src/oci/rfc3339.js";

describe("RFC 3339", () => {
  it.each([
    ["2024-05-01T10:00:00Z", "2024-05-01T10:00:00.000Z"],
    ["2024-05-01T10:00:00.5Z", "2024-05-01T10:00:00.500Z"],
    ["2024-05-01T10:00:00.123456789Z", "2024-05-01T10:00:00.123Z"],
    ["2024-05-01T12:00:00+02:00", "2024-05-01T10:00:00.000Z"],
    ["2024-05-01t10:00:00z", "2024-05-01T10:00:00.000Z"],
    ["2024-02-29T00:00:00Z", "2024-02-29T00:00:00.000Z"],
    ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z"],
  ])("parses %s", (text, iso) => {
    expect(parseRfc3339(text)?.toISOString()).toBe(iso);
  });

  it.each([
    "",
    "2024-05-01",
    "2024-05-01 10:00:00Z",
    "2024-13-01T00:00:00Z",
    "2023-02-29T00:00:00Z",
    "2024-05-01T24:00:00Z",
    "2024-05-01T10:00:00",
    "2024-05-01T10:00:00.Z",
    "2024-05-01T10:00:00+2:00",
  ])("rejects %j", (text) => {
    expect(parseRfc3339(text)).toBeUndefined();
  });

  it("formats like Go's RFC3339Nano in UTC (trailing zeros trimmed)", () => {
    expect(formatRfc3339(new Date("2024-05-01T10:00:00.000Z"))).toBe("2024-05-01T10:00:00Z");
    expect(formatRfc3339(new Date("2024-05-01T10:00:00.120Z"))).toBe("2024-05-01T10:00:00.12Z");
    expect(formatRfc3339(new Date("2024-05-01T10:00:00.007Z"))).toBe("2024-05-01T10:00:00.007Z");
  });

  it("round-trips every millisecond instant", () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date("1970-01-01T00:00:00Z"), max: new Date("9999-12-31T23:59:59Z"), noInvalidDate: true }),
        (d) => {
          expect(parseRfc3339(formatRfc3339(d))?.getTime()).toBe(d.getTime());
        },
      ),
    );
  });
});
