/**
 * Namespaces from an independent client: Debian's Python grpcio, with stubs generated at test
 * time from proto/, sends `epoch-namespace` as plain request metadata. It creates a namespace
 * through NamespaceService (system admin), syncs and lists it, creates a token in it, and sees
 * the refusals as the proto names them (NAMESPACE_NOT_FOUND, UNKNOWN_TOKEN across namespaces).
 * Labels too: UpdateTag and UpdateNamespace with a google.protobuf.FieldMask, label filters on
 * ListTags and ListNamespaces, INVALID_LABEL.
 * Skipped loudly when python3-grpcio is absent; under CI=true that is a failure.
 */
import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenStore } from "../../src/db/tokens/token-store.js";
import { writeDemoRegistry } from "../../src/demo/demo-registry.js";
import { createToken } from "../../src/services/tokens/token-service.js";
import { DirectoryObjectStore } from "../../src/storage/directory-store.js";
import { RegistryLayout } from "../../src/storage/registry-layout.js";
import { createMigratedDatabase } from "../helpers/database.js";
import { startE2EServer, type E2EServer } from "../helpers/e2e-server.js";
import { image } from "../helpers/images.js";
import { PYTHON, requirePythonGrpc } from "../helpers/python-grpc.js";

const execFileAsync = promisify(execFile);
const PROTO_ROOT = resolve(import.meta.dirname, "../../proto");
const available = requirePythonGrpc("namespaces from Python grpcio");

// Prints one JSON object with what it saw; argv: stubs dir, address, system admin secret.
const CLIENT = `
import json, sys
sys.path.insert(0, sys.argv[1])
import grpc
from epoch.v1 import metadata_service_pb2 as m, metadata_service_pb2_grpc as mg
from epoch.v1 import token_service_pb2 as t, token_service_pb2_grpc as tg
from epoch.v1 import namespace_service_pb2 as n, namespace_service_pb2_grpc as ng
from epoch.v1 import sync_pb2
from google.protobuf import field_mask_pb2

def md(secret, namespace=None):
    pairs = [("authorization", "Bearer " + secret)]
    return pairs + [("epoch-namespace", namespace)] if namespace else pairs

def failure(call):
    try:
        call()
        return None
    except grpc.RpcError as e:
        return [e.code().name, dict(e.trailing_metadata() or ()).get("epoch-error-reason")]

out = {}
root = sys.argv[3]
with grpc.insecure_channel(sys.argv[2]) as ch:
    meta, tokens, spaces = mg.MetadataServiceStub(ch), tg.TokenServiceStub(ch), ng.NamespaceServiceStub(ch)
    made = spaces.CreateNamespace(n.CreateNamespaceRequest(name="py"), metadata=md(root), timeout=10).namespace
    out["created"] = [made.name, made.storage_url.endswith("/namespaces/py")]
    out["listed"] = [x.name for x in spaces.ListNamespaces(n.ListNamespacesRequest(), metadata=md(root), timeout=10).namespaces]
    events = list(meta.SyncFromCatalog(m.SyncFromCatalogRequest(), metadata=md(root, "py"), timeout=60))
    out["sync"] = [sync_pb2.SyncState.Name(events[-1].finished.state), events[-1].finished.counts.tags_added]
    listed = lambda ns: [r.name for r in meta.ListRepositories(m.ListRepositoriesRequest(), metadata=md(root, ns), timeout=10).repositories]
    out["py_repositories"] = listed("py")
    out["default_has_py"] = "py/app" in listed(None)
    made = tokens.CreateToken(t.CreateTokenRequest(name="py-service", scopes=["service"]), metadata=md(root, "py"), timeout=10)
    out["own_namespace"] = listed_by = [r.name for r in meta.ListRepositories(m.ListRepositoriesRequest(), metadata=md(made.secret, "py"), timeout=10).repositories]
    out["other_namespace"] = failure(lambda: meta.GetStats(m.GetStatsRequest(), metadata=md(made.secret), timeout=10))
    v = tokens.ValidateToken(t.ValidateTokenRequest(secret=made.secret), metadata=md(root), timeout=10)
    out["validate_in_default"] = [v.valid, t.TokenInvalidReason.Name(v.reason), v.token.name]
    v = tokens.ValidateToken(t.ValidateTokenRequest(secret=made.secret), metadata=md(root, "py"), timeout=10)
    out["validate_in_py"] = [v.valid, v.token.name]
    out["unknown"] = failure(lambda: meta.GetStats(m.GetStatsRequest(), metadata=md(root, "nope"), timeout=10))
    out["bad_name"] = failure(lambda: meta.GetStats(m.GetStatsRequest(), metadata=md(root, "Bad!"), timeout=10))
    mask = lambda *paths: field_mask_pb2.FieldMask(paths=list(paths))
    meta.UpdateTag(m.UpdateTagRequest(repository="py/app", tag="1", labels={"env": "prod", "team": "py"}), metadata=md(root, "py"), timeout=10)
    updated = meta.UpdateTag(m.UpdateTagRequest(repository="py/app", tag="1", update_mask=mask("labels.team")), metadata=md(root, "py"), timeout=10)
    out["tag_labels"] = dict(updated.tag.labels)
    tags = lambda ns: [x.name for x in meta.ListTags(m.ListTagsRequest(repository="py/app", filter=['labels."env"==prod']), metadata=md(root, ns), timeout=10).tags]
    out["label_filter"] = tags("py")
    out["label_filter_in_default"] = failure(lambda: tags(None))
    out["bad_label"] = failure(lambda: meta.UpdateTag(m.UpdateTagRequest(repository="py/app", tag="2", labels={"bad key": "x"}), metadata=md(root, "py"), timeout=10))
    ns = spaces.UpdateNamespace(n.UpdateNamespaceRequest(name="py", labels={"tier": "gold"}, update_mask=mask("labels.tier")), metadata=md(root), timeout=10).namespace
    out["namespace_labels"] = dict(ns.labels)
    out["namespace_filter"] = [x.name for x in spaces.ListNamespaces(n.ListNamespacesRequest(filter=['labels."tier"==gold']), metadata=md(root), timeout=10).namespaces]
    out["not_empty"] = failure(lambda: spaces.DeleteNamespace(n.DeleteNamespaceRequest(name="py"), metadata=md(root), timeout=10))
print(json.dumps(out))
`;

