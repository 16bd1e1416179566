/**
 * A throw-away Postfix on loopback for interop tests, and a fake SMTP server that refuses recipients with chosen
 * replies. Postfix runs from its Debian package with its own config_directory, queue_directory and data_directory in
 * a temp dir; `transport_maps` routes chosen domains to chosen loopback ports, and one local domain makes unknown
 * users bounce. Postfix's master must start as root (it drops to mail_owner for its daemons).
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import * as Effect from "effect/Effect"
import { SMTPServer } from "smtp-server"
import { findExecutable } from "./services.js"

const run = promisify(execFile)

/** The postfix command of the Debian package, if installed. */
export const postfixBinary = findExecutable(["/usr/sbin/postfix"])

const daemonDirectory = "/usr/lib/postfix/sbin"

const isRoot = typeof process.getuid === "function" && process.getuid() === 0

/** Postfix is installed (package postfix) and we can start its master (root). */
export const postfixAvailable = postfixBinary !== undefined && fs.existsSync(`${daemonDirectory}/master`) && isRoot

export const postfixInstall = "apt-get install -y --no-install-recommends postfix (as root; the tests start it as root)"

/** Where Postfix sends mail for a domain: an SMTP server on loopback, or any transport(5) value. */
export type Route =
  | { readonly host: string; readonly port: number }
  /** e.g. "lmtp:unix:/run/dovecot/lmtp", or "virtual:" with virtual_mailbox_* lines in mainCf */
  | { readonly transport: string }

export interface PostfixOptions {
  /** the domain Postfix is the final destination of; mail to its unknown users bounces (default local.rebound.test) */
  readonly localDomain?: string
  /** domain -> where its mail goes (transport_maps); every other domain is undeliverable */
  readonly routes: Readonly<Record<string, Route>>
  /** let the Postfix SMTP client use STARTTLS when offered (smtp_tls_security_level = may); default true */
  readonly opportunisticTls?: boolean
  /** more main.cf lines */
  readonly mainCf?: ReadonlyArray<string>
}

/** A running Postfix. */
export interface Postfix {
  readonly dir: string
  /** its SMTP server on 127.0.0.1, open to loopback clients (mynetworks) */
  readonly port: number
  readonly hostname: string
  readonly localDomain: string
  readonly log: () => string
  /** the queue as `postqueue -p` shows it */
  readonly queue: () => Promise<string>
  readonly stop: () => Promise<void>
}

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })

const mainCf = (dir: string, options: Required<Omit<PostfixOptions, "mainCf">>, extra: ReadonlyArray<string>) => {
  const transport = Object.entries(options.routes)
    .map(
      ([domain, route]) => `${domain}=${"transport" in route ? route.transport : `smtp:[${route.host}]:${route.port}`}`
    )
    .join(", ")
  return `# throw-away configuration of the rebound test suite
compatibility_level = 3.6
queue_directory = ${dir}/queue
data_directory = ${dir}/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = ${dir}/maillog
maillog_file_prefixes = ${dir}
myhostname = mta.rebound.test
mydomain = rebound.test
myorigin = $myhostname
mydestination = ${options.localDomain}
# every local part is taken at SMTP time and the unknown ones bounce in local(8), as on a classic mail host
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost =
transport_maps = inline:{ ${transport} }
default_transport = error:no route to this domain in the rebound test setup
smtp_dns_support_level = disabled
smtp_host_lookup = native
smtpd_peername_lookup = no
smtp_tls_security_level = ${options.opportunisticTls ? "may" : "none"}
smtp_tls_loglevel = 1
smtputf8_enable = no
biff = no
# one delivery attempt: a 4xx reply bounces at once instead of waiting days
maximal_queue_lifetime = 0
bounce_queue_lifetime = 0
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
in_flow_delay = 0
smtpd_error_sleep_time = 0
${extra.join("\n")}
`
}

const masterCf = (port: number) => {
  const services = [
    `127.0.0.1:${port} inet n - n - - smtpd`,
    "pickup unix n - n 60 1 pickup",
    "cleanup unix n - n - 0 cleanup",
    "qmgr unix n - n 300 1 qmgr",
    "tlsmgr unix - - n 1000? 1 tlsmgr",
    "rewrite unix - - n - - trivial-rewrite",
    "bounce unix - - n - 0 bounce",
    "defer unix - - n - 0 bounce",
    "trace unix - - n - 0 bounce",
    "verify unix - - n - 1 verify",
    "flush unix n - n 1000? 0 flush",
    "proxymap unix - - n - - proxymap",
    "proxywrite unix - - n - 1 proxymap",
    "smtp unix - - n - - smtp",
    "relay unix - - n - - smtp",
    "showq unix n - n - - showq",
    "error unix - - n - - error",
    "retry unix - - n - - error",
    "discard unix - - n - - discard",
    "local unix - n n - - local",
    "lmtp unix - - n - - lmtp",
    "virtual unix - n n - - virtual",
    "anvil unix - - n - 1 anvil",
    "scache unix - - n - 1 scache",
    "postlog unix-dgram n - n - 1 postlogd"
  ]
  return `# throw-away master.cf of the rebound test suite: no chroot, smtpd on loopback only\n${services.join("\n")}\n`
}

