/**
 * The tags a run will write, kept in a local temporary file between its fetch and commit
 * phases, so a run's memory does not grow with the number of changed tags (a first sync of
 * 100k tags would otherwise hold ~100 MB of manifest bytes plus their parsed facts until the
 * commit). Frames: u32 header length, header JSON (the facts without the manifest bytes, as a
 * positional array: no key names to write and parse 100k times), u32 body length, the manifest
 * bytes. Each frame is encoded straight into one buffer. The file is removed when the run ends.
 */
import { randomBytes } from "node:crypto";
import { open, rm, type FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ManifestFacts, TagFacts } from "../../db/index/tag-facts.js";

const FLUSH_BYTES = 1 << 20;

/** TagFacts without the manifest bytes, in a fixed order (see `encodeHeader`). */
type Header = [
  repository: string,
  tag: string,
  pushedAtMs: number,
  objectEtag: string,
  incomplete: boolean,
  digest: string,
  mediaType: string,
  artifactType: string,
  kind: ManifestFacts["kind"],
  totalSize: number,
  layerCount: number,
  platformSizes: ManifestFacts["platformSizes"],
  children: ManifestFacts["children"],
  blobs: ManifestFacts["blobs"],
  complete: boolean,
];

function encodeHeader(t: TagFacts): string {
  const m = t.manifest;
  const header: Header = [
    t.repository,
    t.tag,
    t.pushedAt.getTime(),
    t.objectEtag,
    t.incomplete,
    m.digest,
    m.mediaType,
    m.artifactType,
    m.kind,
    m.totalSize,
    m.layerCount,
    m.platformSizes,
    m.children,
    m.blobs,
    m.complete,
  ];
  return JSON.stringify(header);
}

function decodeFacts(header: Header, json: string): TagFacts {
  const [
    repository,
    tag,
    pushedAtMs,
    objectEtag,
    incomplete,
    digest,
    mediaType,
    artifactType,
    kind,
    totalSize,
    layerCount,
    platformSizes,
    children,
    blobs,
    complete,
  ] = header;
  return {
    repository,
    tag,
    pushedAt: new Date(pushedAtMs),
    objectEtag,
    incomplete,
    manifest: {
      digest,
      mediaType,
      artifactType,
      kind,
      json,
      totalSize,
      layerCount,
      platformSizes,
      children,
      blobs,
      complete,
    },
  };
}

export class FactSpool {
  /** Tags added so far. */
  count = 0;
  /**
   * Frames are encoded straight into a 1 MiB buffer, written when full; written buffers are
   * reused. A sync of 100k tags otherwise churns through ~300 MB of small Buffers, which Node
   * frees only at a GC (outside V8's heap, so they inflate RSS).
   */
  private buffer: Buffer = Buffer.allocUnsafeSlow(FLUSH_BYTES);
  private used = 0;
  private readonly spare: Buffer[] = [];
  /** Opened on the first flush: a run with nothing to write never creates the file. */
  private file: Promise<FileHandle> | undefined;
  private writing: Promise<unknown> = Promise.resolve();
  private readonly path: string;

  constructor(dir = tmpdir()) {
    this.path = join(dir, `epoch-meta-sync-${process.pid}-${randomBytes(6).toString("hex")}.spool`);
  }

  add(t: TagFacts): void {
    const head = encodeHeader(t);
    const json = t.manifest.json;
    const headLength = Buffer.byteLength(head);
    const bodyLength = Buffer.byteLength(json);
    const size = 8 + headLength + bodyLength;
    if (this.used + size > this.buffer.length) this.flush();
    // A frame larger than the buffer (a huge manifest) goes out on its own.
    const own = size > this.buffer.length;
    const target = own ? Buffer.allocUnsafe(size) : this.buffer;
    const at = own ? 0 : this.used;
    target.writeUInt32LE(headLength, at);
    target.write(head, at + 4);
    target.writeUInt32LE(bodyLength, at + 4 + headLength);
    target.write(json, at + 8 + headLength);
    this.count++;
    if (own) this.append(target, false);
    else this.used += size;
  }

  /** The tags in the order added, `size` at a time. */
  async *batches(size: number): AsyncGenerator<TagFacts[]> {
    this.flush();
    await this.writing;
    if (!this.file) return;
    const fh = await this.file;
    let position = 0;
    let chunk: Buffer = Buffer.allocUnsafeSlow(FLUSH_BYTES);
    // Bytes of an incomplete frame, kept at the start of `chunk` for the next read.
    let carried = 0;
    let batch: TagFacts[] = [];
    for (;;) {
      const { bytesRead } = await fh.read(chunk, carried, chunk.length - carried, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      const end = carried + bytesRead;
      let offset = 0;
      for (;;) {
        const frame = nextFrame(chunk, offset, end);
        if (!frame) break;
        batch.push(frame.facts);
        offset += frame.length;
        if (batch.length >= size) {
          yield batch;
          batch = [];
        }
      }
      carried = end - offset;
      const needed = frameLength(chunk, offset, end);
      if (needed > chunk.length) {
        // A frame larger than the chunk: grow to fit it.
        const larger = Buffer.allocUnsafeSlow(needed);
        chunk.copy(larger, 0, offset, end);
        chunk = larger;
      } else {
        chunk.copy(chunk, 0, offset, end);
      }
    }
    if (carried > 0) throw new Error("sync spool file is truncated");
    if (batch.length > 0) yield batch;
  }

  async close(): Promise<void> {
    if (!this.file) return;
    await this.writing.catch(() => undefined);
    await (await this.file.catch(() => undefined))?.close().catch(() => undefined);
    await rm(this.path, { force: true });
  }

  private flush(): void {
    if (this.used === 0) return;
    const full = this.buffer;
    const data = full.subarray(0, this.used);
    this.buffer = this.spare.pop() ?? Buffer.allocUnsafeSlow(FLUSH_BYTES);
    this.used = 0;
    this.append(data, true, full);
  }

  /** Appends in order; a failed write fails the commit phase that waits on it. */
  private append(data: Buffer, reuse: boolean, whole: Buffer = data): void {
    this.file ??= open(this.path, "w+", 0o600);
    const file = this.file;
    this.writing = this.writing.then(async () => {
      await (await file).write(data);
      if (reuse && this.spare.length < 2) this.spare.push(whole);
    });
  }
}

/** How many bytes from `offset` the frame there needs, as far as [offset, end) tells (at least 4). */
function frameLength(data: Buffer, offset: number, end: number): number {
  if (end - offset < 4) return 4;
  const headLength = data.readUInt32LE(offset);
  if (end - offset < 8 + headLength) return 8 + headLength;
  return 8 + headLength + data.readUInt32LE(offset + 4 + headLength);
}

function nextFrame(data: Buffer, offset: number, end: number): { facts: TagFacts; length: number } | undefined {
  const length = frameLength(data, offset, end);
  if (end - offset < length) return undefined;
  const headLength = data.readUInt32LE(offset);
  const header = JSON.parse(data.toString("utf8", offset + 4, offset + 4 + headLength)) as Header;
  return { facts: decodeFacts(header, data.toString("utf8", offset + 8 + headLength, offset + length)), length };
}
