/**
 * The descriptor set reflection serves (built by `npm run build`) describes exactly the methods the
 * generated service definitions hold, so a .proto change without a rebuild fails here instead of
 * showing grpcurl a stale API.
 */
import { MetadataServiceService } from "epoch-meta-client/epoch/v1/metadata_service";
import { TokenServiceService } from "epoch-meta-client/epoch/v1/token_service";
import { describe, expect, it } from "vitest";
import { loadEpochDescriptors } from "../../../src/grpc/reflection.js";

describe("reflection descriptor set", () => {
  const descriptors = loadEpochDescriptors();

  it.each([
    ["epoch.v1.MetadataService", MetadataServiceService],
    ["epoch.v1.TokenService", TokenServiceService],
  ])("%s has the generated client's methods", (name, generated) => {
    const described = descriptors[name] as Record<string, { path: string }> | undefined;
    expect(described, `${name} missing from the descriptor set`).toBeDefined();
    const paths = (methods: Record<string, { path: string }>) =>
      Object.values(methods)
        .map((m) => m.path)
        .sort();
    expect(paths(described!)).toEqual(paths(generated));
    expect(paths(generated).length).toBeGreaterThan(1);
  });
});
