import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import Database from "better-sqlite3"
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { encodeMessageId, type SigningKey } from "../../src/domain/codec.js"
import { type PostgresServer, postgresBinDir } from "../support/postgres.js"
import { eximBounce, type Original, personalMail, postfixDsn, qmailBounce } from "../support/mails.js"

/** Temporary folders named `rebound-<prefix>-*`; `removeAll` deletes every one made so far. */
export const tempDirs = (prefix: string) => {
  const dirs: Array<string> = []
  return {
    make: (): string => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `rebound-${prefix}-`))
      dirs.push(dir)
      return dir
    },
    removeAll: (): void => {
      for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}

/** The CLI the fault suite runs as whole processes. */
export const bin = path.resolve(import.meta.dirname, "../../bin/rebound.js")

/** The moments of the faults come from a seeded generator: they are printed and can be replayed. */
export { seededRandom } from "../support/random.js"

/** The seed of a run: REBOUND_FAULT_SEED replays one, else a new one. */
export const faultSeed = (): number => {
  const given = process.env["REBOUND_FAULT_SEED"]
  return given === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(given)
}

export const sleep = (millis: number) => new Promise<void>((resolve) => setTimeout(resolve, millis))

/** Polls `check` until it holds, failing after `seconds`. */
export const waitFor = async (what: string, check: () => boolean | Promise<boolean>, seconds = 60) => {
  const until = Date.now() + seconds * 1000
  while (Date.now() < until) {
    if (await check()) return
    await sleep(100)
  }
  throw new Error(`timed out after ${seconds} s waiting for ${what}`)
}

/** A spawned rebound process with its standard output and error captured. */
export interface ReboundProcess {
  readonly child: ChildProcess
  readonly output: () => string
  readonly exit: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
}

/** Everything the processes of this test file wrote, for the suite that greps logs for secrets. */
export const capturedLogs: Array<string> = []

const spawned = new Set<ChildProcess>()

/** Kills, by their ids, the rebound processes of this file still running (after a failed test: `run` never ends). */
export const killLeftovers = async () => {
  const running = [...spawned]
  for (const child of running) child.kill("SIGKILL")
  await Promise.all(
    running.map((child) =>
      child.exitCode !== null || child.signalCode !== null
        ? undefined
        : new Promise((resolve) => child.once("exit", resolve))
    )
  )
}

/** Runs `rebound <args>` in `cwd` (a temp dir holding its config and data). */
export const spawnRebound = (args: ReadonlyArray<string>, cwd: string): ReboundProcess => {
  const child = spawn(process.execPath, [bin, ...args], {
    cwd,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NODE_OPTIONS: "" }
  })
  spawned.add(child)
  child.once("exit", () => spawned.delete(child))
  const chunks: Array<string> = []
  const record = (data: Buffer) => {
    const text = data.toString()
    chunks.push(text)
    capturedLogs.push(text)
  }
  child.stdout!.on("data", record)
  child.stderr!.on("data", record)
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal }))
  )
  return { child, output: () => chunks.join(""), exit }
}

/** Writes a config file (rebound.config.json unless named) into `dir` and returns its path. */
export const writeConfig = (dir: string, config: unknown, name = "rebound.config.json"): string => {
  const file = path.join(dir, name)
  fs.writeFileSync(file, JSON.stringify(config, null, 2))
  return file
}

export const signingKey: SigningKey = { id: "faults", secret: Redacted.make("fault-suite-signing-secret-4711") }
export const messageIdDomain = "mail.sender.example"

/**
 * Bounce number `index` of a backlog: Postfix DSNs (one or two recipients), qmail and Exim bounces, hard and soft,
 * each returning the original with its signed Message-ID; every 50th mail is a personal mail (not a bounce), and
 * every 10th recipient bounces a second time in a later mail, so counters and error counts add up.
 */
