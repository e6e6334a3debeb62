/**
 * The LeaseService adapter: unpack, call the namespace's services/leases, pack. Who may call what
 * is split between grpc/auth.ts (a push, service or admin token; ListLeases admin only) and the
 * service (a non-admin manages only the leases its token created).
 */
import type { Duration } from "epoch-meta-client/google/protobuf/duration";
import {
  LeaseResourceKind,
  type Lease as LeaseMessage,
  type LeaseResource,
  type LeaseServiceServer,
} from "epoch-meta-client/epoch/v1/lease_service";
import { invalidArgument } from "../errors.js";
import type { LeaseResourceRecord } from "../db/content-leases/lease-store.js";
import type { Actor } from "../services/leases/lease-input.js";
import type { Lease, LeaseService } from "../services/leases/lease-service.js";
import { boundOf } from "./auth.js";
import { unary, type CallContext } from "./handlers.js";

/** The services of the namespace a call acts in. */
export type LeaseRuntimeOf = (ctx: CallContext) => Promise<{ leases: LeaseService }>;

/** Unset = 0; a negative duration stays negative so the service refuses it. */
export function durationMs(d: Duration | undefined): number {
  return d ? d.seconds * 1000 + d.nanos / 1e6 : 0;
}

/** The caller as services/leases sees it; without authentication every call is an admin's. */
export function actorOf(ctx: CallContext): Actor {
  return {
    tokenId: ctx.caller?.id,
    admin: ctx.caller === undefined || ctx.caller.scopes.includes("admin"),
    bound: boundOf(ctx.caller),
  };
}

const KINDS: Partial<Record<LeaseResourceKind, LeaseResourceRecord["kind"]>> = {
  [LeaseResourceKind.LEASE_RESOURCE_KIND_BLOB]: "blob",
  [LeaseResourceKind.LEASE_RESOURCE_KIND_MANIFEST]: "manifest",
  [LeaseResourceKind.LEASE_RESOURCE_KIND_UPLOAD]: "upload",
};

function resourceFromProto(r: LeaseResource | undefined): LeaseResourceRecord | undefined {
  if (!r) return undefined;
  const kind = KINDS[r.kind];
  if (!kind) throw invalidArgument("resource.kind must be LEASE_RESOURCE_KIND_BLOB, _MANIFEST or _UPLOAD");
  return { kind, id: r.id };
}

function resourceToProto(r: LeaseResourceRecord): LeaseResource {
  const kind = Object.entries(KINDS).find(([, k]) => k === r.kind)?.[0];
  return { kind: Number(kind) as LeaseResourceKind, id: r.id };
}

function leaseToProto(l: Lease): LeaseMessage {
  return {
    id: l.id,
    labels: l.labels,
    createTime: l.createTime,
    expireTime: l.expireTime,
    ownerTokenId: l.ownerTokenId ?? 0,
  };
}

export function leaseServiceServer(runtimeOf: LeaseRuntimeOf): LeaseServiceServer {
  const leases = async (ctx: CallContext) => (await runtimeOf(ctx)).leases;
  return {
    createLease: unary(async (req, ctx) => ({
      lease: leaseToProto(
        await (await leases(ctx)).create({ id: req.id, labels: req.labels, ttlMs: durationMs(req.ttl) }, actorOf(ctx)),
      ),
    })),
    getLease: unary(async (req, ctx) => ({ lease: leaseToProto(await (await leases(ctx)).get(req.id, actorOf(ctx))) })),
    listLeases: unary(async (req, ctx) => {
      const page = await (await leases(ctx)).list(req);
      return { leases: page.leases.map(leaseToProto), nextPageToken: page.nextPageToken };
    }),
    updateLease: unary(async (req, ctx) => ({
      lease: leaseToProto(
        await (
          await leases(ctx)
        ).update(req.id, { labels: req.labels, updateMask: req.updateMask ?? [] }, actorOf(ctx)),
      ),
    })),
    deleteLease: unary(async (req, ctx) => {
      await (await leases(ctx)).delete(req.id, actorOf(ctx));
      return {};
    }),
    addLeaseResource: unary(async (req, ctx) => {
      await (await leases(ctx)).addResource(req.id, resourceFromProto(req.resource), actorOf(ctx));
      return {};
    }),
    deleteLeaseResource: unary(async (req, ctx) => {
      await (await leases(ctx)).deleteResource(req.id, resourceFromProto(req.resource), actorOf(ctx));
      return {};
    }),
    listLeaseResources: unary(async (req, ctx) => ({
      resources: (await (await leases(ctx)).listResources(req.id, actorOf(ctx))).map(resourceToProto),
    })),
  };
}
