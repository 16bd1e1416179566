import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { NormalizedAddress } from "../../domain/address.js"
import { databaseError, type StoreError } from "./errors.js"
import type { SentMessage } from "./model.js"
import { chunksFor, lookupChunks, num } from "./values.js"

/** Sent messages that senders registered: correlation by Message-ID, and the "same recipient, recently" fallback. */
export class SentMessages extends Context.Tag("rebound/Store/SentMessages")<
  SentMessages,
  {
    /** Registers messages; registering a Message-ID again replaces what was known about it. */
    readonly register: (messages: ReadonlyArray<SentMessage>) => Effect.Effect<void, StoreError>
    readonly byMessageIds: (
      messageIds: ReadonlyArray<string>
    ) => Effect.Effect<ReadonlyMap<string, SentMessage>, StoreError>
    /** For each recipient, the latest message sent to it at or after `since`. */
    readonly latestForRecipients: (
      recipients: ReadonlyArray<NormalizedAddress>,
      since: number
    ) => Effect.Effect<ReadonlyMap<NormalizedAddress, SentMessage>, StoreError>
    /** Forgets messages sent before `before`; returns how many. */
    readonly purge: (before: number) => Effect.Effect<number, StoreError>
  }
>() {}

const fromRow = (row: any): SentMessage => ({
  messageId: row.message_id,
  deliveryId: row.delivery_id,
  recipient: row.recipient,
  domain: row.domain,
  sentAt: num(row.sent_at)
})

/** Message-IDs are compared without angle brackets and surrounding space (RFC 5322 section 3.6.4 msg-id). */
export const normalizeMessageId = (messageId: string): string =>
  messageId.trim().replace(/^<\s*/, "").replace(/\s*>$/, "")

export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient

  const register = Effect.fn("SentMessages.register")(
    function* (messages: ReadonlyArray<SentMessage>) {
      const unique = [...new Map(messages.map((m) => [m.messageId, m])).values()].sort((a, b) =>
        a.messageId < b.messageId ? -1 : a.messageId > b.messageId ? 1 : 0
      )
      for (const chunk of chunksFor(unique, 5)) {
        yield* sql`INSERT INTO sent_messages ${sql.insert(
          chunk.map((m) => ({
            message_id: m.messageId,
            delivery_id: m.deliveryId,
            recipient: m.recipient,
            domain: m.domain,
            sent_at: m.sentAt
          }))
        )} ON CONFLICT (message_id) DO UPDATE SET delivery_id = excluded.delivery_id, recipient = excluded.recipient,
        domain = excluded.domain, sent_at = excluded.sent_at`
      }
    },
    Effect.mapError(databaseError("registering sent messages"))
  )

  const byMessageIds = Effect.fn("SentMessages.byMessageIds")(
    function* (messageIds: ReadonlyArray<string>) {
      const found = new Map<string, SentMessage>()
      const unique = [...new Set(messageIds)]
      for (const chunk of lookupChunks(unique)) {
        const rows = yield* sql`SELECT * FROM sent_messages WHERE message_id IN ${sql.in(chunk)}`
        for (const row of rows) found.set(row.message_id as string, fromRow(row))
      }
      return found
    },
    Effect.mapError(databaseError("looking up sent messages"))
  )

  const latestForRecipients = Effect.fn("SentMessages.latestForRecipients")(
    function* (recipients: ReadonlyArray<NormalizedAddress>, since: number) {
      const found = new Map<NormalizedAddress, SentMessage>()
      const unique = [...new Set(recipients)]
      for (const chunk of lookupChunks(unique)) {
        const rows = yield* sql`SELECT * FROM sent_messages WHERE recipient IN ${sql.in(
          chunk
        )} AND sent_at >= ${since} ORDER BY sent_at, message_id`
        for (const row of rows) found.set(row.recipient as NormalizedAddress, fromRow(row))
      }
      return found
    },
    Effect.mapError(databaseError("looking up recent sent messages"))
  )

  const purge = Effect.fn("SentMessages.purge")(
    function* (before: number) {
      const rows = yield* sql`DELETE FROM sent_messages WHERE sent_at < ${before} RETURNING message_id`
      return rows.length
    },
    Effect.mapError(databaseError("purging sent messages"))
  )

  return SentMessages.of({ register, byMessageIds, latestForRecipients, purge })
})

export const layer = Layer.effect(SentMessages, make)
