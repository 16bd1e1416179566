import { assert, describe, it } from "@effect/vitest"
import { HttpServer } from "@effect/platform"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { chromium, type BrowserContext } from "playwright-core"
import { skipWithout } from "../support/services.js"
import { adminToken, demoLayer, seed } from "./demo.js"

const executablePath = "/usr/bin/chromium"
const skip = skipWithout(
  fs.existsSync(executablePath),
  "Debian's chromium",
  "apt-get install chromium, or bash .ci/services/chromium.sh"
)

const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync"
]

/** Chromium with a fresh profile in a temporary folder, closed (and the folder removed) with the scope. */
const browser = Effect.acquireRelease(
  Effect.promise(async () => {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), "rebound-chromium-"))
    const context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: chromiumArgs,
      viewport: { width: 1440, height: 900 },
      deviceScaleFactor: 1,
      locale: "en-GB",
      timezoneId: "UTC"
    })
    return { context, profile }
  }),
  ({ context, profile }: { context: BrowserContext; profile: string }) =>
    Effect.promise(async () => {
      await context.close()
      fs.rmSync(profile, { recursive: true, force: true })
    })
)

const baseUrl = Effect.map(HttpServer.HttpServer, (server) =>
  server.address._tag === "TcpAddress" ? `http://127.0.0.1:${server.address.port}` : ""
)

const apiGet = (base: string, route: string) =>
  Effect.promise(() =>
    fetch(base + route, { headers: { authorization: `Bearer ${adminToken}` } }).then((r) => r.json() as Promise<any>)
  )

describe.skipIf(skip)("dashboard in Debian's chromium", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rebound-dashboard-"))

  it.live(
    "shows the processor's data in the chart, finds a quarantined address and releases it",
    () =>
      Effect.gen(function* () {
        yield* seed
        const base = yield* baseUrl
        const { context } = yield* browser
        const page = context.pages()[0] ?? (yield* Effect.promise(() => context.newPage()))
        const problems: Array<string> = []
        page.on("pageerror", (error) => problems.push(error.message))
        page.on("console", (message) => {
          if (message.type() === "error" && !/401/.test(message.text())) problems.push(message.text())
        })

        // the API has tokens: the dashboard asks for one
        yield* Effect.promise(() => page.goto(base + "/"))
        yield* Effect.promise(() => page.waitForSelector("#token-dialog[open]"))
        yield* Effect.promise(() => page.fill("#token-input", adminToken))
        yield* Effect.promise(() => page.click("#token-form button[type=submit]"))
        yield* Effect.promise(() => page.waitForSelector("main[data-ready=overview] #timeline-chart"))
        assert.strictEqual(yield* Effect.promise(() => page.textContent("#session-name")), "ops · admin")

        // the chart shows what the API reports: the same hard and soft totals
        const charted = yield* Effect.promise(() =>
          page.evaluate(() => {
            const chart = (globalThis as any).Chart.getChart("timeline-chart")
            return Object.fromEntries(
              chart.data.datasets.map((set: any) => [set.label, set.data.reduce((a: number, b: number) => a + b, 0)])
            )
          })
        )
        const from = new Date(Date.now() - 7 * 86_400_000).toISOString()
        const timeline = yield* apiGet(base, `/v1/reports/timeline?from=${from}&bucket=hour`)
        const hard = timeline.rows.reduce((sum: number, row: any) => sum + row.hard, 0)
        const soft = timeline.rows.reduce((sum: number, row: any) => sum + row.soft, 0)
        assert.isAbove(hard, 10)
        assert.strictEqual(charted.Hard, hard)
        assert.strictEqual(charted.Soft, soft)
        assert.isAbove(charted.Complaints, 0)
        const reasons = yield* Effect.promise(() =>
          page.evaluate(() => (globalThis as any).Chart.getChart("reasons-chart").data.labels)
        )
        assert.include(reasons, "userunknown")
        assert.include(reasons, "mailboxfull")
        const domainsText = yield* Effect.promise(() => page.textContent("main"))
        assert.include(domainsText, "mail.example.com")

        const shot = process.env.REBOUND_SCREENSHOT
        if (shot !== undefined && shot !== "")
          yield* Effect.promise(() => page.screenshot({ path: shot, fullPage: false }))

        // search an address the processor quarantined, release it, see the change
        const quarantines = yield* apiGet(base, "/v1/quarantines?limit=50")
        const target = quarantines.rows.find((row: any) => row.to === "quarantined").address as string
        yield* Effect.promise(() => page.click("nav a[data-page=addresses]"))
        yield* Effect.promise(() => page.fill("#address-search", target))
        yield* Effect.promise(() => page.press("#address-search", "Enter"))
        yield* Effect.promise(() => page.waitForSelector("#address-status .badge.quarantined"))
        yield* Effect.promise(() => page.click("button[data-action=release]"))
        yield* Effect.promise(() => page.waitForSelector("#action-dialog[open]"))
        yield* Effect.promise(() => page.fill("#action-why", "browser test: mailbox restored"))
        yield* Effect.promise(() => page.click("#action-submit"))
        yield* Effect.promise(() => page.waitForSelector("#address-status .badge.valid"))
        const pages = process.env.REBOUND_SCREENSHOTS_DIR
        if (pages !== undefined && pages !== "")
          yield* Effect.promise(() => page.screenshot({ path: path.join(pages, "address.png"), fullPage: true }))
        const history = yield* Effect.promise(() => page.textContent("main"))
        assert.include(history, "browser test: mailbox restored")
        assert.include(history, "ops")
        const after = yield* apiGet(base, `/v1/addresses/${encodeURIComponent(target)}`)
        assert.strictEqual(after.status, "valid")
        assert.strictEqual(after.history.at(-1).who, "ops")

        // the other pages render over the same data
        const texts: Record<string, string> = {}
        for (const name of ["qualification", "accounts", "alerts"]) {
          yield* Effect.promise(() => page.click(`nav a[data-page=${name}]`))
          yield* Effect.promise(() => page.waitForSelector(`main[data-ready=${name}]`))
          texts[name] = (yield* Effect.promise(() => page.textContent("main"))) ?? ""
          if (pages !== undefined && pages !== "")
            yield* Effect.promise(() => page.screenshot({ path: path.join(pages, `${name}.png`), fullPage: true }))
        }
        assert.include(texts.accounts, "bounces")

        // review a text of the qualification log: all texts, mark the most frequent one "ignore"
        yield* Effect.promise(() => page.click("nav a[data-page=qualification]"))
        yield* Effect.promise(() => page.waitForSelector("main[data-ready=qualification]"))
        yield* Effect.promise(() => page.selectOption("main select", "all"))
        yield* Effect.promise(() => page.waitForSelector("main button[data-review=ignore]"))
        yield* Effect.promise(() => page.click("main tbody tr:first-child button[data-review=ignore]"))
        yield* Effect.promise(() => page.waitForSelector("main tbody tr:first-child .badge.ignore"))
        const ignored = yield* apiGet(base, "/v1/qualification?review=ignore")
        assert.strictEqual(ignored.rows.length, 1)
        assert.strictEqual(ignored.rows[0].reviewedBy, "ops")
        assert.include(texts.alerts, "hard bounce rate")
        assert.deepStrictEqual(problems, [])
      }).pipe(Effect.scoped, Effect.provide(demoLayer(path.join(dir, "rebound.db")))),
    120_000
  )
})
