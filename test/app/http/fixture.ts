import { HttpServer } from "@effect/platform"
import { Effect, Layer } from "effect"
import * as Memory from "../../../src/adapters/store/memory.js"
import * as WebhookOutboxRepo from "../../../src/adapters/store/webhook-outbox.js"
import * as AlertLogRepo from "../../../src/app/alerts/alert-log.js"
import type { StoreError } from "../../../src/adapters/store/errors.js"
import { ledgerKeyOf, type MailApplied, Store, type StoreServices } from "../../../src/adapters/store/store.js"
import { classifyBytes } from "../../../src/app/classify.js"
import { type HttpConfig, parseToken, type ApiToken } from "../../../src/app/http/config.js"
import * as HttpServerLayer from "../../../src/app/http/server.js"
import { ProcessorStatus } from "../../../src/app/status.js"
import { arfReport, postfixDsn } from "../../support/mails.js"

export const adminSecret = "admin-secret-0123456789"
export const readSecret = "read-secret-0123456789"

export const tokens: ReadonlyArray<ApiToken> = [
  parseToken(`ops:${adminSecret}`, "admin", 0) as ApiToken,
  parseToken(`grafana:${readSecret}`, "read", 0) as ApiToken
]

/** The API on an ephemeral loopback port over a fresh in-memory store and status board. */
export const apiLayer = (
  options: {
    readonly tokens?: ReadonlyArray<ApiToken>
    readonly host?: string
    readonly store?: Layer.Layer<StoreServices, StoreError>
  } = {}
) => {
  const config: HttpConfig = {
    host: options.host ?? "127.0.0.1",
    port: 0,
    tokens: options.tokens ?? tokens,
    dashboard: true
  }
  return HttpServerLayer.layer(config).pipe(
    Layer.provideMerge(Layer.mergeAll(WebhookOutboxRepo.layer, AlertLogRepo.layer)),
    Layer.provideMerge(Layer.merge(options.store ?? Memory.layer(), ProcessorStatus.layer))
  )
}

/** The base URL of the running server. */
export const baseUrl = Effect.map(HttpServer.HttpServer, (server) => {
  const address = server.address
  if (address._tag !== "TcpAddress") throw new Error("expected a TCP address")
  return `http://127.0.0.1:${address.port}`
})

let uid = 0

/** Decodes a mail with the real decoder and applies it through the store, as the processor does. */
export const applyBytes = (
  bytes: Uint8Array,
  account = "bounces@sender.example",
  outcome?: "applied" | "unqualified"
) =>
  Effect.gen(function* () {
    const store = yield* Store
    uid += 1
    const report = classifyBytes(bytes)
    return yield* store.applyMail({
      key: ledgerKeyOf(account, `uid-${uid}`, bytes),
      outcome: outcome ?? (report.records.length > 0 ? "applied" : "not-a-bounce"),
      report,
      bytes
    })
  })

/** A Postfix DSN for one recipient with the given status and diagnostic. */
export const bounceFor = (address: string, status: string, diagnostic: string, messageId?: string) =>
  postfixDsn({
    recipients: [{ address, status, diagnostic }],
    original: {
      from: "news@sender.example",
      to: address,
      messageId: messageId ?? `<${address.replace("@", ".")}.${++uid}@sender.example>`
    }
  })

export const hardBounce = (address: string, messageId?: string) =>
  bounceFor(
    address,
    "5.1.1",
    `550 5.1.1 <${address}>: Recipient address rejected: User unknown in virtual mailbox table`,
    messageId
  )

export const softBounce = (address: string, messageId?: string) =>
  bounceFor(address, "4.2.2", `452 4.2.2 <${address}>: Mailbox full, quota exceeded`, messageId)

export const complaint = (address: string) => arfReport({ feedbackType: "abuse", rcptTo: address })

export type Applied = MailApplied

export interface Call {
  readonly status: number
  readonly json: any
  readonly text: string
  readonly headers: Headers
}

/** An HTTP call to the server under test (a real socket, Node's fetch). */
export const call = (
  base: string,
  method: string,
  path: string,
  options: { readonly token?: string | null; readonly body?: unknown; readonly rawBody?: string } = {}
) =>
  Effect.promise(async (): Promise<Call> => {
    const headers: Record<string, string> = {}
    const token = options.token === undefined ? adminSecret : options.token
    if (token !== null) headers.authorization = `Bearer ${token}`
    let body: string | undefined
    if (options.rawBody !== undefined) {
      body = options.rawBody
      headers["content-type"] = "application/json"
    } else if (options.body !== undefined) {
      body = JSON.stringify(options.body)
      headers["content-type"] = "application/json"
    }
    const response = await fetch(base + path, { method, headers, ...(body === undefined ? {} : { body }) })
    const text = await response.text()
    let json: any = undefined
    try {
      json = JSON.parse(text)
    } catch {
      json = undefined
    }
    return { status: response.status, json, text, headers: response.headers }
  })
