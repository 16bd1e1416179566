import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Clock, Effect, Either, Option } from "effect"
import { AddressStates, type QuarantineFilter } from "../../adapters/store/address-states.js"
import { BounceEvents } from "../../adapters/store/bounce-events.js"
import type { HistoryEntry, StoredAddressState, StoredBounceEvent } from "../../adapters/store/model.js"
import { type OperatorAction, Store } from "../../adapters/store/store.js"
import { type NormalizedAddress, normalizeAddress } from "../../domain/address.js"
import { type Actor, AddressStatus } from "../../domain/quarantine.js"
import { Reason } from "../../domain/report.js"
import type { AppConfig } from "../config.js"
import { configOption } from "./shared.js"
import {
  CliError,
  type Column,
  type Format,
  isoTime,
  printErr,
  printOut,
  renderJson,
  renderPairs,
  renderRows,
  reportFailure,
  rowObject
} from "./format.js"
import {
  checkedLimit,
  domainFilter,
  formatOption,
  limitOption,
  loadCliConfig,
  timeOption,
  timeRange,
  withStore
} from "./options.js"

/** The object without its undefined properties (for filters under exactOptionalPropertyTypes). */
const present = <T extends Record<string, unknown>>(object: T): { [K in keyof T]?: Exclude<T[K], undefined> } =>
  Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined)) as never

const filterOptions = {
  domain: Options.text("domain").pipe(
    Options.withDescription("only addresses at this receiving domain"),
    Options.optional
  ),
  reason: Options.choice("reason", Reason.literals).pipe(
    Options.withDescription("only addresses quarantined for this reason (see docs/REASONS.md)"),
    Options.optional
  ),
  since: timeOption("since", "only addresses quarantined at or after this time"),
  until: timeOption("until", "only addresses quarantined before this time"),
  suspect: Options.boolean("suspect").pipe(
    Options.withDescription("only quarantines the outage guard holds as suspect")
  )
}

interface FilterInput {
  readonly domain: Option.Option<string>
  readonly reason: Option.Option<Reason>
  readonly since: Option.Option<string>
  readonly until: Option.Option<string>
  readonly suspect: boolean
}

const readFilter = (input: FilterInput) =>
  Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const range = yield* timeRange(input.since, input.until, now)
    const domain = yield* domainFilter(input.domain)
    return {
      filter: present({
        domain,
        reason: Option.getOrUndefined(input.reason),
        from: range.from,
        to: range.to,
        suspectOnly: input.suspect ? true : undefined
      }) as QuarantineFilter,
      given: domain !== undefined || Option.isSome(input.reason) || range.from !== undefined || range.to !== undefined
    }
  })

const stateColumns: ReadonlyArray<Column<StoredAddressState>> = [
  { key: "address", header: "ADDRESS", value: (s) => s.address },
  { key: "domain", header: "DOMAIN", value: (s) => s.domain, only: "data" },
  { key: "status", header: "STATUS", value: (s) => s.status },
  { key: "reason", header: "REASON", value: (s) => s.state.quarantine?.reason ?? null },
  { key: "type", header: "TYPE", value: (s) => s.state.quarantine?.type ?? null },
  { key: "cause", header: "CAUSE", value: (s) => s.state.quarantine?.cause ?? null },
  { key: "suspect", header: "SUSPECT", value: (s) => s.state.quarantine?.suspect ?? false },
  { key: "quarantinedAt", header: "QUARANTINED", value: (s) => isoTime(s.state.quarantine?.at ?? null) },
  { key: "errorCount", header: "ERRORS", value: (s) => s.state.errorCount, align: "right" },
  { key: "lastErrorAt", header: "LAST ERROR", value: (s) => isoTime(s.state.lastErrorAt) },
  { key: "lastErrorReason", header: "LAST REASON", value: (s) => s.state.lastErrorReason },
  { key: "updatedAt", header: "UPDATED", value: (s) => isoTime(s.updatedAt) }
]

