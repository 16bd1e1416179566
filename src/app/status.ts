import { Context, Effect, Layer, Ref } from "effect"

/** What one account's polling looks like right now, for /ready, /metrics, the dashboard and `rebound once`. */
export interface AccountStatus {
  readonly account: string
  readonly kind: "pop3" | "maildir" | "smtp"
  readonly state: "idle" | "polling" | "backoff" | "failing"
  /** Clock time (ms) of the last poll's start, and of the last poll that completed */
  readonly lastPollAt: number | null
  readonly lastSuccessAt: number | null
  readonly lastError: string | null
  readonly consecutiveFailures: number
  /** mails left in the mailbox after the last poll (the backlog), when known */
  readonly mailsWaiting: number | null
  readonly fetched: number
  readonly applied: number
  readonly notApplied: number
  readonly failed: number
}

export const initialAccountStatus = (account: string, kind: AccountStatus["kind"]): AccountStatus => ({
  account,
  kind,
  state: "idle",
  lastPollAt: null,
  lastSuccessAt: null,
  lastError: null,
  consecutiveFailures: 0,
  mailsWaiting: null,
  fetched: 0,
  applied: 0,
  notApplied: 0,
  failed: 0
})

/** The processor's live account states: written by the processor, read by the HTTP API and the CLI. */
export class ProcessorStatus extends Context.Tag("rebound/App/ProcessorStatus")<
  ProcessorStatus,
  {
    readonly accounts: Effect.Effect<ReadonlyArray<AccountStatus>>
    readonly update: (account: string, change: (status: AccountStatus) => AccountStatus) => Effect.Effect<void>
    readonly register: (status: AccountStatus) => Effect.Effect<void>
  }
>() {
  /** An in-memory status board. */
  static readonly layer = Layer.effect(
    ProcessorStatus,
    Effect.gen(function* () {
      const board = yield* Ref.make(new Map<string, AccountStatus>())
      return {
        accounts: Effect.map(Ref.get(board), (map) => [...map.values()]),
        update: (account, change) =>
          Ref.update(board, (map) => {
            const current = map.get(account)
            return current === undefined ? map : new Map(map).set(account, change(current))
          }),
        register: (status) => Ref.update(board, (map) => new Map(map).set(status.account, status))
      }
    })
  )
}
