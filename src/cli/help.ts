/**
 * Help text shared by every command: an option's default is shown once. Descriptions that
 * already say their default ("default pull", "(EPOCH_SERVER, default: …)") are printed as they
 * are; commander appends "(default: …)" only to those that do not.
 */
import type { Command, Help, Option } from "commander";

const SAYS_DEFAULT = /\bdefault\b/i;

export function configureHelp(program: Command): Command {
  return program.configureHelp({
    optionDescription(this: Help, option: Option): string {
      if (SAYS_DEFAULT.test(option.description)) return option.description;
      // Commander's own rendering: the description plus its "(default: …)", "(env: …)" parts.
      return Object.getPrototypeOf(this).optionDescription.call(this, option) as string;
    },
  });
}