const historyColumns: ReadonlyArray<Column<HistoryEntry>> = [
  { key: "at", header: "AT", value: (h) => isoTime(h.at) },
  { key: "from", header: "FROM", value: (h) => h.from },
  { key: "to", header: "TO", value: (h) => h.to },
  { key: "cause", header: "CAUSE", value: (h) => h.cause },
  { key: "errorCount", header: "ERRORS", value: (h) => h.errorCount, align: "right" },
  { key: "reason", header: "REASON", value: (h) => h.reason },
  { key: "suspect", header: "SUSPECT", value: (h) => h.suspect },
  { key: "who", header: "WHO", value: (h) => h.who },
  { key: "why", header: "WHY", value: (h) => h.why },
  { key: "mailSha256", header: "MAIL", value: (h) => h.mailSha256, only: "data" },
  { key: "recordIndex", header: "RECORD", value: (h) => h.recordIndex, only: "data" }
]

const eventColumns: ReadonlyArray<Column<StoredBounceEvent>> = [
  { key: "receivedAt", header: "RECEIVED", value: (e) => isoTime(e.receivedAt) },
  { key: "kind", header: "KIND", value: (e) => e.kind },
  { key: "type", header: "TYPE", value: (e) => e.type },
  { key: "reason", header: "REASON", value: (e) => e.reason },
  { key: "status", header: "STATUS", value: (e) => e.status },
  { key: "rule", header: "RULE", value: (e) => e.rule, only: "data" },
  { key: "correlation", header: "CORRELATION", value: (e) => e.correlationSource },
  { key: "deliveryId", header: "DELIVERY", value: (e) => e.correlationDeliveryId },
  { key: "countedAgainst", header: "COUNTED", value: (e) => e.countedAgainst },
  { key: "diagnostic", header: "DIAGNOSTIC", value: (e) => e.diagnostic }
]

const list = Command.make(
  "list",
  {
    config: configOption,
    status: Options.choice("status", [...AddressStatus.literals, "all"] as const).pipe(
      Options.withDescription("only addresses with this status, or all"),
      Options.withDefault("quarantined" as const)
    ),
    ...filterOptions,
    limit: limitOption(1000),
    format: formatOption
  },
  (options) =>
    reportFailure(
      Effect.gen(function* () {
        const config = yield* loadCliConfig(options.config)
        yield* checkedLimit(options.limit)
        const { filter } = yield* readFilter(options)
        yield* withStore(
          config,
          Effect.gen(function* () {
            const rows = yield* (yield* AddressStates).list({
              ...present({
                status: options.status === "all" ? undefined : options.status,
                domain: filter.domain,
                reason: filter.reason,
                from: filter.from,
                to: filter.to,
                suspect: filter.suspectOnly
              }),
              limit: options.limit + 1
            })
            yield* printOut(renderRows(options.format, stateColumns, rows.slice(0, options.limit)))
            if (rows.length > options.limit) {
              yield* printErr(`rebound: showing the first ${options.limit} addresses; raise --limit to see more\n`)
            }
          })
        )
      })
    )
).pipe(Command.withDescription("List addresses by status (quarantined by default), domain, reason and time."))

const requireAddresses = (config: AppConfig, inputs: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const results = inputs.map((input) => normalizeAddress(input, config.localPartCase))
    const bad = results.flatMap((result) => (Either.isLeft(result) ? [result.left.message] : []))
    if (bad.length > 0) {
      return yield* new CliError({ reason: "Input", message: `not an address: ${bad.join("; ")}` })
    }
    return results.map((result) => Either.getOrThrow(result))
  })

const printShow = (
  format: Format,
  state: StoredAddressState,
  history: ReadonlyArray<HistoryEntry>,
  events: ReadonlyArray<StoredBounceEvent>
) => {
  const quarantine = state.state.quarantine
  switch (format) {
    case "json":
      return printOut(
        renderJson({
          address: state.address,
          domain: state.domain,
          status: state.status,
          list: state.state.list,
          errorCount: state.state.errorCount,
          lastErrorAt: isoTime(state.state.lastErrorAt),
          lastErrorReason: state.state.lastErrorReason,
          lastErrorType: state.state.lastErrorType,
          quarantine:
            quarantine === null
              ? null
              : {
                  at: isoTime(quarantine.at),
                  reason: quarantine.reason,
                  type: quarantine.type,
                  cause: quarantine.cause,
                  suspect: quarantine.suspect
                },
          updatedAt: isoTime(state.updatedAt),
          history: history.map((entry) => rowObject(historyColumns, entry)),
          events: events.map((event) => rowObject(eventColumns, event))
        })
      )
    case "csv":
      return printOut(renderRows("csv", historyColumns, history))
    case "table":
      return printOut(
        [
          renderPairs([
            ["address", state.address],
            ["status", state.status],
            ["errors", state.state.errorCount],
            ["last error", isoTime(state.state.lastErrorAt)],
            [
              "last error reason",
              state.state.lastErrorReason === null
                ? null
                : `${state.state.lastErrorType} ${state.state.lastErrorReason}`
            ],
            ["quarantined", isoTime(quarantine?.at ?? null)],
            ["quarantine reason", quarantine === null ? null : `${quarantine.type} ${quarantine.reason}`],
            ["quarantine cause", quarantine?.cause ?? null],
            ["suspect", quarantine?.suspect ?? false],
            ["updated", isoTime(state.updatedAt)]
          ]),
          `\nHistory (${history.length})\n`,
          history.length === 0 ? "" : renderRows("table", historyColumns, history),
          `\nRecent events (${events.length})\n`,
          events.length === 0 ? "" : renderRows("table", eventColumns, events)
        ].join("")
      )
  }
}

