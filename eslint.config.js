import js from "@eslint/js";
import { createNodeResolver, importX } from "eslint-plugin-import-x";
import tseslint from "typescript-eslint";

/**
 * Imports run one way: grpc → services → {db, storage} → oci (README "Development").
 * `no-restricted-imports` matches the import text, so each layer lists the folders above it;
 * the composition root (app, server, main) and cli/ sit on top and may import anything.
 */
const layer = (name) => `(^|/)${name}/`;
const rootOnly = "^(\\.\\./)+(app|server|main)\\.js$";
const upward = (folders, why) => ({
  regex: [...folders.map(layer), rootOnly].join("|"),
  message: why,
});

/** Modules that do I/O: oci/ is pure (bytes in, facts out; hashing is fine). */
const nodeIo = ["fs", "fs/promises", "net", "http", "https", "child_process", "worker_threads", "os"];
const ioModules = [
  ...nodeIo.flatMap((m) => [m, `node:${m}`]),
  ...["typeorm", "mysql2", "mysql2/promise", "better-sqlite3", "@aws-sdk/client-s3", "@grpc/grpc-js"],
];

const restrict = (files, patterns, paths = []) => ({
  files,
  rules: { "no-restricted-imports": ["error", { patterns, paths }] },
});

export default tseslint.config(
  { ignores: ["dist/", "generated/", "node_modules/", "data/", ".bench-data/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    // No import cycle among src/ files (value imports: `import type` is erased at build time).
    // Sources import "./x.js" for "./x.ts"; the resolver maps one to the other.
    files: ["src/**/*.ts"],
    plugins: { "import-x": importX },
    settings: {
      "import-x/extensions": [".ts", ".js"],
      "import-x/parsers": { "@typescript-eslint/parser": [".ts"] },
      "import-x/resolver-next": [createNodeResolver({ extensionAlias: { ".js": [".ts", ".js"] } })],
    },
    rules: { "import-x/no-cycle": ["error", { ignoreExternal: true }] },
  },
  restrict(
    ["src/services/**"],
    [
      upward(
        ["grpc", "cli", "demo"],
        "services/ is the domain: gRPC adapters, the CLI and the composition root sit above it.",
      ),
    ],
  ),
  restrict(
    ["src/db/**", "src/storage/**"],
    [
      upward(
        ["services", "grpc", "cli", "demo"],
        "db/ and storage/ sit below services/: move the shared type down (db/, oci/) instead of importing upwards.",
      ),
    ],
  ),
  restrict(
    ["src/oci/**"],
    [
      upward(
        ["db", "storage", "services", "grpc", "cli", "demo"],
        "oci/ is pure manifest logic: it imports no I/O layer.",
      ),
    ],
    ioModules.map((name) => ({ name, message: "oci/ is pure: no I/O modules." })),
  ),
);
