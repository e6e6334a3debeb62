/**
 * Server reflection (v1 and v1alpha) so grpcurl and grpcui work without the protos. The epoch.v1
 * descriptors come from the descriptor set `npm run build` writes with `buf build`
 * (dist/epoch-meta.binpb), so a running server never needs proto/ on disk; the health proto
 * ships inside grpc-health-check.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { Server } from "@grpc/grpc-js";
import { loadFileDescriptorSetFromBuffer, loadSync, type PackageDefinition } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { protoPath as healthProtoPath } from "grpc-health-check";

/**
 * The package's `imports` map names the file, so this resolves the same from src/ (vitest, tsx)
 * and from dist/src/ (npm start).
 */
const DESCRIPTOR_SET = "#epoch-descriptor-set";

/** The epoch.v1 services and messages, from the descriptor set built with the package. */
export function loadEpochDescriptors(): PackageDefinition {
  let path: string;
  try {
    path = createRequire(import.meta.url).resolve(DESCRIPTOR_SET);
  } catch (cause) {
    throw new Error(`descriptor set for reflection is missing: run "npm run build"`, { cause });
  }
  return loadFileDescriptorSetFromBuffer(readFileSync(path));
}

export function addReflection(server: Server): void {
  const health = loadSync(healthProtoPath);
  new ReflectionService({ ...loadEpochDescriptors(), ...health }).addToServer(server);
}
