import type { Logger } from "typeorm";

/** A TypeORM logger that counts (and keeps) every SQL statement sent, for count assertions. */
export class StatementCounter implements Logger {
  statements: string[] = [];

  get count(): number {
    return this.statements.length;
  }

  /** Statements whose text matches `re` (e.g. /^\s*(INSERT|UPDATE|DELETE)/i for writes). */
  matching(re: RegExp): string[] {
    return this.statements.filter((s) => re.test(s));
  }

  reset(): void {
    this.statements = [];
  }

  logQuery(query: string): void {
    this.statements.push(query);
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
}
