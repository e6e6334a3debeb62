import { InitialSchema1763900000000 } from "./1763900000000-initial-schema.js";
import { RepositoryTagSetHash1764000000000 } from "./1764000000000-repository-tag-set-hash.js";
import { TagTombstones1766100000000 } from "./1766100000000-tag-tombstones.js";
import { NamespaceRoots1766200000000 } from "./1766200000000-namespace-roots.js";
import { Labels1766300000000 } from "./1766300000000-labels.js";
import { Events1766400000000 } from "./1766400000000-events.js";
import { LeasesUploads1766500000000 } from "./1766500000000-leases-uploads.js";
import { Gc1766600000000 } from "./1766600000000-gc.js";

/** Every migration, in order. Add new ones at the end. */
export const migrations = [
  InitialSchema1763900000000,
  RepositoryTagSetHash1764000000000,
  TagTombstones1766100000000,
  NamespaceRoots1766200000000,
  Labels1766300000000,
  Events1766400000000,
  LeasesUploads1766500000000,
  Gc1766600000000,
];