export const backlogMail = (index: number): Buffer => {
  if (index % 50 === 49) {
    return Buffer.from(personalMail().toString("utf8").replace("personal-0001@", `personal-${index}@`))
  }
  const person = index % 10 === 9 ? index - 9 : index
  const recipient = `user${person}@domain${person % 37}.example`
  const original: Original = {
    from: "news@sender.example",
    to: recipient,
    messageId: encodeMessageId(
      { instance: "rebound", deliveryId: `d${index % 20}`, recipientId: `r${index}` },
      signingKey,
      messageIdDomain
    ),
    subject: `Our newsletter, issue ${index}`
  }
  const soft = index % 3 === 1
  switch (index % 4) {
    case 0:
      return postfixDsn({
        recipients: [
          { address: recipient, status: soft ? "4.2.2" : "5.1.1", diagnostic: "550 5.1.1 User unknown" },
          ...(index % 8 === 0
            ? [{ address: `second${index}@domain${index % 37}.example`, status: "5.2.2", diagnostic: "552 full" }]
            : [])
        ],
        original
      })
    case 1:
      return postfixDsn({
        recipients: [{ address: recipient, status: "4.2.2", diagnostic: "452 4.2.2 Mailbox full, try again later" }],
        original
      })
    case 2:
      return qmailBounce(recipient, "Remote host said: 550 5.1.1 unknown user", original)
    default:
      return eximBounce([[recipient, "SMTP error from remote mail server: 552 5.2.2 Mailbox full"]], original)
  }
}

/** The queries of a store dump: what does not depend on the moment or on the mailbox's unique ids. */
const dumpQueries = {
  ledger: "SELECT sha256, outcome, records, size, archived, detail FROM mail_ledger",
  events: `SELECT sha256, record_index, kind, address, domain, type, reason, status, rule, correlation_source,
    delivery_id, sent_message_id, counted_against, suspect FROM bounce_events`,
  addresses: `SELECT address, domain, status, list, error_count, previous_error_count, last_error_reason,
    last_error_type, quarantine_reason, quarantine_type, quarantine_cause, suspect FROM address_states`,
  history: `SELECT address, from_status, to_status, cause, error_count, reason, suspect, who, mail_sha256, record_index
    FROM address_history`,
  counters: "SELECT domain, counter, SUM(n) FROM domain_counts GROUP BY domain, counter",
  deliveries: "SELECT message_key, delivery_id, recipient, state, type, reason FROM delivery_log",
  archived: "SELECT sha256, size, outcome FROM raw_mails"
} as const

export type StoreDump = { readonly [K in keyof typeof dumpQueries]: ReadonlyArray<string> }

/** One row as text the same on SQLite and PostgreSQL (numbers, bigints and booleans as digits), rows sorted. */
const normalized = (rows: ReadonlyArray<ReadonlyArray<unknown>>): Array<string> =>
  rows
    .map((row) =>
      JSON.stringify(
        row.map((value) =>
          value === null || value === undefined
            ? null
            : typeof value === "boolean"
              ? value
                ? "1"
                : "0"
              : Buffer.isBuffer(value)
                ? value.toString("hex")
                : String(value)
        )
      )
    )
    .sort()

/** Bounce events by (mail hash, record), address states and history, counters summed over hours, the ledger. */
export const dumpStore = (file: string): StoreDump => {
  const db = new Database(file, { readonly: true })
  try {
    const entries = Object.entries(dumpQueries).map(([name, sql]) => [
      name,
      normalized(db.prepare(sql).raw().all() as Array<Array<unknown>>)
    ])
    return Object.fromEntries(entries) as StoreDump
  } finally {
    db.close()
  }
}

/** Runs `body` on a one-connection client of the PostgreSQL database at `url` (while the processes under test work). */
export const queryPostgres = <A>(
  url: string,
  body: (sql: SqlClient.SqlClient) => Effect.Effect<A, unknown>
): Promise<A> =>
  Effect.runPromise(
    Effect.flatMap(SqlClient.SqlClient, body).pipe(
      Effect.scoped,
      Effect.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 }))
    )
  )

/** The same dump of a PostgreSQL store. */
export const dumpPostgres = (url: string): Promise<StoreDump> =>
  queryPostgres(url, (sql) =>
    Effect.gen(function* () {
      const entries: Array<[string, Array<string>]> = []
      for (const [name, query] of Object.entries(dumpQueries)) {
        entries.push([name, normalized(yield* sql.unsafe(query).values)])
      }
      return Object.fromEntries(entries) as unknown as StoreDump
    })
  )

/** When each mail of a PostgreSQL store's ledger was committed, by unique id. */
export const ledgerTimesPostgres = (url: string): Promise<Map<string, number>> =>
  queryPostgres(url, (sql) =>
    Effect.map(
      sql.unsafe("SELECT uid, processed_at FROM mail_ledger").values,
      (rows) => new Map(rows.map(([uid, at]) => [String(uid), Number(at)]))
    )
  )

