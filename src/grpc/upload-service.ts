/**
 * The UploadService adapter: unpack, call the namespace's services/uploads, pack. grpc/auth.ts
 * admits push, service and admin tokens (ListUploads admin only); the service checks that the
 * upload's repository is inside the token's repositories.
 */
import { UploadState, type Upload, type UploadServiceServer } from "epoch-meta-client/epoch/v1/upload_service";
import { uploadPrefix } from "../db/uploads/upload-store.js";
import type { UploadRecord, UploadService } from "../services/uploads/upload-service.js";
import { blobToProto } from "./convert.js";
import { unary, type CallContext } from "./handlers.js";
import { actorOf, durationMs } from "./lease-service.js";

export type UploadRuntimeOf = (ctx: CallContext) => Promise<{ uploads: UploadService }>;

const STATES: Record<UploadRecord["state"], UploadState> = {
  open: UploadState.UPLOAD_STATE_OPEN,
  committed: UploadState.UPLOAD_STATE_COMMITTED,
  aborted: UploadState.UPLOAD_STATE_ABORTED,
};

function uploadToProto(u: UploadRecord): Upload {
  return {
    id: u.id,
    repository: u.repository,
    expectedDigest: u.expectedDigest,
    objectPrefix: uploadPrefix(u.id),
    startTime: u.startedAt,
    expireTime: u.expiresAt ?? undefined,
    leaseId: u.leaseId,
    state: STATES[u.state] ?? UploadState.UPLOAD_STATE_UNSPECIFIED,
    expired: u.expired,
    digest: u.digest,
    size: u.size,
    commitTime: u.committedAt ?? undefined,
  };
}

export function uploadServiceServer(runtimeOf: UploadRuntimeOf): UploadServiceServer {
  const uploads = async (ctx: CallContext) => (await runtimeOf(ctx)).uploads;
  return {
    startUpload: unary(async (req, ctx) => ({
      upload: uploadToProto(
        await (
          await uploads(ctx)
        ).start(
          {
            repository: req.repository,
            expectedDigest: req.expectedDigest,
            leaseId: req.leaseId,
            ttlMs: durationMs(req.ttl),
          },
          actorOf(ctx),
        ),
      ),
    })),
    getUpload: unary(async (req, ctx) => ({
      upload: uploadToProto(await (await uploads(ctx)).get(req.id, actorOf(ctx))),
    })),
    listUploads: unary(async (req, ctx) => {
      const page = await (await uploads(ctx)).list(req);
      return { uploads: page.uploads.map(uploadToProto), nextPageToken: page.nextPageToken };
    }),
    commitUpload: unary(async (req, ctx) => ({
      blob: blobToProto(
        await (
          await uploads(ctx)
        ).commit({ id: req.id, digest: req.digest, size: req.size, mediaType: req.mediaType }, actorOf(ctx)),
      ),
    })),
    abortUpload: unary(async (req, ctx) => {
      await (await uploads(ctx)).abort(req.id, actorOf(ctx));
      return {};
    }),
  };
}
