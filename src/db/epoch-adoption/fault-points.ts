/** Test-only crash points of an adoption: a hook that throws there stops it as `kill -9` would. */
export type AdoptionFaultPoint =
  "after-rename" | "after-schema" | "after-tokens" | "after-first-catalog-batch" | "after-catalog" | "after-blobs";

/** Thrown by a test fault point: the run stops dead — no lease release — as after `kill -9`. */
export class SimulatedAdoptionCrash extends Error {
  constructor(readonly point: AdoptionFaultPoint) {
    super(`simulated crash at ${point}`);
    this.name = "SimulatedAdoptionCrash";
  }
}
