/**
 * The `label` subcommands' arguments: `key=value` sets a label, `key-` deletes one (kubectl
 * label's syntax); `--replace` makes the given labels the only ones. They become an update
 * request with a FieldMask of `labels.<key>` paths (or `labels`), so labels not named stay.
 */
export interface LabelArgs {
  labels: Record<string, string>;
  updateMask: string[];
}

export function parseLabelArgs(args: readonly string[], replace: boolean): LabelArgs {
  const labels: Record<string, string> = {};
  const updateMask: string[] = [];
  for (const arg of args) {
    const eq = arg.indexOf("=");
    if (eq > 0) {
      const key = arg.slice(0, eq);
      labels[key] = arg.slice(eq + 1);
      updateMask.push(`labels.${key}`);
    } else if (arg.endsWith("-") && arg.length > 1 && !replace) {
      updateMask.push(`labels.${arg.slice(0, -1)}`);
    } else {
      throw new Error(`label argument ${JSON.stringify(arg)}: write key=value to set or key- to delete`);
    }
  }
  if (replace) return { labels, updateMask: ["labels"] };
  if (updateMask.length === 0) throw new Error("name at least one label: key=value to set, key- to delete");
  return { labels, updateMask };
}

/** `env=prod, team=a`, or "-" without labels. */
export function formatLabels(labels: Record<string, string>): string {
  const entries = Object.entries(labels);
  return entries.length === 0 ? "-" : entries.map(([k, v]) => `${k}=${v}`).join(", ");
}
