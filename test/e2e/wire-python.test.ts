/**
 * The wire contract from an independent client: Debian's Python grpcio calls MetadataService
 * and TokenService with stubs generated at test time from proto/ (no TypeScript involved), with
 * authentication required. Proves field numbers, the server stream's oneof events, status codes
 * and the `epoch-error-reason` trailer as any other language sees them. Skipped loudly when
 * python3-grpcio is absent; under CI=true that is a failure (see health-python.test.ts).
 */
import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenStore } from "../../src/db/tokens/token-store.js";
import { createToken } from "../../src/services/tokens/token-service.js";
import { DirectoryObjectStore } from "../../src/storage/directory-store.js";
import { writeRegistryFixture, type RegistryFixture } from "../fixtures/registry-fixture.js";
import { createMigratedDatabase } from "../helpers/database.js";
import { startE2EServer, type E2EServer } from "../helpers/e2e-server.js";
import { PYTHON, requirePythonGrpc } from "../helpers/python-grpc.js";

const execFileAsync = promisify(execFile);
const PROTO_ROOT = resolve(import.meta.dirname, "../../proto");
const available = requirePythonGrpc("wire contract from Python grpcio");

// Prints one JSON object with what it saw; argv: stubs dir, address, admin secret, pull secret.
const CLIENT = `
import json, sys
sys.path.insert(0, sys.argv[1])
import grpc
from epoch.v1 import metadata_service_pb2 as m, metadata_service_pb2_grpc as mg
from epoch.v1 import token_service_pb2 as t, token_service_pb2_grpc as tg
from epoch.v1 import sync_pb2, errors_pb2, resources_pb2
from google.rpc import status_pb2, error_details_pb2

def auth(secret):
    return [("authorization", "Bearer " + secret)]

def failure(call):
    try:
        call()
        return None
    except grpc.RpcError as e:
        reason = dict(e.trailing_metadata() or ()).get("epoch-error-reason")
        return [e.code().name, reason]

# The AIP-193 details: google.rpc.Status in grpc-status-details-bin, its one detail an ErrorInfo.
def error_info(call):
    try:
        call()
        return None
    except grpc.RpcError as e:
        status = status_pb2.Status.FromString(dict(e.trailing_metadata() or ())["grpc-status-details-bin"])
        info = error_details_pb2.ErrorInfo()
        unpacked = len(status.details) == 1 and status.details[0].Unpack(info)
        return [status.code, status.message, unpacked, info.reason, info.domain]

out = {}
with grpc.insecure_channel(sys.argv[2]) as ch:
    meta, tokens = mg.MetadataServiceStub(ch), tg.TokenServiceStub(ch)
    admin, pull = auth(sys.argv[3]), auth(sys.argv[4])
    events = list(meta.SyncFromCatalog(m.SyncFromCatalogRequest(full=True), metadata=admin, timeout=60))
    kinds = [e.WhichOneof("event") for e in events]
    out["first_event"], out["last_event"] = kinds[0], kinds[-1]
    fin = events[-1].finished
    out["state"] = sync_pb2.SyncState.Name(fin.state)
    out["tags_added"] = fin.counts.tags_added
    out["failures"] = sorted(e.failure.repository + ":" + e.failure.tag + ":" + errors_pb2.ErrorReason.Name(e.failure.reason)
                             for e in events if e.WhichOneof("event") == "failure")
    repos = meta.ListRepositories(m.ListRepositoriesRequest(page_size=1000), metadata=admin, timeout=10)
    out["repositories"] = [r.name for r in repos.repositories]
    tag = meta.GetTag(m.GetTagRequest(repository="library/busybox", tag="1.36"), metadata=admin, timeout=10).tag
    out["busybox"] = {"digest": tag.digest, "kind": resources_pb2.ArtifactKind.Name(tag.kind), "total_size": tag.total_size,
                      "layer_count": tag.layer_count, "platforms": [p.os + "/" + p.architecture for p in tag.platform_sizes],
                      "has_manifest": len(tag.manifest_json) > 0}
    stats = meta.GetStats(m.GetStatsRequest(), metadata=admin, timeout=10)
    out["stats"] = {"repositories": stats.repository_count, "tags": stats.tag_count}
    out["missing_tag"] = failure(lambda: meta.GetTag(m.GetTagRequest(repository="library/busybox", tag="nope"), metadata=admin, timeout=10))
    out["bad_name"] = failure(lambda: meta.GetRepository(m.GetRepositoryRequest(name="UPPER/case"), metadata=admin, timeout=10))
    out["missing_tag_info"] = error_info(lambda: meta.GetTag(m.GetTagRequest(repository="library/busybox", tag="nope"), metadata=admin, timeout=10))
    out["no_credential"] = failure(lambda: meta.GetStats(m.GetStatsRequest(), timeout=10))
    out["pull_only"] = failure(lambda: meta.GetStats(m.GetStatsRequest(), metadata=pull, timeout=10))
    v = tokens.ValidateToken(t.ValidateTokenRequest(secret=sys.argv[4], repository="library/alpine", action="pull"), metadata=admin, timeout=10)
    out["validate_pull"] = [v.valid, v.token.name, list(v.token.scopes)]
    v = tokens.ValidateToken(t.ValidateTokenRequest(secret=sys.argv[4], repository="library/alpine", action="push"), metadata=admin, timeout=10)
    out["validate_push"] = [v.valid, t.TokenInvalidReason.Name(v.reason)]
    v = tokens.ValidateToken(t.ValidateTokenRequest(secret="epm_garbage", action="pull"), metadata=admin, timeout=10)
    out["validate_garbage"] = [v.valid, t.TokenInvalidReason.Name(v.reason)]
print(json.dumps(out))
`;

