/** Media types and artifact types that decide a manifest's shape and kind (DESIGN.md §1). */
export const MEDIA_TYPE_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const MEDIA_TYPE_OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const MEDIA_TYPE_DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";

const MEDIA_TYPE_OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
const MEDIA_TYPE_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json";

export const ARTIFACT_TYPE_OS_IMAGE = "application/vnd.cocoonstack.os-image.v1+json";
/** Legacy name still produced by cocoonstack/windows; Epoch treats it as a cloud image too. */
export const ARTIFACT_TYPE_WINDOWS_IMAGE = "application/vnd.cocoonstack.windows-image.v1+json";
export const ARTIFACT_TYPE_SNAPSHOT = "application/vnd.cocoonstack.snapshot.v1+json";

export const ANNOTATION_CREATED = "org.opencontainers.image.created";

export const INDEX_MEDIA_TYPES: ReadonlySet<string> = new Set([MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_DOCKER_MANIFEST_LIST]);
export const IMAGE_CONFIG_MEDIA_TYPES: ReadonlySet<string> = new Set([MEDIA_TYPE_OCI_CONFIG, MEDIA_TYPE_DOCKER_CONFIG]);