const greetsOn = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(2000, () => done(false))
    socket.once("error", () => done(false))
    socket.once("data", (data) => done(data.toString().startsWith("220")))
  })

const masterPid = (dir: string): number | undefined => {
  try {
    const pid = Number(fs.readFileSync(path.join(dir, "queue", "pid", "master.pid"), "utf8").trim())
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

/** Starts Postfix on loopback (`postfix -c DIR start`, which runs `postfix check` first); stop() removes it all. */
export const startPostfix = async (options: PostfixOptions): Promise<Postfix> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rebound-postfix-"))
  // the daemons run as mail_owner and must reach the queue through this directory
  fs.chmodSync(dir, 0o755)
  const configDir = path.join(dir, "etc")
  for (const sub of ["etc", "queue", "data"]) fs.mkdirSync(path.join(dir, sub))
  fs.chownSync(path.join(dir, "data"), Number((await run("id", ["-u", "postfix"])).stdout), 0)
  const localDomain = options.localDomain ?? "local.rebound.test"
  const log = () => {
    try {
      return fs.readFileSync(path.join(dir, "maillog"), "utf8")
    } catch {
      return ""
    }
  }
  const postfix = (...args: Array<string>) => run(postfixBinary!, ["-c", configDir, ...args], { timeout: 60_000 })

  const stop = async () => {
    const pid = masterPid(dir)
    await postfix("stop").catch(() => undefined)
    if (pid !== undefined) {
      for (let i = 0; i < 50 && alive(pid); i++) await sleep(100)
      // `postfix stop` waits 5 s, then kills the master's process group; make sure of it before removing its queue
      if (alive(pid)) process.kill(-pid, "SIGKILL")
    }
    fs.rmSync(dir, { recursive: true, force: true })
  }

  let lastError = ""
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort()
    fs.writeFileSync(
      path.join(configDir, "main.cf"),
      mainCf(
        dir,
        { localDomain, routes: options.routes, opportunisticTls: options.opportunisticTls ?? true },
        options.mainCf ?? []
      )
    )
    fs.writeFileSync(path.join(configDir, "master.cf"), masterCf(port))
    try {
      await postfix("start")
      const deadline = Date.now() + 30_000
      while (Date.now() < deadline && !(await greetsOn(port))) await sleep(100)
      if (await greetsOn(port)) {
        return {
          dir,
          port,
          hostname: "mta.rebound.test",
          localDomain,
          log,
          queue: async () =>
            (
              await run("/usr/sbin/postqueue", ["-c", configDir, "-p"]).catch((error: Error) => ({
                stdout: String(error)
              }))
            ).stdout,
          stop
        }
      }
      lastError = `Postfix did not answer on port ${port}`
    } catch (error) {
      lastError = String(error)
    }
    await postfix("stop").catch(() => undefined)
  }
  const logged = log()
  await stop()
  throw new Error(`postfix did not start: ${lastError}\n${logged}`)
}

/** Postfix for the scope of an Effect. */
export const postfix = (options: PostfixOptions) =>
  Effect.acquireRelease(
    Effect.promise(() => startPostfix(options)),
    (server) => Effect.promise(() => server.stop())
  )

/** What the refusing server answers to RCPT TO for one address. */
export interface RefusalReply {
  readonly code: number
  /** the reply text, starting with its RFC 3463 status */
  readonly text: string
}

/** A fake destination MTA on loopback: takes the session, and answers RCPT TO from a table (default: 250). */
export interface RefusingServer {
  readonly port: number
  /** the RCPT TO addresses it was asked about, in order */
  readonly asked: ReadonlyArray<string>
  readonly stop: () => Promise<void>
}

export const startRefusingServer = async (
  replies: Readonly<Record<string, RefusalReply>>,
  name = "mx.refuse.test"
): Promise<RefusingServer> => {
  const asked: Array<string> = []
  const table = new Map(Object.entries(replies).map(([address, reply]) => [address.toLowerCase(), reply]))
  const server = new SMTPServer({
    name,
    logger: false,
    authOptional: true,
    disabledCommands: ["AUTH", "STARTTLS"],
    disableReverseLookup: true,
    onRcptTo: (address, _session, callback) => {
      asked.push(address.address)
      const reply = table.get(address.address.toLowerCase())
      if (reply === undefined) return callback()
      callback(Object.assign(new Error(reply.text), { responseCode: reply.code }))
    },
    onData: (stream, _session, callback) => {
      stream.resume()
      stream.on("end", () => callback())
    }
  })
  const port = await new Promise<number>((resolve, reject) => {
    server.server.once("error", reject)
    server.listen(0, "127.0.0.1", () => resolve((server.server.address() as net.AddressInfo).port))
  })
  return {
    port,
    asked,
    stop: () => new Promise((resolve) => server.close(() => resolve()))
  }
}

/** The refusing server for the scope of an Effect. */
export const refusingServer = (replies: Readonly<Record<string, RefusalReply>>, name?: string) =>
  Effect.acquireRelease(
    Effect.promise(() => startRefusingServer(replies, name)),
    (server) => Effect.promise(() => server.stop())
  )
