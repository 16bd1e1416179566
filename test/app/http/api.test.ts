import { assert, describe, it } from "@effect/vitest"
import { HttpServer } from "@effect/platform"
import { Effect } from "effect"
import { ProcessorStatus, initialAccountStatus } from "../../../src/app/status.js"
import { AlertLog } from "../../../src/app/alerts/alert-log.js"
import { WebhookOutbox } from "../../../src/adapters/store/webhook-outbox.js"
import { countReport } from "../../../src/app/metrics.js"
import { classifyBytes } from "../../../src/app/classify.js"
import {
  adminSecret,
  apiLayer,
  applyBytes,
  baseUrl,
  bounceFor,
  call,
  complaint,
  hardBounce,
  readSecret,
  softBounce
} from "./fixture.js"

const noStack = (text: string) => assert.notMatch(text, /\bat .+\.(ts|js):\d+/)

describe("HTTP API", () => {
  it.live("health and ready answer without a token; ready lists the accounts' last poll", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const status = yield* ProcessorStatus
      yield* status.register({
        ...initialAccountStatus("bounces@sender.example", "pop3"),
        state: "failing",
        lastPollAt: Date.UTC(2026, 0, 1, 12),
        lastError: "connection refused",
        consecutiveFailures: 3,
        mailsWaiting: 12
      })
      const health = yield* call(base, "GET", "/health", { token: null })
      assert.strictEqual(health.status, 200)
      assert.strictEqual(health.json.status, "ok")
      const ready = yield* call(base, "GET", "/ready", { token: null })
      assert.strictEqual(ready.status, 200)
      assert.isTrue(ready.json.ready)
      assert.isTrue(ready.json.store.reachable)
      assert.deepStrictEqual(
        ready.json.accounts.map((a: any) => [a.account, a.state, a.lastPollAt, a.lastError, a.mailsWaiting]),
        [["bounces@sender.example", "failing", "2026-01-01T12:00:00.000Z", "connection refused", 12]]
      )
    }).pipe(Effect.provide(apiLayer()))
  )

  it.live("GET /v1/addresses/{address}: status, counters, history and recent bounces of a decoded DSN", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      yield* applyBytes(hardBounce("Gone@Receiver.example"))
      const answer = yield* call(base, "GET", "/v1/addresses/gone%40receiver.example", { token: readSecret })
      assert.strictEqual(answer.status, 200)
      const body = answer.json
      assert.strictEqual(body.status, "quarantined")
      assert.isFalse(body.sendable)
      assert.strictEqual(body.quarantine.reason, "userunknown")
      assert.strictEqual(body.quarantine.cause, "hard-bounce")
      assert.strictEqual(body.errorCount, 1)
      assert.deepStrictEqual(
        body.history.map((h: any) => [h.from, h.to, h.cause, h.who]),
        [["valid", "quarantined", "hard-bounce", "rebound"]]
      )
      assert.strictEqual(body.recentBounces.length, 1)
      assert.strictEqual(body.recentBounces[0].reason, "userunknown")
      assert.strictEqual(body.recentBounces[0].status, "5.1.1")
      assert.match(body.recentBounces[0].diagnostic, /User unknown/)

      const unseen = yield* call(base, "GET", "/v1/addresses/new@receiver.example", { token: readSecret })
      assert.strictEqual(unseen.json.status, "valid")
      assert.isTrue(unseen.json.sendable)
      assert.deepStrictEqual(unseen.json.history, [])

      const invalid = yield* call(base, "GET", "/v1/addresses/not-an-address", { token: readSecret })
      assert.strictEqual(invalid.status, 400)
      assert.strictEqual(invalid.json.status, 400)
      assert.match(invalid.json.message, /no "@"/)
    }).pipe(Effect.provide(apiLayer()))
  )

  it.live("POST /v1/addresses/check: which to suppress and why, invalid entries apart", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      yield* applyBytes(hardBounce("hard@receiver.example"))
      yield* applyBytes(softBounce("soft@receiver.example"))
      yield* applyBytes(complaint("angry@receiver.example"))
      const answer = yield* call(base, "POST", "/v1/addresses/check", {
        token: readSecret,
        body: {
          addresses: [
            "hard@receiver.example",
            "HARD@Receiver.Example",
            "soft@receiver.example",
            "angry@receiver.example",
            "fine@receiver.example",
            "nonsense"
          ]
        }
      })
      assert.strictEqual(answer.status, 200)
      assert.strictEqual(answer.json.checked, 6)
      const suppress = answer.json.suppress.map((s: any) => [s.address, s.status, s.reason]).sort()
      assert.deepStrictEqual(suppress, [
        ["HARD@Receiver.Example", "quarantined", "userunknown"],
        ["angry@receiver.example", "denylisted", "denylisted"],
        ["hard@receiver.example", "quarantined", "userunknown"]
      ])
      assert.deepStrictEqual(
        answer.json.invalid.map((i: any) => i.address),
        ["nonsense"]
      )

      const tooMany = yield* call(base, "POST", "/v1/addresses/check", {
        token: readSecret,
        body: { addresses: Array.from({ length: 10_001 }, (_, i) => `u${i}@receiver.example`) }
      })
      assert.strictEqual(tooMany.status, 400)
      assert.match(tooMany.json.message, /at most 10000/)

      const notAList = yield* call(base, "POST", "/v1/addresses/check", { token: readSecret, body: { addresses: "x" } })
      assert.strictEqual(notAList.status, 400)
      const broken = yield* call(base, "POST", "/v1/addresses/check", { token: readSecret, rawBody: "{nope" })
      assert.strictEqual(broken.status, 400)
      assert.strictEqual(broken.json.status, 400)
      noStack(broken.text)
    }).pipe(Effect.provide(apiLayer()))
  )

  it.live("release, allow, deny and confirm need the admin scope and record who and why", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      yield* applyBytes(hardBounce("held@receiver.example"))
      const path = "/v1/addresses/held@receiver.example/release"

      const anonymous = yield* call(base, "POST", path, { token: null, body: {} })
      assert.strictEqual(anonymous.status, 401)
      const wrong = yield* call(base, "POST", path, { token: "not-a-configured-token", body: {} })
      assert.strictEqual(wrong.status, 401)
      assert.match(wrong.json.message, /not valid/)
      const readOnly = yield* call(base, "POST", path, { token: readSecret, body: {} })
      assert.strictEqual(readOnly.status, 403)
      assert.match(readOnly.json.message, /read-only/)

      const released = yield* call(base, "POST", path, { body: { why: "INC-42: mailbox restored" } })
      assert.strictEqual(released.status, 200)
      assert.isTrue(released.json.changed)
      assert.strictEqual(released.json.address.status, "valid")
      assert.deepStrictEqual(
        released.json.transitions.map((t: any) => [t.from, t.to, t.cause, t.who, t.why]),
        [["quarantined", "valid", "release", "ops", "INC-42: mailbox restored"]]
      )
      const again = yield* call(base, "POST", path, { body: {} })
      assert.isFalse(again.json.changed)

      const denied = yield* call(base, "POST", "/v1/addresses/held@receiver.example/deny", { body: {} })
      assert.strictEqual(denied.json.address.status, "denylisted")
      assert.strictEqual(denied.json.transitions[0].why, "deny from the API")
      const allowed = yield* call(base, "POST", "/v1/addresses/held@receiver.example/allow", { body: {} })
      assert.strictEqual(allowed.json.address.status, "allowlisted")
      assert.isTrue(allowed.json.address.sendable)
      const confirm = yield* call(base, "POST", "/v1/addresses/held@receiver.example/confirm", { body: {} })
      assert.strictEqual(confirm.status, 200)
      assert.isFalse(confirm.json.changed)

      const invalid = yield* call(base, "POST", "/v1/addresses/nobody/deny", { body: {} })
      assert.strictEqual(invalid.status, 400)
      const tooLong = yield* call(base, "POST", path, { body: { why: "x".repeat(501) } })
      assert.strictEqual(tooLong.status, 400)

      const detail = yield* call(base, "GET", "/v1/addresses/held@receiver.example")
      assert.deepStrictEqual(
        detail.json.history.map((h: any) => [h.cause, h.who]),
        [
          ["hard-bounce", "rebound"],
          ["release", "ops"],
          ["deny", "ops"],
          ["allow", "ops"]
        ]
      )
    }).pipe(Effect.provide(apiLayer()))
  )

  it.live("bulk release by filter, and never without one", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      for (const user of ["a", "b", "c"]) yield* applyBytes(hardBounce(`${user}@outage.example`))
      yield* applyBytes(hardBounce("x@other.example"))
      const empty = yield* call(base, "POST", "/v1/addresses/release", { body: { why: "oops" } })
      assert.strictEqual(empty.status, 400)
      assert.match(empty.json.message, /at least one filter/)
      const readOnly = yield* call(base, "POST", "/v1/addresses/release", {
        token: readSecret,
        body: { domain: "outage.example" }
      })
      assert.strictEqual(readOnly.status, 403)
      const badReason = yield* call(base, "POST", "/v1/addresses/release", { body: { reason: "bogus" } })
      assert.strictEqual(badReason.status, 400)
      const released = yield* call(base, "POST", "/v1/addresses/release", {
        body: { domain: "outage.example", reason: "userunknown", why: "provider outage" }
      })
      assert.strictEqual(released.status, 200)
      assert.strictEqual(released.json.released, 3)
      const other = yield* call(base, "GET", "/v1/addresses/x@other.example")
      assert.strictEqual(other.json.status, "quarantined")
      const a = yield* call(base, "GET", "/v1/addresses/a@outage.example")
      assert.strictEqual(a.json.status, "valid")
      assert.strictEqual(a.json.history.at(-1).why, "provider outage")
    }).pipe(Effect.provide(apiLayer()))
  )

  it.live("POST /v1/messages registers sent messages that bounces then correlate with", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const registered = yield* call(base, "POST", "/v1/messages", {
        body: {
          messages: [
            { messageId: "<m1@sender.example>", deliveryId: "D-1", recipient: "one@receiver.example" },
            {
              messageId: "<m2@sender.example>",
              deliveryId: "D-1",
              recipient: "two@receiver.example",
              sentAt: "2026-01-01T12:00:00Z"
            }
          ]
        }
      })
      assert.strictEqual(registered.status, 200)
      assert.strictEqual(registered.json.registered, 2)
      yield* applyBytes(hardBounce("one@receiver.example", "<m1@sender.example>"))
      const bounces = yield* call(base, "GET", "/v1/bounces?deliveryId=D-1")
      assert.strictEqual(bounces.json.items.length, 1)
      assert.strictEqual(bounces.json.items[0].correlation, "registered")
      assert.strictEqual(bounces.json.items[0].messageId, "m1@sender.example")

      const bad = yield* call(base, "POST", "/v1/messages", {
        body: {
          messages: [
            { messageId: "<m3@sender.example>", deliveryId: "D-2", recipient: "three@receiver.example" },
            { messageId: "<m4@sender.example>", deliveryId: "D-2", recipient: "broken" }
          ]
        }
      })
      assert.strictEqual(bad.status, 400)
      assert.match(bad.json.message, /#1: "broken" has no "@"/)
      const deliveries = yield* call(base, "GET", "/v1/reports/deliveries")
      assert.deepStrictEqual(
        deliveries.json.rows.map((r: any) => r.deliveryId),
        ["D-1"]
      )
      const readOnly = yield* call(base, "POST", "/v1/messages", {
        token: readSecret,
        body: { messages: [{ messageId: "<m5@x>", deliveryId: "D", recipient: "a@b.example" }] }
      })
      assert.strictEqual(readOnly.status, 403)
      const badTime = yield* call(base, "POST", "/v1/messages", {
        body: { messages: [{ messageId: "<m6@x>", deliveryId: "D", recipient: "a@b.example", sentAt: "yesterday" }] }
      })
      assert.strictEqual(badTime.status, 400)
      assert.match(badTime.json.message, /not an ISO 8601 time/)
    }).pipe(Effect.provide(apiLayer()))
  )

  it.live("POST /v1/deliveries/success resets the error counter once per message", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      yield* call(base, "POST", "/v1/messages", {
        body: {
          messages: [{ messageId: "<s1@sender.example>", deliveryId: "D-9", recipient: "full@receiver.example" }]
        }
      })
      yield* applyBytes(softBounce("full@receiver.example"))
      const before = yield* call(base, "GET", "/v1/addresses/full@receiver.example")
      assert.strictEqual(before.json.status, "with-errors")
      const body = { deliveries: [{ messageId: "<s1@sender.example>", recipient: "full@receiver.example" }] }
      const delivered = yield* call(base, "POST", "/v1/deliveries/success", { body })
      assert.strictEqual(delivered.status, 200)
      assert.deepStrictEqual(delivered.json, { applied: 1, duplicates: 0 })
      const after = yield* call(base, "GET", "/v1/addresses/full@receiver.example")
      assert.strictEqual(after.json.status, "valid")
      assert.strictEqual(after.json.history.at(-1).cause, "delivered")
      const twice = yield* call(base, "POST", "/v1/deliveries/success", { body })
      assert.deepStrictEqual(twice.json, { applied: 0, duplicates: 1 })
      const invalid = yield* call(base, "POST", "/v1/deliveries/success", {
        body: { deliveries: [{ messageId: "<s2@x>", recipient: "@nowhere" }] }
      })
      assert.strictEqual(invalid.status, 400)
      const none = yield* call(base, "POST", "/v1/deliveries/success", { body: { deliveries: [] } })
      assert.strictEqual(none.status, 400)
    }).pipe(Effect.provide(apiLayer()))
  )

  it.live("GET /v1/bounces filters and pages with a cursor", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      for (let i = 0; i < 5; i++) yield* applyBytes(hardBounce(`h${i}@paging.example`))
      for (let i = 0; i < 2; i++) yield* applyBytes(softBounce(`s${i}@paging.example`))
      yield* applyBytes(hardBounce("z@elsewhere.example"))

      const seen: Array<string> = []
      let cursor: string | null = null
      let pages = 0
      do {
        const page: any = yield* call(
          base,
          "GET",
          `/v1/bounces?domain=paging.example&limit=3${cursor === null ? "" : `&cursor=${cursor}`}`,
          { token: readSecret }
        )
        assert.strictEqual(page.status, 200)
        seen.push(...page.json.items.map((item: any) => item.address))
        cursor = page.json.nextCursor
        pages++
      } while (cursor !== null && pages < 10)
      assert.strictEqual(pages, 3)
      assert.deepStrictEqual(
        seen,
        ["s1", "s0", "h4", "h3", "h2", "h1", "h0"].map((u) => `${u}@paging.example`)
      )

      const soft = yield* call(base, "GET", "/v1/bounces?type=soft&reason=mailboxfull")
      assert.deepStrictEqual(soft.json.items.map((i: any) => i.address).sort(), [
        "s0@paging.example",
        "s1@paging.example"
      ])
      const one = yield* call(base, "GET", "/v1/bounces?address=Z@Elsewhere.Example")
      assert.strictEqual(one.json.items.length, 1)
      const future = yield* call(base, "GET", "/v1/bounces?from=2999-01-01T00:00:00Z")
      assert.deepStrictEqual(future.json.items, [])

      for (const bad of ["cursor=xyz", "limit=0", "limit=5000", "type=awful", "from=someday", "address=nope"]) {
        const answer = yield* call(base, "GET", `/v1/bounces?${bad}`)
        assert.strictEqual(answer.status, 400, bad)
        assert.strictEqual(answer.json.status, 400)
        assert.isString(answer.json.message)
      }
    }).pipe(Effect.provide(apiLayer()))
  )

  it.live("reports: reasons, domains with rates, deliveries, timeline, and new quarantines", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const messages = Array.from({ length: 10 }, (_, i) => ({
        messageId: `<r${i}@sender.example>`,
        deliveryId: "CAMPAIGN-7",
        recipient: `r${i}@big.example`
      }))
      yield* call(base, "POST", "/v1/messages", { body: { messages } })
      yield* applyBytes(hardBounce("r0@big.example", "<r0@sender.example>"))
      yield* applyBytes(hardBounce("r1@big.example", "<r1@sender.example>"))
      yield* applyBytes(softBounce("r2@big.example", "<r2@sender.example>"))
      yield* applyBytes(
        bounceFor("x@small.example", "5.7.1", "550 5.7.1 Client host [192.0.2.1] blocked using zen.spamhaus.org")
      )

      const reasons = yield* call(base, "GET", "/v1/reports/reasons", { token: readSecret })
      assert.strictEqual(reasons.status, 200)
      assert.deepStrictEqual(
        reasons.json.rows.map((r: any) => [r.type, r.reason, r.count]),
        [
          ["hard", "userunknown", 2],
          ["soft", "blocked", 1],
          ["soft", "mailboxfull", 1]
        ]
      )
      const domains = yield* call(base, "GET", "/v1/reports/domains")
      const big = domains.json.rows.find((r: any) => r.domain === "big.example")
      assert.deepInclude(big, { sent: 10, hard: 2, soft: 1, hardRate: 0.2, softRate: 0.1 })
      const small = domains.json.rows.find((r: any) => r.domain === "small.example")
      assert.strictEqual(small.ours, 1)
      assert.isNull(small.hardRate)

      const deliveries = yield* call(base, "GET", "/v1/reports/deliveries")
      assert.deepInclude(deliveries.json.rows[0], { deliveryId: "CAMPAIGN-7", messages: 10, hard: 2, soft: 1 })
      assert.closeTo(deliveries.json.rows[0].hardRate, 0.2, 1e-9)

      const timeline = yield* call(base, "GET", "/v1/reports/timeline?bucket=hour")
      assert.strictEqual(timeline.json.rows.length >= 48, true)
      const totals = timeline.json.rows.reduce(
        (sum: any, row: any) => ({ hard: sum.hard + row.hard, soft: sum.soft + row.soft }),
        { hard: 0, soft: 0 }
      )
      assert.deepStrictEqual(totals, { hard: 2, soft: 2 })
      const tooFine = yield* call(base, "GET", "/v1/reports/timeline?from=2000-01-01T00:00:00Z&bucket=hour")
      assert.strictEqual(tooFine.status, 400)
      const badBucket = yield* call(base, "GET", "/v1/reports/timeline?bucket=week")
      assert.strictEqual(badBucket.status, 400)

      const quarantines = yield* call(base, "GET", "/v1/quarantines")
      assert.deepStrictEqual(quarantines.json.rows.map((q: any) => q.address).sort(), [
        "r0@big.example",
        "r1@big.example"
      ])
      const noToken = yield* call(base, "GET", "/v1/reports/reasons", { token: null })
      assert.strictEqual(noToken.status, 401)
    }).pipe(Effect.provide(apiLayer()))
  )

  it.live("qualification log: list texts to review, review one with the admin scope", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      yield* applyBytes(
        bounceFor("odd@receiver.example", "5.0.0", "550 the frobnicator declined this message"),
        "bounces@sender.example",
        "unqualified"
      )
      const list = yield* call(base, "GET", "/v1/qualification?review=to-qualify", { token: readSecret })
      assert.strictEqual(list.status, 200)
      const entry = list.json.rows.find((r: any) => /frobnicator/.test(r.text))
      assert.isDefined(entry)
      assert.strictEqual(entry.review, "to-qualify")
      const path = `/v1/qualification/${entry.textKey}/review`
      const readOnly = yield* call(base, "POST", path, { token: readSecret, body: { review: "keep" } })
      assert.strictEqual(readOnly.status, 403)
      const reviewed = yield* call(base, "POST", path, { body: { review: "ignore", note: "test noise" } })
      assert.strictEqual(reviewed.status, 200)
      assert.deepInclude(reviewed.json, { review: "ignore", reviewedBy: "ops", reviewNote: "test noise" })
      const after = yield* call(base, "GET", "/v1/qualification?review=to-qualify")
      assert.isUndefined(after.json.rows.find((r: any) => r.textKey === entry.textKey))
      const unknown = yield* call(base, "POST", `/v1/qualification/${"0".repeat(64)}/review`, {
        body: { review: "keep" }
      })
      assert.strictEqual(unknown.status, 404)
      const malformed = yield* call(base, "POST", "/v1/qualification/abc/review", { body: { review: "keep" } })
      assert.strictEqual(malformed.status, 400)
      const badReview = yield* call(base, "POST", path, { body: { review: "maybe" } })
      assert.strictEqual(badReview.status, 400)
    }).pipe(Effect.provide(apiLayer()))
  )

  it.live("alerts, accounts, webhook outbox and session", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const alerts = yield* AlertLog
      const now = Date.now()
      yield* alerts.open(
        {
          key: "hard-rate:D-1",
          kind: "delivery-hard-rate",
          subject: "D-1",
          severity: "critical",
          message: "hard bounce rate 5.0% over 2.0%",
          details: { rate: 0.05 }
        },
        now
      )
      yield* alerts.open(
        { key: "old", kind: "poll-failing", subject: "x", severity: "warning", message: "old", details: {} },
        now
      )
      yield* alerts.resolve("old", now + 1)
      const open = yield* call(base, "GET", "/v1/alerts", { token: readSecret })
      assert.deepStrictEqual(
        open.json.rows.map((a: any) => [a.key, a.severity, a.details.rate]),
        [["hard-rate:D-1", "critical", 0.05]]
      )
      const all = yield* call(base, "GET", "/v1/alerts?state=all")
      assert.strictEqual(all.json.rows.length, 2)

      const status = yield* ProcessorStatus
      yield* status.register({ ...initialAccountStatus("maildir-1", "maildir"), fetched: 7, applied: 6, failed: 1 })
      const accounts = yield* call(base, "GET", "/v1/accounts", { token: readSecret })
      assert.deepInclude(accounts.json.rows[0], { account: "maildir-1", fetched: 7, applied: 6, failed: 1 })

      const outbox = yield* WebhookOutbox
      yield* outbox.enqueue(
        [{ eventId: "e1", eventType: "address.quarantined", payload: "{}", createdAt: now }],
        ["http://127.0.0.1:9/hook"]
      )
      const claimed = yield* outbox.claimDue(now, 1000, 10)
      yield* outbox.markFailed(claimed[0]!.id, { status: 500, error: "HTTP 500", retryAt: null })
      const hooks = yield* call(base, "GET", "/v1/webhooks", { token: readSecret })
      assert.deepStrictEqual(hooks.json.counts, { pending: 0, delivered: 0, failed: 1 })
      assert.strictEqual(hooks.json.rows[0].lastError, "HTTP 500")
      const retryRead = yield* call(base, "POST", "/v1/webhooks/retry", { token: readSecret })
      assert.strictEqual(retryRead.status, 403)
      const retry = yield* call(base, "POST", "/v1/webhooks/retry")
      assert.deepStrictEqual(retry.json, { requeued: 1 })

      const session = yield* call(base, "GET", "/v1/session", { token: readSecret })
      assert.deepStrictEqual(session.json, { name: "grafana", scope: "read", open: false })
      const adminSession = yield* call(base, "GET", "/v1/session", { token: adminSecret })
      assert.deepStrictEqual(adminSession.json, { name: "ops", scope: "admin", open: false })
    }).pipe(Effect.provide(apiLayer()))
  )

  it.live("GET /metrics: Prometheus text with accounts, bounces, addresses, outbox; needs a token", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const status = yield* ProcessorStatus
      yield* status.register({
        ...initialAccountStatus("pop-1", "pop3"),
        fetched: 5,
        applied: 4,
        failed: 1,
        mailsWaiting: 250,
        consecutiveFailures: 2
      })
      const bytes = hardBounce("m@receiver.example")
      yield* applyBytes(bytes)
      yield* countReport(classifyBytes(bytes))
      const anonymous = yield* call(base, "GET", "/metrics", { token: null })
      assert.strictEqual(anonymous.status, 401)
      const metrics = yield* call(base, "GET", "/metrics", { token: readSecret })
      assert.strictEqual(metrics.status, 200)
      assert.match(metrics.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/)
      const text = metrics.text
      assert.include(text, "# TYPE rebound_mails_fetched_total counter")
      assert.include(text, 'rebound_mails_fetched_total{account="pop-1"} 5')
      assert.include(text, 'rebound_mails_failed_total{account="pop-1"} 1')
      assert.include(text, 'rebound_mailbox_backlog{account="pop-1"} 250')
      assert.include(text, 'rebound_addresses{status="quarantined"} 1')
      assert.match(text, /rebound_bounces_total\{kind="bounce",type="hard",reason="userunknown"\} [1-9]/)
      assert.include(text, 'rebound_webhook_outbox{state="pending"} 0')
      assert.include(text, "rebound_alerts_open 0")
      for (const line of text.trim().split("\n"))
        assert.match(line, /^(# (HELP|TYPE) [a-z_:]+ .+|[a-z_:][a-z0-9_:]*(\{.*\})? -?[0-9.e+-]+|.+ \+Inf)$/i, line)
    }).pipe(Effect.provide(apiLayer()))
  )

  it.live("OpenAPI document, unknown routes and the dashboard's files", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const openapi = yield* call(base, "GET", "/openapi.json", { token: null })
      assert.strictEqual(openapi.status, 200)
      assert.strictEqual(openapi.json.openapi, "3.1.0")
      for (const path of [
        "/health",
        "/ready",
        "/metrics",
        "/v1/addresses/{address}",
        "/v1/addresses/check",
        "/v1/addresses/{address}/release",
        "/v1/addresses/release",
        "/v1/messages",
        "/v1/deliveries/success",
        "/v1/bounces",
        "/v1/reports/reasons",
        "/v1/reports/domains",
        "/v1/reports/deliveries",
        "/v1/qualification"
      ])
        assert.property(openapi.json.paths, path)
      assert.strictEqual(openapi.json.components.securitySchemes.bearer.scheme, "bearer")

      const missing = yield* call(base, "GET", "/v1/nothing-here")
      assert.strictEqual(missing.status, 404)
      assert.deepInclude(missing.json, { status: 404, message: "no route GET /v1/nothing-here" })
      const wrongMethod = yield* call(base, "DELETE", "/health")
      assert.strictEqual(wrongMethod.status, 404)

      const page = yield* call(base, "GET", "/", { token: null })
      assert.strictEqual(page.status, 200)
      assert.match(page.headers.get("content-type") ?? "", /text\/html/)
      assert.match(page.headers.get("content-security-policy") ?? "", /default-src 'self'/)
      const chart = yield* call(base, "GET", "/assets/chart.umd.min.js", { token: null })
      assert.strictEqual(chart.status, 200)
      assert.include(chart.text, "Chart")
      const escape = yield* call(base, "GET", "/assets/..%2Fpackage.json", { token: null })
      assert.strictEqual(escape.status, 404)
    }).pipe(Effect.provide(apiLayer()))
  )

  it.live("with no token configured: loopback only, every local caller is admin", () =>
    Effect.gen(function* () {
      const server = yield* HttpServer.HttpServer
      assert.strictEqual(server.address._tag === "TcpAddress" ? server.address.hostname : "", "127.0.0.1")
      const base = yield* baseUrl
      const session = yield* call(base, "GET", "/v1/session", { token: null })
      assert.deepStrictEqual(session.json, { name: "local", scope: "admin", open: true })
      yield* applyBytes(hardBounce("open@receiver.example"))
      const released = yield* call(base, "POST", "/v1/addresses/open@receiver.example/release", {
        token: null,
        body: {}
      })
      assert.strictEqual(released.json.transitions[0].who, "local")
    }).pipe(Effect.provide(apiLayer({ tokens: [], host: "0.0.0.0" })))
  )
})
