/**
 * Parses OCI and Docker (schema 2) image manifests and indexes from raw bytes. Pure: any input
 * either parses or throws an EpochError `MANIFEST_INVALID` whose message says why — never
 * anything else, whatever the bytes (property-tested).
 */
import { invalidArgument, type EpochError } from "../errors.js";
import { isDigest } from "./names.js";
import { ANNOTATION_CREATED, INDEX_MEDIA_TYPES, MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST } from "./media-types.js";
import { parseRfc3339 } from "./rfc3339.js";

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** "os/architecture[/variant]", as the sync writes manifest_children.platform; "" for none. */
export function platformText(p: Platform | undefined): string {
  if (!p) return "";
  return [p.os, p.architecture, p.variant].filter((s) => s !== undefined && s !== "").join("/");
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  platform?: Platform;
  annotations?: Readonly<Record<string, string>>;
}

interface ManifestCommon {
  /** The top-level `mediaType` as written, if any. */
  declaredMediaType?: string;
  /** The top-level `artifactType` as written, if any (Epoch's `artifact_type` is this alone). */
  declaredArtifactType?: string;
  annotations: Readonly<Record<string, string>>;
}

export interface ImageManifest extends ManifestCommon {
  type: "manifest";
  config: Descriptor;
  layers: readonly Descriptor[];
  subject?: Descriptor;
}

export interface ImageIndex extends ManifestCommon {
  type: "index";
  manifests: readonly Descriptor[];
  subject?: Descriptor;
}

export type ParsedManifest = ImageManifest | ImageIndex;

export function manifestInvalid(reason: string): EpochError {
  return invalidArgument(`invalid manifest: ${reason}`, "MANIFEST_INVALID");
}

type Json = Record<string, unknown>;
const has = (o: Json, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

export function parseManifest(bytes: Uint8Array): ParsedManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw manifestInvalid("not valid UTF-8 JSON");
  }
  if (!isObject(doc)) throw manifestInvalid("not a JSON object");
  if (doc.schemaVersion !== 2) {
    throw manifestInvalid(`unsupported schemaVersion ${JSON.stringify(doc.schemaVersion) ?? "(missing)"}`);
  }
  const declaredMediaType = optionalString(doc, "mediaType");
  const common: ManifestCommon = {
    ...(declaredMediaType !== undefined && { declaredMediaType }),
    ...optionalField("declaredArtifactType", optionalString(doc, "artifactType")),
    annotations: stringMap(doc.annotations, "annotations"),
  };
  const subject = has(doc, "subject") && doc.subject !== null ? descriptor(doc.subject, "subject") : undefined;
  const looksLikeIndex =
    declaredMediaType !== undefined
      ? INDEX_MEDIA_TYPES.has(declaredMediaType)
      : has(doc, "manifests") && !has(doc, "config");

  if (looksLikeIndex) {
    if (!Array.isArray(doc.manifests)) throw manifestInvalid("index without a manifests array");
    const manifests = doc.manifests.map((d, i) => descriptor(d, `manifests[${i}]`, true));
    return { type: "index", ...common, manifests, ...optionalField("subject", subject) };
  }
  if (!has(doc, "config")) throw manifestInvalid("image manifest without a config descriptor");
  const config = descriptor(doc.config, "config");
  // A missing layers array is read as empty (Go's nil slice in Epoch); any other type is invalid.
  const rawLayers = doc.layers ?? [];
  if (!Array.isArray(rawLayers)) throw manifestInvalid("layers is not an array");
  const layers = rawLayers.map((d, i) => descriptor(d, `layers[${i}]`));
  assertConsistentSizes([config, ...layers]);
  return { type: "manifest", ...common, config, layers, ...optionalField("subject", subject) };
}

/** The top-level media type as written, else the one its shape implies. */
export function effectiveMediaType(m: ParsedManifest): string {
  if (m.declaredMediaType) return m.declaredMediaType;
  return m.type === "index" ? MEDIA_TYPE_OCI_INDEX : MEDIA_TYPE_OCI_MANIFEST;
}

/**
 * The `artifact_type` we report: the top-level `artifactType`, else (for an image manifest)
 * the config media type — the OCI 1.1 referrers rule. Epoch stores the top-level field alone
 * (empty for plain images); `declaredArtifactType` keeps that value for callers that need it.
 */
export function effectiveArtifactType(m: ParsedManifest): string | undefined {
  if (m.declaredArtifactType) return m.declaredArtifactType;
  return m.type === "manifest" ? m.config.mediaType : undefined;
}

/** `org.opencontainers.image.created` when it is a valid RFC 3339 time, else undefined. */
export function createdAt(m: ParsedManifest): Date | undefined {
  const value = m.annotations[ANNOTATION_CREATED];
  return value === undefined ? undefined : parseRfc3339(value);
}

function optionalField<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function optionalString(o: Json, key: string, where = ""): string | undefined {
  if (!has(o, key) || o[key] === null) return undefined;
  const v = o[key];
  if (typeof v !== "string") throw manifestInvalid(`${where}${key} is not a string`);
  return v;
}

function stringMap(v: unknown, where: string): Readonly<Record<string, string>> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  if (v === undefined || v === null) return out;
  if (!isObject(v)) throw manifestInvalid(`${where} is not an object`);
  for (const [k, value] of Object.entries(v)) {
    if (typeof value !== "string") throw manifestInvalid(`${where}[${JSON.stringify(k)}] is not a string`);
    out[k] = value;
  }
  return out;
}

function descriptor(v: unknown, where: string, withPlatform = false): Descriptor {
  if (!isObject(v)) throw manifestInvalid(`${where} is not an object`);
  const mediaType = optionalString(v, "mediaType", `${where}.`);
  if (mediaType === undefined) throw manifestInvalid(`${where}.mediaType is missing`);
  const digest = v.digest;
  // Blob keys are blobs/sha256/<hex>, so only sha256 digests can be indexed.
  if (typeof digest !== "string" || !isDigest(digest))
    throw manifestInvalid(`${where}.digest is not sha256:<64 lowercase hex>`);
  const size = v.size;
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
    throw manifestInvalid(`${where}.size must be an integer between 0 and 2^53`);
  }
  const artifactType = optionalString(v, "artifactType", `${where}.`);
  const out: Descriptor = { mediaType, digest, size, ...optionalField("artifactType", artifactType) };
  if (has(v, "annotations") && v.annotations !== null)
    out.annotations = stringMap(v.annotations, `${where}.annotations`);
  if (withPlatform && has(v, "platform") && v.platform !== null)
    out.platform = platform(v.platform, `${where}.platform`);
  return out;
}

function platform(v: unknown, where: string): Platform {
  if (!isObject(v)) throw manifestInvalid(`${where} is not an object`);
  const os = optionalString(v, "os", `${where}.`) ?? "";
  const architecture = optionalString(v, "architecture", `${where}.`) ?? "";
  const variant = optionalString(v, "variant", `${where}.`);
  return { os, architecture, ...optionalField("variant", variant) };
}

/** One digest is one blob: listing it twice with different sizes is a corrupt manifest. */
function assertConsistentSizes(descriptors: readonly Descriptor[]): void {
  const sizes = new Map<string, number>();
  for (const d of descriptors) {
    const seen = sizes.get(d.digest);
    if (seen !== undefined && seen !== d.size)
      throw manifestInvalid(`blob ${d.digest} listed with sizes ${seen} and ${d.size}`);
    sizes.set(d.digest, d.size);
  }
}
