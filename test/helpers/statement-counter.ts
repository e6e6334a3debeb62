import type { Logger } from "typeorm";

/** A TypeORM logger that counts (and keeps) every SQL statement sent, for count assertions. */
export class StatementCounter implements Logger {
  statements: string[] = [];
  /** The parameters of each statement, in the same order. */
  parameters: unknown[][] = [];

  get count(): number {
    return this.statements.length;
  }

  /** Statements whose text matches `re` (e.g. /^\s*(INSERT|UPDATE|DELETE)/i for writes). */
  matching(re: RegExp): string[] {
    return this.statements.filter((s) => re.test(s));
  }

  /** The parameters of the statements whose text matches `re`. */
  parametersOf(re: RegExp): unknown[][] {
    return this.parameters.filter((_, i) => re.test(this.statements[i]!));
  }

  reset(): void {
    this.statements = [];
    this.parameters = [];
  }

  logQuery(query: string, parameters?: unknown[]): void {
    this.statements.push(query);
    this.parameters.push(parameters ?? []);
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
}
