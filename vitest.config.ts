import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Finds (or starts) the MariaDB server once; each file then creates its own database.
    // Then rebuilds the descriptor set that server reflection serves (dist/epoch-meta.binpb).
    globalSetup: ["test/helpers/global-setup.ts", "test/helpers/descriptor-set-setup.ts"],
    // Each file gets its own database (test/helpers/database.ts), so files run in parallel.
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // The JSON report lets .ci/run print one plain "N passed, N failed, N skipped" line.
    reporters: ["default", ["json", { outputFile: ".vitest-results.json" }]],
  },
});