/** Rows of the ledger, or 0 while the store does not exist yet. */
/** The addresses quarantined in an SQLite store file, sorted ([] while the file or its tables do not exist). */
export const quarantinedAddresses = (file: string): Array<string> => {
  if (!fs.existsSync(file)) return []
  const db = new Database(file, { readonly: true })
  try {
    return db
      .prepare("SELECT address FROM address_states WHERE status = 'quarantined' ORDER BY address")
      .all()
      .map((row) => (row as { address: string }).address)
  } catch {
    return []
  } finally {
    db.close()
  }
}

export const ledgerCount = (file: string): number => {
  if (!fs.existsSync(file)) return 0
  const db = new Database(file, { readonly: true })
  try {
    return (db.prepare("SELECT COUNT(*) AS n FROM mail_ledger").get() as { n: number }).n
  } catch {
    return 0
  } finally {
    db.close()
  }
}

/**
 * Stops a server of test/support/postgres.ts (a fast shutdown: connections are cut, what was committed stays) and
 * returns a function that starts it again with the same options and data.
 */
export const stopPostgresForAWhile = (server: PostgresServer): (() => void) => {
  const bin = postgresBinDir()!
  const asRoot = process.getuid?.() === 0
  const psql = execFileSync(
    path.join(bin, "psql"),
    [
      "-h",
      server.host,
      "-p",
      String(server.port),
      "-U",
      server.user,
      "-d",
      "postgres",
      "-At",
      "-c",
      "SHOW data_directory"
    ],
    { encoding: "utf8" }
  )
  const data = psql.trim()
  // postmaster.opts: the server's binary, then its arguments in double quotes; -D and the folder are given apart
  const quoted = [...fs.readFileSync(path.join(data, "postmaster.opts"), "utf8").matchAll(/"([^"]*)"/g)].map(
    (match) => match[1]!
  )
  const options = quoted.filter(
    (arg, index) => arg !== "-D" && quoted[index - 1] !== "-D" && !arg.endsWith("/postgres")
  )
  const pgCtl = (args: ReadonlyArray<string>) => {
    const [file, argv] = asRoot
      ? ["runuser", ["-u", "postgres", "--", path.join(bin, "pg_ctl"), ...args]]
      : [path.join(bin, "pg_ctl"), [...args]]
    execFileSync(file, argv, { stdio: "pipe", timeout: 60_000 })
  }
  pgCtl(["-D", data, "-m", "fast", "-w", "stop"])
  return () =>
    pgCtl([
      "-D",
      data,
      "-o",
      options.filter((_, i) => i > 1 || options[0] !== "-D").join(" "),
      "-l",
      path.join(path.dirname(data), "server.log"),
      "-w",
      "start"
    ])
}

/**
 * A TCP proxy to a POP3 server that can hold the next QUIT: the commands before it pass (DELE included), the QUIT
 * does not, and `holdNextQuit` resolves then, so a test can kill the client between its store commit and the
 * mailbox's. Plain POP3 only (it reads the commands).
 */
export const quitHoldingProxy = async (targetPort: number) => {
  let onQuit: (() => void) | undefined
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, "127.0.0.1")
    sockets.add(client).add(upstream)
    let holding = false
    client.on("data", (data) => {
      if (holding) return
      const text = data.toString("latin1")
      const quit = onQuit === undefined ? -1 : text.search(/(^|\n)QUIT\r?\n/i)
      if (quit < 0) return void upstream.write(data)
      const cut = text[quit] === "\n" ? quit + 1 : quit
      upstream.write(data.subarray(0, cut))
      holding = true
      const notify = onQuit!
      onQuit = undefined
      notify()
    })
    upstream.on("data", (data) => client.write(data))
    for (const [socket, other] of [
      [client, upstream],
      [upstream, client]
    ] as const) {
      socket.on("error", () => {})
      socket.on("close", () => {
        sockets.delete(socket)
        other.destroy()
      })
    }
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return {
    port: (server.address() as net.AddressInfo).port,
    holdNextQuit: () => new Promise<void>((resolve) => (onQuit = resolve)),
    release: () => void (onQuit = undefined),
    close: () => {
      for (const socket of sockets) socket.destroy()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}