describe.skipIf(!available)("wire contract from Python grpcio", () => {
  const work = mkdtempSync(join(tmpdir(), "epoch-pywire-"));
  let fixture: RegistryFixture;
  let server: E2EServer;
  let cleanup: () => Promise<void>;
  let adminSecret: string;
  let pullSecret: string;

  beforeAll(async () => {
    const gen = spawnSync(
      PYTHON,
      [
        "-c",
        // The well-known protos (timestamp, duration) ship inside grpc_tools.
        "import sys, os, grpc_tools, grpc_tools.protoc as p; inc = os.path.join(os.path.dirname(grpc_tools.__file__), '_proto'); sys.exit(p.main(['protoc', '-I' + inc] + sys.argv[1:]))",
        `-I${PROTO_ROOT}`,
        `--python_out=${work}`,
        `--grpc_python_out=${work}`,
        ...["errors", "resources", "sync", "metadata_service", "token_service"].map((f) => `epoch/v1/${f}.proto`),
        "google/rpc/status.proto",
        "google/rpc/error_details.proto",
      ],
      { encoding: "utf8" },
    );
    if (gen.status !== 0) throw new Error(`grpc_tools.protoc failed: ${gen.stderr}`);
    writeFileSync(join(work, "client.py"), CLIENT);

    const registry = join(work, "registry");
    fixture = await writeRegistryFixture(new DirectoryObjectStore(registry));
    const migrated = await createMigratedDatabase("sqlite");
    const store = new TokenStore(migrated.db);
    adminSecret = (
      await createToken(store, { name: "ops", createdBy: "", scopes: ["admin"], repositories: [], ttlMs: 0 })
    ).secret;
    pullSecret = (
      await createToken(store, {
        name: "puller",
        createdBy: "",
        scopes: ["pull"],
        repositories: ["library/*"],
        ttlMs: 0,
      })
    ).secret;
    await migrated.db.close();
    server = await startE2EServer({
      databaseUrl: migrated.test.url,
      storageUrl: `file:${registry}`,
      env: { EPOCH_AUTH: "required" },
    });
    cleanup = migrated.test.drop;
  });

  afterAll(async () => {
    await server?.stop();
    await cleanup?.();
    rmSync(work, { recursive: true, force: true });
  });

  it("syncs, lists, reads, validates and reports errors as the proto says", async () => {
    // Asynchronously: the server runs in this process, so a blocking spawnSync would starve it.
    const run = await execFileAsync(PYTHON, [join(work, "client.py"), work, server.address, adminSecret, pullSecret], {
      encoding: "utf8",
      timeout: 90_000,
    });
    const out = JSON.parse(run.stdout);
    expect(out.first_event).toBe("started");
    expect(out.last_event).toBe("finished");
    // The fixture holds deliberately broken entries, so the run is DEGRADED with one failure each.
    expect(out.state).toBe("SYNC_STATE_DEGRADED");
    expect(out.failures).toHaveLength(fixture.failures.length);
    expect(out.tags_added).toBe(fixture.indexable.length);
    expect(out.repositories).toEqual([...new Set(fixture.indexable.map((t) => t.repository))].sort());
    expect(out.stats).toEqual({ repositories: out.repositories.length, tags: fixture.indexable.length });

    const busybox = fixture.tags.find((t) => t.repository === "library/busybox" && t.tag === "1.36")!;
    expect(out.busybox).toMatchObject({
      digest: busybox.digest,
      kind: "ARTIFACT_KIND_IMAGE_INDEX",
      total_size: busybox.totalSize,
      has_manifest: true,
    });
    expect(out.busybox.platforms).toContain("linux/amd64");

    expect(out.missing_tag).toEqual(["NOT_FOUND", "ERROR_REASON_TAG_NOT_FOUND"]);
    expect(out.missing_tag_info).toEqual([
      5, // NOT_FOUND
      expect.stringContaining("not found"),
      true,
      "ERROR_REASON_TAG_NOT_FOUND",
      "epoch-meta",
    ]);
    expect(out.bad_name).toEqual(["INVALID_ARGUMENT", "ERROR_REASON_INVALID_NAME"]);
    expect(out.no_credential).toEqual(["UNAUTHENTICATED", "ERROR_REASON_UNAUTHENTICATED"]);
    expect(out.pull_only).toEqual(["PERMISSION_DENIED", "ERROR_REASON_PERMISSION_DENIED"]);
    expect(out.validate_pull).toEqual([true, "puller", ["pull"]]);
    expect(out.validate_push).toEqual([false, "TOKEN_INVALID_REASON_SCOPE_DENIED"]);
    expect(out.validate_garbage).toEqual([false, "TOKEN_INVALID_REASON_MALFORMED"]);
  });
});
