/**
 * The tags a run will write, kept in a local temporary file between its fetch and commit
 * phases, so a run's memory does not grow with the number of changed tags (a first sync of
 * 100k tags would otherwise hold ~100 MB of manifest bytes plus their parsed facts until the
 * commit). Frames: u32 header length, header JSON (the facts without the manifest bytes), u32
 * body length, the manifest bytes. The file is removed when the run ends.
 */
import { randomBytes } from "node:crypto";
import { open, rm, type FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ManifestFacts, TagFacts } from "./tag-reader.js";

const FLUSH_BYTES = 1 << 20;

type Header = Omit<TagFacts, "manifest" | "pushedAt"> & { pushedAt: string; manifest: Omit<ManifestFacts, "json"> };

export class FactSpool {
  /** Tags added so far. */
  count = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Opened on the first flush: a run with nothing to write never creates the file. */
  private file: Promise<FileHandle> | undefined;
  private writing: Promise<unknown> = Promise.resolve();
  private readonly path: string;

  constructor(dir = tmpdir()) {
    this.path = join(dir, `epoch-meta-sync-${process.pid}-${randomBytes(6).toString("hex")}.spool`);
  }

  add(t: TagFacts): void {
    const { json, ...manifest } = t.manifest;
    const header: Header = { ...t, pushedAt: t.pushedAt.toISOString(), manifest };
    const head = Buffer.from(JSON.stringify(header));
    const body = Buffer.from(json);
    const frame = Buffer.allocUnsafe(8 + head.length + body.length);
    frame.writeUInt32LE(head.length, 0);
    head.copy(frame, 4);
    frame.writeUInt32LE(body.length, 4 + head.length);
    body.copy(frame, 8 + head.length);
    this.pending.push(frame);
    this.pendingBytes += frame.length;
    this.count++;
    if (this.pendingBytes >= FLUSH_BYTES) this.flush();
  }

  /** The tags in the order added, `size` at a time. */
  async *batches(size: number): AsyncGenerator<TagFacts[]> {
    this.flush();
    await this.writing;
    if (!this.file) return;
    const fh = await this.file;
    let position = 0;
    let carry = Buffer.alloc(0);
    let batch: TagFacts[] = [];
    const chunk = Buffer.allocUnsafe(FLUSH_BYTES);
    for (;;) {
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      let data = Buffer.concat([carry, chunk.subarray(0, bytesRead)]);
      for (;;) {
        const frame = nextFrame(data);
        if (!frame) break;
        batch.push(frame.facts);
        data = data.subarray(frame.length);
        if (batch.length >= size) {
          yield batch;
          batch = [];
        }
      }
      carry = Buffer.from(data);
    }
    if (carry.length > 0) throw new Error("sync spool file is truncated");
    if (batch.length > 0) yield batch;
  }

  async close(): Promise<void> {
    if (!this.file) return;
    await this.writing.catch(() => undefined);
    await (await this.file.catch(() => undefined))?.close().catch(() => undefined);
    await rm(this.path, { force: true });
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    const data = Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    this.file ??= open(this.path, "w+", 0o600);
    const file = this.file;
    // Appends stay in order; a failed write fails the commit phase that waits on it.
    this.writing = this.writing.then(async () => (await file).write(data));
  }
}

function nextFrame(data: Buffer): { facts: TagFacts; length: number } | undefined {
  if (data.length < 4) return undefined;
  const headLength = data.readUInt32LE(0);
  if (data.length < 8 + headLength) return undefined;
  const bodyLength = data.readUInt32LE(4 + headLength);
  const length = 8 + headLength + bodyLength;
  if (data.length < length) return undefined;
  const header = JSON.parse(data.toString("utf8", 4, 4 + headLength)) as Header;
  const json = data.toString("utf8", 8 + headLength, length);
  return { facts: { ...header, pushedAt: new Date(header.pushedAt), manifest: { ...header.manifest, json } }, length };
}
