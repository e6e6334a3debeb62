/**
 * The sample registry behind `epoch-meta demo` and the test fixtures: every artifact kind Epoch
 * knows, shared base layers, multi-platform indexes, names with slashes, tags sharing a manifest.
 * `writeScaleRegistry` is the bulk path for benchmarks.
 */
import { mapBounded } from "../bounded.js";
import { computeDigest } from "../oci/digest.js";
import { formatRfc3339 } from "../oci/rfc3339.js";
import { emptyCatalogDocument, type RepositoryEntry } from "../storage/catalog.js";
import { DemoBuilder, fakeDigest, imageManifestBytes, type BlobSpec, type ExpectedTag } from "./demo-builder.js";
import type { ObjectStore } from "../storage/object-store.js";
import { manifestDigestKey, manifestKey, RegistryLayout } from "../storage/registry-layout.js";

export interface DemoRegistryOptions {
  /** Clock for catalog `updatedAt` values (default: the real one). */
  now?: () => Date;
}

export interface DemoRegistryDescription {
  tags: ExpectedTag[];
  repositories: string[];
}

const OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";
const DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
const DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json";
const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
const TITLE = "org.opencontainers.image.title";
const CREATED = "org.opencontainers.image.created";

export async function writeDemoRegistry(
  store: ObjectStore,
  opts: DemoRegistryOptions = {},
): Promise<DemoRegistryDescription> {
  const b = new DemoBuilder(new RegistryLayout(store, opts.now ? { now: opts.now } : {}));
  const amd64 = { os: "linux", architecture: "amd64" };
  const arm64 = { os: "linux", architecture: "arm64", variant: "v8" };

  // Container images (OCI) sharing a base layer; two tags on one manifest; `Latest` ≠ `latest`.
  const base = await b.blob("alpine-base", 3_072, OCI_LAYER);
  const alpineConfig = await b.config({ architecture: "amd64", os: "linux", rootfs: { type: "layers" } }, OCI_CONFIG);
  await b.image(
    "library/alpine",
    ["3.19", "latest"],
    { config: alpineConfig, layers: [base], annotations: { [CREATED]: "2024-01-15T10:00:00Z" } },
    "CONTAINER_IMAGE",
  );
  const edgeLayer = await b.blob("alpine-edge", 1_024, OCI_LAYER);
  await b.image("library/alpine", ["Latest"], { config: alpineConfig, layers: [base, edgeLayer] }, "CONTAINER_IMAGE");

  // A repository name with slashes, built on the same base layer.
  const app1 = await b.blob("api-v1", 2_048, OCI_LAYER);
  const app2 = await b.blob("api-v2", 2_560, OCI_LAYER);
  const apiConfig = await b.config(
    { architecture: "amd64", os: "linux", config: { Entrypoint: ["/api"] } },
    OCI_CONFIG,
  );
  await b.image(
    "team/app/api",
    ["v1"],
    { config: apiConfig, layers: [base, app1], annotations: { [CREATED]: "2024-03-01T12:30:00.123456789+02:00" } },
    "CONTAINER_IMAGE",
  );
  await b.image(
    "team/app/api",
    ["v2"],
    { config: apiConfig, layers: [base, app1, app2], annotations: { [CREATED]: "not a time" } },
    "CONTAINER_IMAGE",
  );

  // A Docker schema 2 image.
  const debBase = await b.blob("debian-base", 4_096, DOCKER_LAYER);
  const debConfig = await b.config({ architecture: "amd64", os: "linux", docker_version: "24.0.7" }, DOCKER_CONFIG);
  await b.image(
    "library/debian",
    ["bookworm"],
    { mediaType: DOCKER_MANIFEST, config: debConfig, layers: [debBase] },
    "CONTAINER_IMAGE",
  );

  // A multi-platform OCI index with an attestation child; the children share a layer.
  const shared = await b.blob("busybox-license", 512, OCI_LAYER);
  const bbAmd = await b.blob("busybox-amd64", 1_500, OCI_LAYER);
  const bbArm = await b.blob("busybox-arm64", 1_400, OCI_LAYER);
  const bbCfgAmd = await b.config({ architecture: "amd64", os: "linux" }, OCI_CONFIG);
  const bbCfgArm = await b.config({ architecture: "arm64", os: "linux", variant: "v8" }, OCI_CONFIG);
  const provenance = await b.blob("busybox-provenance", 700, "application/vnd.in-toto+json");
  const attCfg = await b.config({ architecture: "unknown", os: "unknown" }, OCI_CONFIG);
  await b.index(
    "library/busybox",
    ["1.36", "stable"],
    [
      { image: { config: bbCfgAmd, layers: [shared, bbAmd] }, platform: amd64 },
      { image: { config: bbCfgArm, layers: [shared, bbArm] }, platform: arm64 },
      {
        image: { config: attCfg, layers: [provenance] },
        platform: { os: "unknown", architecture: "unknown" },
        annotations: {
          "vnd.docker.reference.type": "attestation-manifest",
          "vnd.docker.reference.digest": fakeDigest("busybox-amd64-child"),
        },
      },
    ],
    { annotations: { [CREATED]: "2024-02-02T02:02:02Z" } },
  );

  // A Docker manifest list.
  const redisAmd = await b.blob("redis-amd64", 2_200, DOCKER_LAYER);
  const redisArm = await b.blob("redis-arm", 2_100, DOCKER_LAYER);
  const redisCfgAmd = await b.config({ architecture: "amd64", os: "linux", image: "redis" }, DOCKER_CONFIG);
  const redisCfgArm = await b.config(
    { architecture: "arm", os: "linux", variant: "v7", image: "redis" },
    DOCKER_CONFIG,
  );
  await b.index(
    "library/redis",
    ["7"],
    [
      { image: { mediaType: DOCKER_MANIFEST, config: redisCfgAmd, layers: [debBase, redisAmd] }, platform: amd64 },
      {
        image: { mediaType: DOCKER_MANIFEST, config: redisCfgArm, layers: [debBase, redisArm] },
        platform: { os: "linux", architecture: "arm", variant: "v7" },
      },
    ],
    { mediaType: "application/vnd.docker.distribution.manifest.list.v2+json" },
  );

  // Cloud images: disk split into parts (oras push), current and legacy artifact types.
  const empty = await b.config({}, "application/vnd.oci.empty.v1+json");
  const parts = async (seed: string, mediaType: string, sizes: number[]): Promise<BlobSpec[]> =>
    Promise.all(sizes.map((s, i) => b.blob(`${seed}-${i}`, s, mediaType)));
  const ubuntuParts = await parts("ubuntu-disk", "application/vnd.cocoonstack.disk.qcow2.part", [8_192, 8_192, 3_000]);
  await b.image(
    "cloud/ubuntu",
    ["24.04"],
    {
      artifactType: "application/vnd.cocoonstack.os-image.v1+json",
      config: empty,
      layers: ubuntuParts,
      annotations: { [CREATED]: "2024-04-25T08:00:00Z" },
    },
    "CLOUD_IMAGE",
  );
  const winParts = await parts("windows-disk", "application/vnd.cocoonstack.windows.disk.qcow2.part", [10_000, 6_000]);
  await b.image(
    "cloud/windows",
    ["2022"],
    { artifactType: "application/vnd.cocoonstack.windows-image.v1+json", config: empty, layers: winParts },
    "CLOUD_IMAGE",
  );

  // A VM snapshot.
  const snapConfig = await b.config(
    {
      schemaVersion: "1",
      snapshotId: "snap-1",
      image: "cloud/ubuntu:24.04",
      cpu: 2,
      memory: 2_147_483_648,
      createdAt: "2024-05-01T00:00:00Z",
    },
    "application/vnd.cocoonstack.snapshot.config.v1+json",
  );
  const snapLayers = [
    await b.blob("snap-config", 300, "application/vnd.cocoonstack.vm.config+json"),
    await b.blob("snap-state", 900, "application/vnd.cocoonstack.vm.state+json"),
    await b.blob("snap-memory", 16_384, "application/vnd.cocoonstack.vm.memory"),
    await b.blob("snap-overlay", 4_000, "application/vnd.cocoonstack.disk.qcow2"),
  ];
  await b.image(
    "snapshots/vm-1",
    ["snap-1"],
    {
      artifactType: "application/vnd.cocoonstack.snapshot.v1+json",
      config: snapConfig,
      layers: snapLayers,
      annotations: { [CREATED]: "2024-05-01T00:00:00Z", [TITLE]: "vm-1" },
    },
    "SNAPSHOT",
  );

  // An artifact none of the rules recognise (a Helm chart).
  const chartCfg = await b.config({ name: "demo", version: "0.1.0" }, "application/vnd.cncf.helm.config.v1+json");
  const chart = await b.blob("chart", 1_234, "application/vnd.cncf.helm.chart.content.v1.tar+gzip");
  await b.image("charts/demo", ["0.1.0"], { config: chartCfg, layers: [chart] }, "UNKNOWN");

  return describeRegistry(b.expected);
}

