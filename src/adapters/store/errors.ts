import type { SqlError } from "@effect/sql/SqlError"
import * as Schema from "effect/Schema"

/** Any failure of the store: the database, its migrations, or a request it cannot carry out. */
export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", {
  reason: Schema.Literal("Database", "Migration", "InvalidInput"),
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/** Maps an SQL failure to a `StoreError` that says what was being done. */
export const databaseError =
  (doing: string) =>
  (cause: SqlError): StoreError =>
    new StoreError({ reason: "Database", message: `${doing}: ${cause.message}`, cause })
