import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

/** Migration 4: leases (leases.ts): which process empties an account, runs a once-only job, is alive; with expiry in ms. */
export const leases = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    acquired_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
  )`
})
