/** Small OCI image manifests for sync tests, with fake digests derived from a seed. */
import { imageManifestBytes } from "../../src/demo/demo-builder.js";

export const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
export const OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";

export const blob = (n: number, size: number, mediaType = OCI_LAYER) => ({
  digest: `sha256:${n.toString(16).padStart(64, "0")}`,
  size,
  mediaType,
});

/** An image manifest with a `created` annotation, so its push time does not depend on the store clock. */
export const image = (seed: number, created = "2025-01-01T00:00:00Z") =>
  imageManifestBytes({
    config: blob(seed, 100 + seed, OCI_CONFIG),
    layers: [blob(1000 + seed, 5000 + seed)],
    annotations: { "org.opencontainers.image.created": created },
  });
