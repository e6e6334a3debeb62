import { TableColumn, type MigrationInterface, type QueryRunner } from "typeorm";
import { ColumnTypes, tableColumn } from "../column-types.js";
import { dialectOf } from "./1763900000000-initial-schema.js";

/**
 * Namespaces become registries of their own (DESIGN §8.1): `storage_url` is the registry root a
 * namespace indexes ('' = `namespaces/<name>/` under EPOCH_STORAGE_URL, and for `default` the
 * root itself), `updated_at` moves with its labels. Existing rows keep everything; `default`
 * gets '' and no update time (create_time stands in for it).
 */
export class NamespaceRoots1766200000000 implements MigrationInterface {
  name = "NamespaceRoots1766200000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    const t = new ColumnTypes(dialectOf(queryRunner));
    await queryRunner.addColumn("namespaces", new TableColumn(tableColumn("storage_url", t.string(1024, false, ""))));
    await queryRunner.addColumn("namespaces", new TableColumn(tableColumn("updated_at", t.time(true))));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumn("namespaces", "updated_at");
    await queryRunner.dropColumn("namespaces", "storage_url");
  }
}
