/** `epoch-meta demo`: writes a sample registry into the configured store, for a first look. */
import type { Command } from "commander";
import { loadConfig } from "../config.js";
import { writeDemoRegistry, writeScaleRegistry } from "../demo/demo-registry.js";
import { openObjectStore } from "../storage/open-store.js";

interface DemoOptions {
  storage?: string;
  scale?: string;
}

export function register(program: Command): void {
  program
    .command("demo")
    .description("write a sample registry (every artifact kind, shared layers, multi-platform indexes) into the store")
    .option("--storage <url>", "file:<dir> or s3://bucket/prefix?… (EPOCH_STORAGE_URL)")
    .option("--scale <tags>", "write N generated tags instead (bulk path for benchmarks)")
    .action(async (opts: DemoOptions) => {
      const config = loadConfig(process.env, { EPOCH_STORAGE_URL: opts.storage });
      const scale = opts.scale === undefined ? undefined : Number(opts.scale);
      if (scale !== undefined && (!Number.isSafeInteger(scale) || scale <= 0)) {
        throw new Error(`--scale must be a positive whole number (got ${JSON.stringify(opts.scale)})`);
      }
      // The bulk path skips per-file fsyncs: a half-written demo is simply written again.
      const store = await openObjectStore(config.storageUrl, scale ? { directory: { durable: false } } : {});
      try {
        if (scale) {
          const s = await writeScaleRegistry(store, { tags: scale });
          console.log(
            `wrote ${s.tags} tags in ${s.repositories} repositories (${s.objectsWritten} objects) to ${config.storageUrl}`,
          );
        } else {
          const d = await writeDemoRegistry(store);
          console.log(`wrote ${d.tags.length} tags in ${d.repositories.length} repositories to ${config.storageUrl}`);
          for (const repo of d.repositories) console.log(`  ${repo}`);
        }
      } finally {
        await store.close();
      }
    });
}
