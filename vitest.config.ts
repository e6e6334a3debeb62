import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Finds (or starts) the MariaDB server once; each file then creates its own database.
    // Then rebuilds the descriptor set that server reflection serves (dist/epoch-meta.binpb).
    globalSetup: ["test/helpers/global-setup.ts", "test/helpers/descriptor-set-setup.ts"],
    // Each file gets its own database (test/helpers/database.ts), so files run in parallel.
    pool: "forks",
    // Most files spend their time waiting on MariaDB, sockets and child processes, not on a core:
    // on 2 cores, 3 workers run the suite in about 0.7× the time of vitest's default (cores - 1).
    maxWorkers: Math.max(3, availableParallelism() - 1),
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // The JSON report lets .ci/run print one plain "N passed, N failed, N skipped" line.
    reporters: ["default", ["json", { outputFile: ".vitest-results.json" }]],
  },
});