const show = Command.make(
  "show",
  {
    config: configOption,
    events: Options.integer("events").pipe(
      Options.withDescription("how many of the latest bounce events to print"),
      Options.withDefault(10)
    ),
    format: formatOption,
    address: Args.text({ name: "ADDRESS" }).pipe(Args.withDescription("the address (any case, IDN or punycode)"))
  },
  (options) =>
    reportFailure(
      Effect.gen(function* () {
        const config = yield* loadCliConfig(options.config)
        const [address] = yield* requireAddresses(config, [options.address])
        yield* withStore(
          config,
          Effect.gen(function* () {
            const state = yield* (yield* Store).address(address!)
            const history = yield* (yield* AddressStates).history(state.address)
            const events = yield* (yield* BounceEvents).forAddress(state.address, Math.max(0, options.events))
            yield* printShow(options.format, state, history, events)
          })
        )
      })
    )
).pipe(
  Command.withDescription("Print an address's status, error counter, quarantine and full history (who, when, why).")
)

interface OperationRow {
  readonly address: NormalizedAddress
  readonly action: OperatorAction
  readonly from: AddressStatus
  readonly to: AddressStatus
  readonly changed: boolean
}

const operationColumns: ReadonlyArray<Column<OperationRow>> = [
  { key: "address", header: "ADDRESS", value: (r) => r.address },
  { key: "action", header: "ACTION", value: (r) => r.action },
  { key: "from", header: "FROM", value: (r) => r.from },
  { key: "to", header: "TO", value: (r) => r.to },
  { key: "changed", header: "CHANGED", value: (r) => r.changed }
]

const actorOptions = {
  by: Options.text("by").pipe(Options.withDescription("who does it (a name or an address), kept in the history")),
  why: Options.text("why").pipe(Options.withDescription("why (a ticket, a reason), kept in the history"))
}

const readActor = (by: string, why: string): Effect.Effect<Actor, CliError> =>
  by.trim() === "" || why.trim() === ""
    ? Effect.fail(new CliError({ reason: "Usage", message: "--by and --why must not be empty" }))
    : Effect.succeed({ who: by.trim(), why: why.trim() })

const past: Record<OperatorAction, string> = {
  release: "released",
  allow: "allowlisted",
  deny: "denylisted",
  confirm: "confirmed"
}

/** Applies the action to each address in turn and prints what became of each. */
const operateOn = (
  config: AppConfig,
  action: OperatorAction,
  inputs: ReadonlyArray<string>,
  actor: Actor,
  format: Format
) =>
  Effect.gen(function* () {
    // every address is checked before any is changed
    const addresses = yield* requireAddresses(config, inputs)
    yield* withStore(
      config,
      Effect.gen(function* () {
        const store = yield* Store
        const rows: Array<OperationRow> = []
        for (const address of addresses) {
          const transitions = yield* store.operate(action, address, actor)
          const first = transitions[0]
          const last = transitions[transitions.length - 1]
          if (first !== undefined && last !== undefined) {
            rows.push({ address, action, from: first.from, to: last.to, changed: true })
          } else {
            const status = (yield* store.address(address)).status
            rows.push({ address, action, from: status, to: status, changed: false })
          }
        }
        yield* printOut(renderRows(format, operationColumns, rows))
        const changed = rows.filter((row) => row.changed).length
        yield* printErr(`rebound: ${past[action]} ${changed} of ${rows.length} address(es)\n`)
      })
    )
  })

