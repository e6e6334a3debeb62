/**
 * UpdateRepository and UpdateTag without gRPC: names are checked first, then the labels change
 * in one transaction (label-updater.ts), with a tag's /tags/update event. NOT_FOUND names what
 * is missing, as GetTag does. (A repository's labels have no topic in DESIGN §8.6.)
 */
import type { Database } from "../../db/data-source.js";
import { DEFAULT_NAMESPACE } from "../../db/entities/index.js";
import { appendEvents } from "../../db/events/event-store.js";
import { lockRepository, lockTag } from "../../db/labels/label-owners.js";
import type { Labels } from "../../db/labels/label-tables.js";
import { namespaceIdOf } from "../../db/queries/namespaces.js";
import { repositoryExists } from "../../db/queries/repository-queries.js";
import { failedPrecondition, notFound } from "../../errors.js";
import { assertRepositoryName, assertTagName, quoteForMessage } from "../../oci/names.js";
import { parseLabelUpdate } from "./label-mask.js";
import { updateLabels, type LabelUpdateRequest } from "./label-updater.js";
import { tagLabelsEvent } from "../events/event-topics.js";

export type { LabelUpdateRequest };

export class MetadataLabels {
  constructor(
    private readonly db: Database,
    private readonly namespace: string = DEFAULT_NAMESPACE,
    /** Known already (the namespace runtimes resolve it): no lookup. */
    private readonly knownNamespaceId?: number,
  ) {}

  async updateRepository(name: string, request: LabelUpdateRequest): Promise<Labels> {
    assertRepositoryName(name);
    parseLabelUpdate(request.labels, request.updateMask);
    const namespaceId = await this.namespaceId();
    return updateLabels(
      this.db,
      "repository",
      (m) => lockRepository(m, this.db.dialect, namespaceId, name),
      request,
      () => notFound(`repository ${quoteForMessage(name)} not found`, "REPOSITORY_NOT_FOUND"),
    );
  }

  async updateTag(repository: string, tag: string, request: LabelUpdateRequest): Promise<Labels> {
    assertRepositoryName(repository);
    assertTagName(tag);
    parseLabelUpdate(request.labels, request.updateMask);
    const namespaceId = await this.namespaceId();
    let missing: Error | undefined;
    let facts: { digest: string; kind: string } | undefined;
    try {
      return await updateLabels(
        this.db,
        "tag",
        async (m) => {
          const locked = await lockTag(m, this.db.dialect, namespaceId, repository, tag);
          facts = locked;
          return locked?.owner;
        },
        request,
        () => (missing = new Error("tag not indexed")),
        // A label change is a /tags/update whose old and new digest are the same (DESIGN §8.6).
        async (m, _owner, labels) => {
          await appendEvents(m, this.db.dialect, [tagLabelsEvent(namespaceId, { repository, tag, ...facts!, labels })]);
        },
      );
    } catch (e) {
      if (e !== missing) throw e;
    }
    // Outside the transaction: which of the two is missing is only for the message and reason.
    if (!(await repositoryExists(this.db, namespaceId, repository)))
      throw notFound(`repository ${quoteForMessage(repository)} not found`, "REPOSITORY_NOT_FOUND");
    throw notFound(
      `tag ${quoteForMessage(tag)} not found in repository ${quoteForMessage(repository)}`,
      "TAG_NOT_FOUND",
    );
  }

  private async namespaceId(): Promise<number> {
    if (this.knownNamespaceId !== undefined) return this.knownNamespaceId;
    const id = await namespaceIdOf(this.db, this.namespace);
    if (id === undefined)
      throw failedPrecondition(
        `namespace ${quoteForMessage(this.namespace)} does not exist: run migrations`,
        "DATABASE_NOT_MIGRATED",
      );
    return id;
  }
}