export function describeRegistry(tags: ExpectedTag[]): DemoRegistryDescription {
  return { tags, repositories: [...new Set(tags.map((t) => t.repository))].sort() };
}

export interface ScaleRegistryOptions {
  tags: number;
  tagsPerRepository?: number;
  /** Parallel writes (default 16: more only queues on libuv's 4 threads). */
  concurrency?: number;
  /** Every n-th tag reuses the previous tag's manifest (default 10). */
  shareEvery?: number;
  now?: Date;
  /**
   * The index of the first tag (default 0): registries written with consecutive ranges of one
   * sequence hold, together, the repositories, tags, manifests and blobs of one written with the
   * whole range (the namespaces benchmark compares the two).
   */
  firstTag?: number;
}

export interface ScaleRegistrySummary {
  tags: number;
  repositories: number;
  manifests: number;
  objectsWritten: number;
  /** Distinct blobs the index should hold and the sum of their sizes (blobs are not written). */
  distinctBlobs: number;
  distinctBlobBytes: number;
}

/**
 * N tags fast: manifests only (blob contents are not needed to index), written with bounded
 * parallelism, and ONE catalog write at the end instead of N read-modify-writes. Pair it with a
 * `DirectoryObjectStore` opened with `{ durable: false }` to skip the per-file fsyncs.
 */
