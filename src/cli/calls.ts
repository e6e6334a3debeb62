/** Promise-shaped calls for the client commands, each with a deadline so a hung server cannot hang the CLI. */
import { Metadata, type ServiceError } from "@grpc/grpc-js";
import type { MetadataServiceClient } from "epoch-meta-client/epoch/v1/metadata_service";
import { clientConfigFrom, connect } from "./client.js";

const CALL_TIMEOUT_MS = 30_000;

type Callback<Res> = (e: ServiceError | null, res: Res) => void;
export type Start<Res> = (metadata: Metadata, options: { deadline: Date }, callback: Callback<Res>) => unknown;

export function unaryCall<Res>(start: Start<Res>): Promise<Res> {
  return new Promise((resolve, reject) => {
    start(new Metadata(), { deadline: new Date(Date.now() + CALL_TIMEOUT_MS) }, (e, res) =>
      e ? reject(e) : resolve(res),
    );
  });
}

/** Runs `fn` with a MetadataService client for `--server`/EPOCH_SERVER, closing it afterwards. */
export async function withMetadataClient<T>(
  opts: { server?: string; namespace?: string },
  fn: (client: MetadataServiceClient) => Promise<T>,
): Promise<T> {
  const clients = connect(clientConfigFrom(opts));
  try {
    return await fn(clients.metadata);
  } finally {
    clients.close();
  }
}

/**
 * Reads one page, or with `all` every page from `firstToken` on, and returns the items and the
 * token of the page after the last one read ("" when there is none).
 */
export async function readPages<T>(
  firstToken: string,
  all: boolean,
  page: (token: string) => Promise<{ items: T[]; nextPageToken: string }>,
): Promise<{ items: T[]; nextPageToken: string }> {
  const items: T[] = [];
  let token = firstToken;
  do {
    const res = await page(token);
    items.push(...res.items);
    token = res.nextPageToken;
  } while (all && token !== "");
  return { items, nextPageToken: token };
}
