/**
 * RFC 3339 times as Go writes them (`time.RFC3339Nano`: fraction optional, trailing zeros
 * trimmed, `Z` or a numeric offset). Parsing is tolerant; formatting matches Go's output.
 */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/** The instant of an RFC 3339 string (millisecond precision), or undefined if it is not one. */
export function parseRfc3339(text: string): Date | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const millis = m[7] ? Number(m[7].padEnd(3, "0").slice(0, 3)) : 0;
  let offsetMinutes = 0;
  if (!m[8]) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = (m[9] === "-" ? -1 : 1) * (oh * 60 + om);
  }
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, millis) - offsetMinutes * 60_000;
  // Date.UTC maps years 0–99 to 1900–1999; setUTCFullYear undoes that.
  const date = new Date(utc);
  if (year < 100) date.setUTCFullYear(date.getUTCFullYear() - 1900);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(2000, month, 0)).getUTCDate() - (month === 2 && !isLeap(year) ? 1 : 0);
}

function isLeap(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/** Formats like Go's `time.RFC3339Nano` in UTC: `2024-05-01T10:00:00.12Z`, no fraction when zero. */
export function formatRfc3339(date: Date): string {
  const iso = date.toISOString(); // always YYYY-MM-DDTHH:mm:ss.sssZ for years 0–9999
  const [whole, fraction] = iso.slice(0, -1).split(".") as [string, string];
  const trimmed = fraction.replace(/0+$/, "");
  return trimmed ? `${whole}.${trimmed}Z` : `${whole}Z`;
}
