/**
 * LeaseService's domain (DESIGN §8.3; containerd's leases) for one namespace: input checked
 * first, then one short transaction per change, its event appended last. An expired lease is gone
 * for every caller (the collector reclaims its rows: db/content-leases/gc-roots.ts); a lease of
 * another token is reported as absent unless the caller is an admin.
 */
import type { EntityManager } from "typeorm";
import type { Database } from "../../db/data-source.js";
import {
  addLeaseResource,
  deleteLease,
  deleteLeaseResource,
  findLiveLease,
  insertLease,
  LEASE_SORT,
  listLeasePage,
  listLeaseResources,
  readLease,
  type LeaseRecord,
  type LeaseResourceRecord,
} from "../../db/content-leases/lease-store.js";
import { appendEvents } from "../../db/events/event-store.js";
import { readLabels, writeLabelChange } from "../../db/labels/label-store.js";
import type { Labels } from "../../db/labels/label-tables.js";
import { keyTypes } from "../../db/queries/keyset.js";
import { writeTransaction } from "../../db/write-transaction.js";
import { alreadyExists, notFound } from "../../errors.js";
import { quoteForMessage } from "../../oci/names.js";
import { leaseEvent } from "../events/event-topics.js";
import { assertLabels } from "../labels/label-rules.js";
import { parseLabelUpdate, sortedLabels } from "../labels/label-mask.js";
import { updateLabels, type LabelUpdateRequest } from "../labels/label-updater.js";
import { readPage } from "../queries/filtered-page.js";
import { compileListFilter, type FilterFields } from "../queries/filter/list-filter.js";
import { pageSize } from "../queries/list-options.js";
import { decodePageToken, encodePageToken, type PageQuery } from "../queries/page-token.js";
import { assertLeaseId, checkResource, mayManage, newId, ttl, type Actor } from "./lease-input.js";

export type { LeaseResourceRecord };

/** A lease as callers see it. */
export interface Lease {
  id: string;
  labels: Labels;
  createTime: Date;
  /** Undefined = never expires. */
  expireTime: Date | undefined;
  ownerTokenId: number | undefined;
}

export interface CreateLeaseInput {
  /** "" = generated. */
  id: string;
  labels: Labels;
  /** 0 = never expires. */
  ttlMs: number;
}

export const LEASE_FILTER_FIELDS: FilterFields<Lease> = { id: { get: (l) => l.id } };

export const leaseNotFound = (id: string) => notFound(`lease ${quoteForMessage(id)} not found`, "LEASE_NOT_FOUND");

export class LeaseService {
  constructor(
    private readonly db: Database,
    private readonly namespaceId: number,
  ) {}

  async create(input: CreateLeaseInput, actor: Actor): Promise<Lease> {
    const id = input.id === "" ? newId() : input.id;
    assertLeaseId(id);
    assertLabels(input.labels);
    const ttlMs = ttl(input.ttlMs, 0);
    const { db, namespaceId } = this;
    return writeTransaction(db, async (m) => {
      const created = await insertLease(m, db.dialect, { namespaceId, id, ownerTokenId: actor.tokenId ?? null, ttlMs });
      if (!created) throw alreadyExists(`lease ${quoteForMessage(id)} already exists`, "LEASE_EXISTS");
      if (Object.keys(input.labels).length > 0)
        await writeLabelChange(m, "lease", [namespaceId, id], { set: input.labels, remove: [] });
      const lease = view((await readLease(m, namespaceId, id))!, sortedLabels(input.labels));
      await appendEvents(m, db.dialect, [leaseEvent(namespaceId, lease, true)]);
      return lease;
    });
  }

  async get(id: string, actor: Actor): Promise<Lease> {
    assertLeaseId(id);
    const found = await this.find(this.db, id, actor);
    return view(found, await readLabels(this.db, "lease", [this.namespaceId, id]));
  }

  /** Unexpired leases in id order (the caller is an admin: grpc/auth.ts). */
  async list(req: {
    pageSize: number;
    pageToken: string;
    filter: readonly string[];
  }): Promise<{ leases: Lease[]; nextPageToken: string }> {
    const limit = pageSize(req.pageSize);
    const filter = compileListFilter(req.filter, LEASE_FILTER_FIELDS, (l) => l.labels);
    const query: PageQuery = { list: "leases", order: "id", scope: filter?.key ?? [], namespace: this.namespaceId };
    const after = decodePageToken(req.pageToken, query, keyTypes(LEASE_SORT));
    const page = await readPage(
      async (from, rows) => {
        const found = await listLeasePage(this.db, {
          namespaceId: this.namespaceId,
          after: from,
          limit: rows,
          filter: filter?.condition,
        });
        return { ...found, items: found.items.map((l) => view(l, l.labels)) };
      },
      after,
      limit,
      filter?.matches,
    );
    return { leases: page.items, nextPageToken: page.lastKey ? encodePageToken(query, page.lastKey) : "" };
  }

  /** Labels only, with update_mask (services/labels/label-mask.ts). */
  async update(id: string, request: LabelUpdateRequest, actor: Actor): Promise<Lease> {
    assertLeaseId(id);
    parseLabelUpdate(request.labels, request.updateMask);
    let found: LeaseRecord | undefined;
    const labels = await updateLabels(
      this.db,
      "lease",
      async (m) => {
        found = await findLiveLease(m, this.db.dialect, this.namespaceId, id, true);
        return found && mayManage(actor, found) ? [this.namespaceId, id] : undefined;
      },
      request,
      () => leaseNotFound(id),
    );
    return view(found!, labels);
  }

  async delete(id: string, actor: Actor): Promise<void> {
    assertLeaseId(id);
    await writeTransaction(this.db, async (m) => {
      await this.find(m, id, actor, true);
      const labels = await readLabels(m, "lease", [this.namespaceId, id]);
      await deleteLease(m, this.namespaceId, id);
      await appendEvents(m, this.db.dialect, [leaseEvent(this.namespaceId, { id, labels }, false)]);
    });
  }

  /** Idempotent; the resource need not exist. */
  async addResource(id: string, resource: LeaseResourceRecord | undefined, actor: Actor): Promise<void> {
    assertLeaseId(id);
    const r = checkResource(resource);
    await writeTransaction(this.db, async (m) => {
      await this.find(m, id, actor, true);
      await addLeaseResource(m, this.db.dialect, this.namespaceId, id, r);
    });
  }

  /** Idempotent. */
  async deleteResource(id: string, resource: LeaseResourceRecord | undefined, actor: Actor): Promise<void> {
    assertLeaseId(id);
    const r = checkResource(resource);
    await writeTransaction(this.db, async (m) => {
      await this.find(m, id, actor, true);
      await deleteLeaseResource(m, this.namespaceId, id, r);
    });
  }

  async listResources(id: string, actor: Actor): Promise<LeaseResourceRecord[]> {
    assertLeaseId(id);
    await this.find(this.db, id, actor);
    return listLeaseResources(this.db, this.namespaceId, id);
  }

  /** An unexpired lease the actor may manage, else LEASE_NOT_FOUND. */
  private async find(on: Database | EntityManager, id: string, actor: Actor, lock = false): Promise<LeaseRecord> {
    const found = await findLiveLease(on, this.db.dialect, this.namespaceId, id, lock);
    if (!found || !mayManage(actor, found)) throw leaseNotFound(id);
    return found;
  }
}

function view(l: LeaseRecord, labels: Labels): Lease {
  return {
    id: l.id,
    labels,
    createTime: l.createdAt,
    expireTime: l.expiresAt ?? undefined,
    ownerTokenId: l.ownerTokenId ?? undefined,
  };
}
