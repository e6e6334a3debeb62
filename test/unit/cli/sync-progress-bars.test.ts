/**
 * `epoch-meta sync`'s bars on a (fake) terminal: a full sync's events, as the server sends them,
 * end every bar it draws full — "commit 0/0" for a phase with nothing to do, never "commit 0/1".
 */
import { PassThrough } from "node:stream";
import { expect, it } from "vitest";
import { PhaseBars } from "../../../src/cli/sync-progress.js";

/** What a terminal shows last for each phase: "done/total" of its bar's final drawing. */
function lastDrawn(output: string): Record<string, string> {
  // eslint-disable-next-line no-control-regex
  const plain = output.replace(/\x1B(?:\[[0-9;?]*[A-Za-z]|[78])/g, "\n");
  const shown: Record<string, string> = {};
  for (const m of plain.matchAll(/^(\w+)\s+\[([^\]]*)\] (\d+\/\d+)/gm)) {
    const bar = m[2]!;
    shown[m[1]!] = `${m[3]} ${bar.includes("-") ? "partial" : "full"}`;
  }
  return shown;
}

it("ends every phase's bar full, including phases with nothing to do", () => {
  const terminal = Object.assign(new PassThrough(), { isTTY: true, columns: 100 });
  let output = "";
  terminal.on("data", (d: Buffer) => (output += d.toString()));
  const bars = new PhaseBars(terminal);
  const events: Array<[string, number, number]> = [
    ["catalog", 0, 1],
    ["catalog", 1, 1],
    ["plan", 0, 1],
    ["plan", 1, 1],
    ["fetch", 0, 30],
    ["fetch", 17, 30],
    ["fetch", 30, 30],
    ["commit", 0, 0],
    ["cleanup", 0, 9],
    ["cleanup", 9, 9],
  ];
  for (const [phase, done, total] of events) bars.progress(phase, done, total);
  bars.stop();
  expect(lastDrawn(output)).toEqual({
    catalog: "1/1 full",
    plan: "1/1 full",
    fetch: "30/30 full",
    commit: "0/0 full",
    cleanup: "9/9 full",
  });
});
