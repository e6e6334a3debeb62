import { DEFAULT_NAMESPACE } from "../../db/entities/index.js";
import { invalidArgument } from "../../errors.js";
import { quoteForMessage } from "../../oci/names.js";

export { DEFAULT_NAMESPACE };

/** DESIGN §8.1; a name also becomes a path segment (`namespaces/<name>/`), so it stays this plain. */
const NAMESPACE_NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
export const MAX_NAMESPACE_NAME = 76;

export function assertNamespaceName(name: string): void {
  if (name.length > MAX_NAMESPACE_NAME || !NAMESPACE_NAME.test(name)) {
    throw invalidArgument(
      `namespace name ${quoteForMessage(name, 80)} is invalid: lowercase letters and digits separated by single '.', '_' or '-', at most ${MAX_NAMESPACE_NAME} characters`,
      "INVALID_NAME",
    );
  }
}
