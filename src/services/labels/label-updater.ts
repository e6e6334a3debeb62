/**
 * The one way labels change: validate the request, then in one short transaction lock the
 * owner, read its labels, plan the change (label-mask.ts) and write only what differs. Used by
 * UpdateRepository and UpdateTag (metadata-labels.ts) and by UpdateNamespace (namespaces).
 */
import type { EntityManager } from "typeorm";
import type { Database } from "../../db/data-source.js";
import { readLabels, writeLabelChange } from "../../db/labels/label-store.js";
import type { LabelKind, LabelOwner, Labels } from "../../db/labels/label-tables.js";
import { writeTransaction } from "../../db/write-transaction.js";
import { parseLabelUpdate, planLabelChange } from "./label-mask.js";

export interface LabelUpdateRequest {
  labels: Labels;
  /** google.protobuf.FieldMask paths. */
  updateMask: readonly string[];
}

export async function updateLabels(
  db: Database,
  kind: LabelKind,
  /** Finds and locks the owner in the transaction; undefined = it does not exist. */
  lock: (m: EntityManager) => Promise<LabelOwner | undefined>,
  request: LabelUpdateRequest,
  /** The NOT_FOUND error for a missing owner. */
  missing: () => Error,
  /**
   * Runs in the same transaction when the labels changed, with the labels now (to move the
   * owner's update time, to write the change's event).
   */
  changed?: (m: EntityManager, owner: LabelOwner, labels: Labels) => Promise<void>,
): Promise<Labels> {
  const update = parseLabelUpdate(request.labels, request.updateMask);
  return writeTransaction(db, async (m) => {
    const owner = await lock(m);
    if (!owner) throw missing();
    const current = await readLabels(m, kind, owner);
    const { change, result } = planLabelChange(current, update);
    if (Object.keys(change.set).length > 0 || change.remove.length > 0) {
      await writeLabelChange(m, kind, owner, change);
      await changed?.(m, owner, result);
    }
    return result;
  });
}
