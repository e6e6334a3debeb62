/**
 * Server reflection (v1 and v1alpha) so grpcurl and grpcui work without the protos. The
 * descriptors come from the repository's proto/ directory plus the health proto, loaded once.
 */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Server } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { protoPath as healthProtoPath } from "grpc-health-check";

const EPOCH_PROTO_FILES = [
  "epoch/v1/errors.proto",
  "epoch/v1/resources.proto",
  "epoch/v1/sync.proto",
  "epoch/v1/metadata_service.proto",
  "epoch/v1/token_service.proto",
];

/**
 * The proto/ directory at the package root. Searched upwards from this module because it runs
 * both as src/grpc/reflection.ts (vitest, tsx) and as dist/src/grpc/reflection.js.
 */
export function findProtoRoot(start = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = start; ; dir = dirname(dir)) {
    const candidate = join(dir, "proto");
    if (existsSync(join(candidate, EPOCH_PROTO_FILES[0]!))) return candidate;
    if (dirname(dir) === dir) throw new Error(`proto/ directory not found above ${start}`);
  }
}

export function addReflection(server: Server): void {
  const healthRoot = resolve(dirname(healthProtoPath), "../..");
  const definitions = loadSync([...EPOCH_PROTO_FILES, "health/v1/health.proto"], {
    includeDirs: [findProtoRoot(), healthRoot],
  });
  new ReflectionService(definitions).addToServer(server);
}
