import { InitialSchema1763900000000 } from "./1763900000000-initial-schema.js";

/** Every migration, in order. Add new ones at the end. */
export const migrations = [InitialSchema1763900000000];