describe.skipIf(!available)("namespaces from Python grpcio", () => {
  const work = mkdtempSync(join(tmpdir(), "epoch-pyns-"));
  let server: E2EServer;
  let cleanup: () => Promise<void>;
  let rootSecret: string;

  beforeAll(async () => {
    const gen = spawnSync(
      PYTHON,
      [
        "-c",
        // The well-known protos (timestamp, duration, field_mask) ship inside grpc_tools.
        "import sys, os, grpc_tools, grpc_tools.protoc as p; inc = os.path.join(os.path.dirname(grpc_tools.__file__), '_proto'); sys.exit(p.main(['protoc', '-I' + inc] + sys.argv[1:]))",
        `-I${PROTO_ROOT}`,
        `--python_out=${work}`,
        `--grpc_python_out=${work}`,
        ...["errors", "resources", "sync", "metadata_service", "token_service", "namespace_service"].map(
          (f) => `epoch/v1/${f}.proto`,
        ),
      ],
      { encoding: "utf8" },
    );
    if (gen.status !== 0) throw new Error(`grpc_tools.protoc failed: ${gen.stderr}`);
    writeFileSync(join(work, "client.py"), CLIENT);

    const registry = join(work, "registry");
    await writeDemoRegistry(new DirectoryObjectStore(registry));
    const py = new RegistryLayout(new DirectoryObjectStore(join(registry, "namespaces", "py")));
    await py.pushManifest("py/app", "1", image(1));
    await py.pushManifest("py/app", "2", image(2));
    const migrated = await createMigratedDatabase("sqlite");
    rootSecret = (await createToken(new TokenStore(migrated.db), { name: "root", scopes: ["admin"] })).secret;
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

  it("acts in the namespace named by the epoch-namespace header", async () => {
    // Asynchronously: the server runs in this process, so a blocking spawnSync would starve it.
    const run = await execFileAsync(PYTHON, [join(work, "client.py"), work, server.address, rootSecret], {
      encoding: "utf8",
      timeout: 90_000,
    });
    const out = JSON.parse(run.stdout);
    expect(out.created).toEqual(["py", true]);
    expect(out.listed).toEqual(["default", "py"]);
    expect(out.sync).toEqual(["SYNC_STATE_SUCCEEDED", 2]);
    expect(out.py_repositories).toEqual(["py/app"]);
    expect(out.default_has_py).toBe(false);
    expect(out.own_namespace).toEqual(["py/app"]);
    expect(out.other_namespace).toEqual(["UNAUTHENTICATED", "ERROR_REASON_UNAUTHENTICATED"]);
    expect(out.validate_in_default).toEqual([false, "TOKEN_INVALID_REASON_UNKNOWN_TOKEN", ""]);
    expect(out.validate_in_py).toEqual([true, "py-service"]);
    expect(out.unknown).toEqual(["NOT_FOUND", "ERROR_REASON_NAMESPACE_NOT_FOUND"]);
    expect(out.bad_name).toEqual(["INVALID_ARGUMENT", "ERROR_REASON_INVALID_NAME"]);
    expect(out.tag_labels).toEqual({ env: "prod" });
    expect(out.label_filter).toEqual(["1"]);
    expect(out.label_filter_in_default).toEqual(["NOT_FOUND", "ERROR_REASON_REPOSITORY_NOT_FOUND"]);
    expect(out.bad_label).toEqual(["INVALID_ARGUMENT", "ERROR_REASON_INVALID_LABEL"]);
    expect(out.namespace_labels).toEqual({ tier: "gold" });
    expect(out.namespace_filter).toEqual(["py"]);
    expect(out.not_empty).toEqual(["FAILED_PRECONDITION", "ERROR_REASON_NAMESPACE_NOT_EMPTY"]);
  });
});