export async function writeScaleRegistry(
  store: ObjectStore,
  opts: ScaleRegistryOptions,
): Promise<ScaleRegistrySummary> {
  const perRepo = opts.tagsPerRepository ?? 100;
  const shareEvery = opts.shareEvery ?? 10;
  const now = opts.now ?? new Date();
  const bases = Array.from({ length: 10 }, (_, i) => ({
    digest: fakeDigest(`scale-base-${i}`),
    size: 10_000_000 + i,
    mediaType: OCI_LAYER,
  }));
  const doc = emptyCatalogDocument();
  const stamp = formatRfc3339(now);
  doc.updatedAt = stamp;
  let manifests = 0;
  let distinctBlobBytes = bases.reduce((s, b) => s + b.size, 0);
  const manifestOf = (i: number): Buffer => {
    const config = { digest: fakeDigest(`scale-config-${i}`), size: 1_000 + (i % 1_000), mediaType: OCI_CONFIG };
    const app = { digest: fakeDigest(`scale-app-${i}`), size: 50_000 + (i % 50_000), mediaType: OCI_LAYER };
    distinctBlobBytes += config.size + app.size;
    manifests++;
    return imageManifestBytes({ config, layers: [bases[i % 10]!, bases[(i + 3) % 10]!, app] });
  };
  const first = opts.firstTag ?? 0;
  // A range that starts on a shared tag shares the manifest of the tag before it, as the whole sequence does.
  let previous: Buffer | undefined = first > 0 && first % shareEvery === 0 ? manifestOf(first - 1) : undefined;
  const jobs: Array<() => Promise<unknown>> = [];
  const written = new Set<string>();

  for (let i = first; i < first + opts.tags; i++) {
    const repository = `scale/repo-${Math.floor(i / perRepo)}`;
    const tag = `t${i % perRepo}`;
    let bytes = previous;
    if (!bytes || i % shareEvery !== 0) bytes = manifestOf(i);
    previous = bytes;
    const body = bytes;
    // A shared manifest's _digests copy is written once per repository.
    const digestKey = manifestDigestKey(repository, computeDigest(body));
    if (!written.has(digestKey)) jobs.push(() => store.put(digestKey, body));
    written.add(digestKey);
    const key = manifestKey(repository, tag);
    let entry = doc.repositories.get(repository) as RepositoryEntry | undefined;
    if (!entry) doc.repositories.set(repository, (entry = { tags: new Map(), updatedAt: stamp }));
    entry.tags.set(tag, key);
    jobs.push(() => store.put(key, body));
  }
  await mapBounded(jobs, opts.concurrency ?? 16, (job) => job());
  await new RegistryLayout(store).writeCatalog(doc);
  return {
    tags: opts.tags,
    repositories: doc.repositories.size,
    manifests,
    objectsWritten: jobs.length + 1,
    distinctBlobs: bases.length + manifests * 2,
    distinctBlobBytes,
  };
}
