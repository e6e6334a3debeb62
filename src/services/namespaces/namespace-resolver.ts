/**
 * Namespace name → the namespace a call acts in, resolved once per call by grpc/ and cached.
 * Ids never change, but a namespace can be deleted (and its name taken again), so an entry is
 * trusted for `ttlMs` (default 1 s): a deletion stops resolving on every replica within that,
 * with no coordination row to poll. `default` can never be deleted: once read it is kept.
 * While the database is unreachable an expired entry is still served for `staleMaxMs` (the
 * token cache's EPOCH_TOKEN_STALE_MAX), so cached tokens keep validating as before namespaces.
 */
import type { NamespaceRecord } from "../../db/namespaces/namespace-store.js";
import { notFound } from "../../errors.js";
import { quoteForMessage } from "../../oci/names.js";
import { assertNamespaceName, DEFAULT_NAMESPACE } from "./namespace-name.js";

export type NamespaceContext = Readonly<Pick<NamespaceRecord, "id" | "name" | "storageUrl">>;

export interface ResolverOptions {
  ttlMs?: number;
  staleMaxMs?: number;
  now?: () => number;
}

interface Entry {
  namespace: NamespaceContext | null;
  readAt: number;
}

export const namespaceNotFound = (name: string) =>
  notFound(`namespace ${quoteForMessage(name)} not found`, "NAMESPACE_NOT_FOUND");

export class NamespaceResolver {
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<Entry>>();
  private readonly ttlMs: number;
  private readonly staleMaxMs: number;
  private readonly now: () => number;
  private defaultNamespace: NamespaceContext | undefined;

  constructor(
    private readonly find: (name: string) => Promise<NamespaceRecord | undefined>,
    o: ResolverOptions = {},
  ) {
    this.ttlMs = o.ttlMs ?? 1_000;
    this.staleMaxMs = o.staleMaxMs ?? 60_000;
    this.now = o.now ?? Date.now;
  }

  /** A fresh cached answer without a promise (the hot path), or undefined when it must be read. */
  peek(name: string): NamespaceContext | undefined {
    if (name === DEFAULT_NAMESPACE && this.defaultNamespace) return this.defaultNamespace;
    const entry = this.entries.get(name);
    if (entry?.namespace && this.now() - entry.readAt < this.ttlMs) return entry.namespace;
    return undefined;
  }

  /** INVALID_ARGUMENT INVALID_NAME for a bad name, NOT_FOUND NAMESPACE_NOT_FOUND for an unknown one. */
  async resolve(name: string): Promise<NamespaceContext> {
    const hit = this.peek(name);
    if (hit) return hit;
    assertNamespaceName(name);
    const cached = this.entries.get(name);
    let entry: Entry;
    if (cached && this.now() - cached.readAt < this.ttlMs) {
      entry = cached;
    } else {
      try {
        entry = await this.read(name);
      } catch (e) {
        // The database cannot answer now: keep serving what it said last, for a while.
        if (cached?.namespace && this.now() - cached.readAt < this.staleMaxMs) return cached.namespace;
        throw e;
      }
    }
    if (!entry.namespace) throw namespaceNotFound(name);
    return entry.namespace;
  }

  /** Forgets a name at once on this replica (after a delete or create here). */
  evict(name: string): void {
    this.entries.delete(name);
  }

  private read(name: string): Promise<Entry> {
    let got = this.pending.get(name);
    if (!got) {
      got = this.find(name).then((found) => {
        const namespace = found
          ? Object.freeze({ id: found.id, name: found.name, storageUrl: found.storageUrl })
          : null;
        const entry = { namespace, readAt: this.now() };
        // Unknown names are not kept: random names must not grow the map.
        if (namespace) this.entries.set(name, entry);
        else this.entries.delete(name);
        if (namespace && name === DEFAULT_NAMESPACE) this.defaultNamespace = namespace;
        return entry;
      });
      const clear = () => this.pending.delete(name);
      got.then(clear, clear);
      this.pending.set(name, got);
    }
    return got;
  }
}