interface BulkRow {
  readonly action: OperatorAction
  readonly matched: number
  readonly changed: number
  readonly dryRun: boolean
}

const bulkColumns: ReadonlyArray<Column<BulkRow>> = [
  { key: "action", header: "ACTION", value: (r) => r.action },
  { key: "matched", header: "MATCHED", value: (r) => r.matched, align: "right" },
  { key: "changed", header: "CHANGED", value: (r) => r.changed, align: "right" },
  { key: "dryRun", header: "DRY RUN", value: (r) => r.dryRun }
]

/** Counts the quarantined addresses the filter selects and, with --yes, releases (or confirms) them all. */
const operateInBulk = (
  config: AppConfig,
  action: "release" | "confirm",
  filter: QuarantineFilter,
  actor: Actor,
  yes: boolean,
  format: Format
) =>
  withStore(
    config,
    Effect.gen(function* () {
      const selected = action === "confirm" ? { ...filter, suspectOnly: true } : filter
      const matched = yield* (yield* AddressStates).countQuarantined(selected)
      if (!yes) {
        yield* printOut(renderRows(format, bulkColumns, [{ action, matched, changed: 0, dryRun: true }]))
        yield* printErr(
          `rebound: ${matched} quarantined address(es) match; nothing was changed: add --yes to ${action} them\n`
        )
        return
      }
      const changed = yield* (yield* Store).bulk(action, filter, actor)
      yield* printOut(renderRows(format, bulkColumns, [{ action, matched, changed, dryRun: false }]))
      yield* printErr(`rebound: ${past[action]} ${changed} address(es)\n`)
    })
  )

/** release and confirm: named addresses, or every quarantined address a filter selects. */
const bulkCapable = (action: "release" | "confirm", description: string) =>
  Command.make(
    action,
    {
      config: configOption,
      ...actorOptions,
      ...filterOptions,
      yes: Options.boolean("yes").pipe(
        Options.withDescription("with a filter: really change the matching addresses (without it: count them only)")
      ),
      format: formatOption,
      addresses: Args.text({ name: "ADDRESS" }).pipe(
        Args.withDescription("the addresses; none when a filter selects them"),
        Args.repeated
      )
    },
    (options) =>
      reportFailure(
        Effect.gen(function* () {
          const config = yield* loadCliConfig(options.config)
          const actor = yield* readActor(options.by, options.why)
          const { filter, given } = yield* readFilter(options)
          const filtered = given || options.suspect
          if (options.addresses.length > 0 && filtered) {
            return yield* new CliError({ reason: "Usage", message: "name addresses or give a filter, not both" })
          }
          if (options.addresses.length > 0)
            return yield* operateOn(config, action, options.addresses, actor, options.format)
          if (!filtered) {
            return yield* new CliError({
              reason: "Usage",
              message: `name the addresses to ${action}, or select them with --domain, --reason, --since, --until or --suspect`
            })
          }
          yield* operateInBulk(config, action, filter, actor, options.yes, options.format)
        })
      )
  ).pipe(Command.withDescription(description))

const listDecision = (action: "allow" | "deny", description: string) =>
  Command.make(
    action,
    {
      config: configOption,
      ...actorOptions,
      format: formatOption,
      addresses: Args.text({ name: "ADDRESS" }).pipe(Args.withDescription("the addresses"), Args.atLeast(1))
    },
    (options) =>
      reportFailure(
        Effect.gen(function* () {
          const config = yield* loadCliConfig(options.config)
          const actor = yield* readActor(options.by, options.why)
          yield* operateOn(config, action, options.addresses, actor, options.format)
        })
      )
  ).pipe(Command.withDescription(description))

/** `rebound quarantine list|show|release|confirm|allow|deny`. */
export const quarantineCommand = Command.make("quarantine").pipe(
  Command.withDescription("Address states: list and show them; release, confirm, allow and deny addresses."),
  Command.withSubcommands([
    list,
    show,
    bulkCapable(
      "release",
      "Release quarantined addresses (named, or all that a filter selects) so they can be mailed again."
    ),
    bulkCapable(
      "confirm",
      "Confirm quarantines the outage guard holds as suspect (named, or all that a filter selects): they become ordinary."
    ),
    listDecision("allow", "Put addresses on the allowlist: nothing that bounces changes them any more."),
    listDecision("deny", "Put addresses on the denylist: they are never mailed, whatever the bounces say.")
  ])
)
