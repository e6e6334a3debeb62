import { TableColumn, type MigrationInterface, type QueryRunner } from "typeorm";
import { ColumnTypes, tableColumn } from "../column-types.js";
import { dialectOf } from "./1763900000000-initial-schema.js";

/**
 * `repositories.tag_set_sha256`: the SHA-256 of the repository's indexed tag names (sorted, one
 * per line), kept with its aggregates. The sync plan compares it with the catalog's tag set, so
 * an unchanged repository is skipped without reading its tag rows: a changed catalog costs reads
 * of the repositories that changed, not of the whole index. NULL (adopted, or never synced) =
 * read the rows and compare them.
 */
export class RepositoryTagSetHash1764000000000 implements MigrationInterface {
  name = "RepositoryTagSetHash1764000000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    const t = new ColumnTypes(dialectOf(queryRunner));
    await queryRunner.addColumn("repositories", new TableColumn(tableColumn("tag_set_sha256", t.string(64, true))));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumn("repositories", "tag_set_sha256");
  }
}
