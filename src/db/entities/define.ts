import { EntitySchema, type EntitySchemaOptions, type EntitySchemaRelationOptions } from "typeorm";
import { entityColumn, type ColumnSpec } from "../column-types.js";

type Options<T> = Omit<EntitySchemaOptions<T>, "columns" | "name" | "tableName" | "relations"> & {
  /** Relations exist only to declare named foreign keys; rows are read by id columns. */
  relations?: Record<string, EntitySchemaRelationOptions>;
  /** property name → [database column name, spec] */
  columns: Record<string, [string, ColumnSpec]>;
};

/**
 * Builds an EntitySchema from column specs. Entities are built per dialect (see
 * column-types.ts), so each entity file exports a factory rather than a class.
 * Constraint and index names are always explicit so the schema diff stays empty.
 */
export function defineEntity<T>(name: string, tableName: string, options: Options<T>): EntitySchema<T> {
  const columns = Object.fromEntries(
    Object.entries(options.columns).map(([prop, [column, spec]]) => [prop, entityColumn(spec, column)]),
  );
  return new EntitySchema<T>({ ...options, name, tableName, columns } as EntitySchemaOptions<T>);
}

/** A many-to-one link with an explicitly named foreign key. */
export function manyToOne(target: string, column: string, constraint: string, onDelete: "CASCADE" | "NO ACTION") {
  return {
    type: "many-to-one" as const,
    target,
    joinColumn: { name: column, referencedColumnName: "id", foreignKeyConstraintName: constraint },
    onDelete,
    onUpdate: "NO ACTION" as const,
    createForeignKeyConstraints: true,
  };
}
