/**
 * Per-dialect column types, shared by the entities and the migrations, for the few places
 * where TypeORM cannot be dialect-neutral:
 * - auto-increment keys: SQLite only allows AUTOINCREMENT on `integer`; MariaDB's `int` is
 *   32-bit, so it gets `bigint` (and every foreign key follows its target);
 * - names, digests and hashes compare byte-wise: `utf8mb4_bin` on MySQL/MariaDB (their default
 *   `_ci` collations would make `latest` and `Latest` collide); SQLite is BINARY already and
 *   rejects a collation option;
 * - BIGINT arrives from mysql2 as a string: a transformer turns it back into a number (every
 *   value we store stays below 2^53, checked on input).
 */
import type { EntitySchemaColumnOptions, TableColumnOptions, ValueTransformer } from "typeorm";

export type Dialect = "sqlite" | "mariadb" | "mysql";

export interface ColumnSpec {
  type: string;
  length?: number;
  precision?: number;
  nullable?: boolean;
  default?: string | number | boolean;
  collation?: string;
  charset?: string;
  primary?: boolean;
  generated?: boolean;
  transformer?: ValueTransformer;
}

const toNumber: ValueTransformer = {
  to: (v: unknown) => v,
  from: (v: unknown) => (v === null || v === undefined ? v : Number(v)),
};

const booleanFromInt: ValueTransformer = {
  to: (v: unknown) => v,
  from: (v: unknown) => (v === null || v === undefined ? v : Boolean(Number(v))),
};

export class ColumnTypes {
  constructor(readonly dialect: Dialect) {}

  private get isSqlite(): boolean {
    return this.dialect === "sqlite";
  }

  /** Auto-increment primary key. */
  id(): ColumnSpec {
    return { type: this.isSqlite ? "integer" : "bigint", primary: true, generated: true, transformer: toNumber };
  }

  /** A column referring to an `id()` key. */
  ref(nullable = false): ColumnSpec {
    return { type: this.isSqlite ? "integer" : "bigint", nullable, transformer: toNumber };
  }

  /** A 64-bit count or size (values kept below 2^53). */
  bigint(defaultValue: number | undefined = 0): ColumnSpec {
    return { type: "bigint", default: defaultValue, transformer: toNumber };
  }

  int(defaultValue = 0): ColumnSpec {
    return { type: this.isSqlite ? "integer" : "int", default: defaultValue, transformer: toNumber };
  }

  bool(defaultValue = false): ColumnSpec {
    return { type: "boolean", default: defaultValue, transformer: booleanFromInt };
  }

  /** A name, digest or hash: compared byte-wise on every dialect. */
  key(length: number, nullable = false): ColumnSpec {
    return this.isSqlite
      ? { type: "varchar", length, nullable }
      : { type: "varchar", length, nullable, charset: "utf8mb4", collation: "utf8mb4_bin" };
  }

  /**
   * Printable ASCII compared byte-wise (label keys): one byte per character on MySQL/MariaDB, so a
   * 1024-character key still fits in an index (InnoDB keys are at most 3072 bytes; utf8mb4 takes four per character).
   */
  asciiKey(length: number): ColumnSpec {
    return this.isSqlite
      ? { type: "varchar", length }
      : { type: "varchar", length, charset: "ascii", collation: "ascii_bin" };
  }

  /** Free text of bounded length (media types, holders, reasons). */
  string(length: number, nullable = false, defaultValue?: string): ColumnSpec {
    return { type: "varchar", length, nullable, default: defaultValue };
  }

  /** Unbounded text such as manifest bytes (MEDIUMTEXT holds 16 MiB on MariaDB). */
  text(nullable = false): ColumnSpec {
    return { type: this.isSqlite ? "text" : "mediumtext", nullable };
  }

  /** A JSON document; `simple-json` stores text on SQLite, MariaDB has a native `json`. */
  json(nullable = true): ColumnSpec {
    return { type: this.isSqlite ? "simple-json" : "json", nullable };
  }

  /** A UTC timestamp with milliseconds. */
  time(nullable = false): ColumnSpec {
    return { type: "datetime", precision: this.isSqlite ? undefined : 3, nullable };
  }
}

/** The EntitySchema form of a spec. */
export function entityColumn(spec: ColumnSpec, name: string): EntitySchemaColumnOptions {
  return {
    name,
    type: spec.type as EntitySchemaColumnOptions["type"],
    length: spec.length,
    precision: spec.precision,
    nullable: spec.nullable ?? false,
    default: spec.default,
    charset: spec.charset,
    collation: spec.collation,
    primary: spec.primary,
    generated: spec.generated ? "increment" : undefined,
    transformer: spec.transformer,
  };
}

/** The migration (`Table`) form of a spec; `simple-json` is TypeORM's text-backed JSON. */
export function tableColumn(name: string, spec: ColumnSpec): TableColumnOptions {
  const defaultValue =
    spec.default === undefined
      ? undefined
      : typeof spec.default === "string"
        ? `'${spec.default}'`
        : typeof spec.default === "boolean"
          ? Number(spec.default)
          : spec.default;
  return {
    name,
    type: spec.type === "simple-json" ? "text" : spec.type,
    length: spec.length === undefined ? undefined : String(spec.length),
    precision: spec.precision,
    isNullable: spec.nullable ?? false,
    default: defaultValue,
    charset: spec.charset,
    collation: spec.collation,
    isPrimary: spec.primary,
    isGenerated: spec.generated,
    generationStrategy: spec.generated ? "increment" : undefined,
  };
}
