import { describe, expect, it } from "vitest";
import { classifyManifest } from "../../../src/oci/kinds.js";
import { parseManifest } from "../../../src/oci/manifest.js";

const d = (n: number) => `sha256:${n.toString(16).padStart(64, "0")}`;
const kind = (o: Record<string, unknown>) =>
  classifyManifest(parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, ...o }))));
const config = (mediaType: string) => ({ config: { mediaType, digest: d(1), size: 2 }, layers: [] });

describe("classifyManifest (first rule wins)", () => {
  it.each([
    [
      "os-image artifact",
      { artifactType: "application/vnd.cocoonstack.os-image.v1+json", ...config("application/vnd.oci.empty.v1+json") },
      "CLOUD_IMAGE",
    ],
    [
      "legacy windows-image artifact",
      {
        artifactType: "application/vnd.cocoonstack.windows-image.v1+json",
        ...config("application/vnd.oci.empty.v1+json"),
      },
      "CLOUD_IMAGE",
    ],
    [
      "snapshot artifact",
      {
        artifactType: "application/vnd.cocoonstack.snapshot.v1+json",
        ...config("application/vnd.cocoonstack.snapshot.config.v1+json"),
      },
      "SNAPSHOT",
    ],
    [
      "artifactType beats an image config",
      {
        artifactType: "application/vnd.cocoonstack.snapshot.v1+json",
        ...config("application/vnd.oci.image.config.v1+json"),
      },
      "SNAPSHOT",
    ],
    ["OCI image config", config("application/vnd.oci.image.config.v1+json"), "CONTAINER_IMAGE"],
    [
      "Docker image config",
      {
        mediaType: "application/vnd.docker.distribution.manifest.v2+json",
        ...config("application/vnd.docker.container.image.v1+json"),
      },
      "CONTAINER_IMAGE",
    ],
    [
      "unknown artifactType with an image config",
      { artifactType: "application/x.other", ...config("application/vnd.oci.image.config.v1+json") },
      "CONTAINER_IMAGE",
    ],
    ["OCI index", { mediaType: "application/vnd.oci.image.index.v1+json", manifests: [] }, "IMAGE_INDEX"],
    ["OCI index without mediaType", { manifests: [] }, "IMAGE_INDEX"],
    [
      "Docker manifest list",
      { mediaType: "application/vnd.docker.distribution.manifest.list.v2+json", manifests: [] },
      "IMAGE_INDEX",
    ],
    [
      "cloud-image index",
      {
        mediaType: "application/vnd.oci.image.index.v1+json",
        artifactType: "application/vnd.cocoonstack.os-image.v1+json",
        manifests: [],
      },
      "CLOUD_IMAGE",
    ],
    ["Helm chart", config("application/vnd.cncf.helm.config.v1+json"), "UNKNOWN"],
    ["empty config, no artifactType", config("application/vnd.oci.empty.v1+json"), "UNKNOWN"],
    [
      "artifactType differs only in case",
      { artifactType: "application/vnd.cocoonstack.OS-image.v1+json", ...config("x/y") },
      "UNKNOWN",
    ],
  ])("%s", (_name, manifest, expected) => {
    expect(kind(manifest)).toBe(expected);
  });
});
