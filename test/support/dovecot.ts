import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import { makeCertificate, opensslAvailable, type TestCertificate } from "./pop3-server.js"
import { findExecutable } from "./services.js"

/** The dovecot binary of the Debian package, if installed. */
export const dovecotBinary = findExecutable(["/usr/sbin/dovecot", "/usr/local/sbin/dovecot"])

/** Dovecot with its POP3 server (dovecot-pop3d) and openssl for the test certificate. */
export const dovecotAvailable =
  dovecotBinary !== undefined &&
  opensslAvailable &&
  ["/usr/lib/dovecot/pop3", "/usr/libexec/dovecot/pop3", "/usr/local/libexec/dovecot/pop3"].some((file) =>
    fs.existsSync(file)
  )

export const dovecotInstall = "apt-get install -y --no-install-recommends dovecot-core dovecot-pop3d"

/** A running Dovecot with a throw-away configuration in a temp directory. */
export interface Dovecot {
  readonly dir: string
  /** plain POP3 with STLS */
  readonly port: number
  /** POP3 over implicit TLS */
  readonly tlsPort: number
  readonly certificate: TestCertificate
  readonly password: (user: string) => string
  /** writes a mail into the user's Maildir new/ (through tmp/, as Maildir delivery does) and returns its file name */
  readonly deliver: (user: string, mail: string | Uint8Array) => string
  /** the names of the files in the user's new/ and cur/ */
  readonly files: (user: string) => Array<string>
  readonly log: () => string
  readonly stop: () => Promise<void>
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })

const accountExists = (name: string): boolean =>
  fs
    .readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .some((line) => line.startsWith(`${name}:`))

const idOf = (flag: "-u" | "-g", name: string): number => Number(execFileSync("id", [flag, name]).toString().trim())

/**
 * Who runs what. As root, Dovecot refuses to run login processes or mail access as root, so the login processes
 * run as dovenull (made by the Debian package) and the mail belongs to nobody. Otherwise everything runs as the
 * current user, without chroot (Dovecot's rootless setup).
 */
const accounts = () => {
  const me = os.userInfo()
  if (me.uid !== 0) {
    const group = execFileSync("id", ["-gn"]).toString().trim()
    return {
      internal: me.username,
      login: me.username,
      mailUser: me.username,
      mailGroup: group,
      uid: me.uid,
      gid: me.gid
    }
  }
  const login = accountExists("dovenull") ? "dovenull" : "nobody"
  const internal = accountExists("dovecot") ? "dovecot" : "nobody"
  const mailGroup = execFileSync("id", ["-gn", "nobody"]).toString().trim()
  return { internal, login, mailUser: "nobody", mailGroup, uid: idOf("-u", "nobody"), gid: idOf("-g", "nobody") }
}

/**
 * The settings docs/mailbox.md recommends for a Dovecot that serves a bounce mailbox over POP3, taken from
 * Dovecot's performance tuning guide: login processes in high-performance mode (one process serves many connections,
 * instead of a fork per connection), pop3 processes reused for up to 100 sessions, and Maildir's cur/ scanned only when
 * it changed behind Dovecot's back (the MTA delivers into new/, which is still scanned).
 */
export const bounceMailboxSettings = `maildir_very_dirty_syncs = yes
service pop3-login {
  service_count = 0
  process_min_avail = 2
}
service pop3 {
  service_count = 100
  process_min_avail = 1
}
`

export interface DovecotOptions {
  /** add {@link bounceMailboxSettings} to the packaged defaults */
  readonly tuned?: boolean
  /**
   * users whose POP3 sessions lock their maildrop (pop3_lock_session, which Dovecot leaves off by default): a second
   * login waits for the first session's end or fails with [IN-USE]
   */
  readonly lockedUsers?: ReadonlyArray<string>
}

const configuration = (
  dir: string,
  port: number,
  tlsPort: number,
  certificate: TestCertificate,
  options: DovecotOptions
) => {
  const who = accounts()
  return `# throw-away configuration of the rebound test suite
base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
protocols = pop3
listen = 127.0.0.1
ssl = yes
ssl_cert = <${certificate.certFile}
ssl_key = <${certificate.keyFile}
disable_plaintext_auth = no
auth_mechanisms = plain login apop
auth_failure_delay = 0
default_internal_user = ${who.internal}
default_internal_group = ${who.mailGroup}
default_login_user = ${who.login}
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:${dir}/mail/%u
mail_fsync = never
pop3_uidl_format = %08Xu%08Xv
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${dir}/passwd
}
userdb {
  driver = static
  args = uid=${who.uid} gid=${who.gid} home=${dir}/home/%u
}
service pop3-login {
  chroot =
  inet_listener pop3 {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = ${tlsPort}
    ssl = yes
  }
}
service anvil {
  chroot =
}
${options.tuned === true ? bounceMailboxSettings : ""}`
}

const greetingOn = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1000, () => done(false))
    socket.once("error", () => done(false))
    socket.once("data", (data) => done(data.toString().startsWith("+OK")))
  })

const listening = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port }, () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null

const stopProcess = (child: ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    if (exited(child)) return resolve()
    const kill = setTimeout(() => child.kill("SIGKILL"), 5000)
    child.once("exit", () => {
      clearTimeout(kill)
      resolve()
    })
    child.kill("SIGTERM")
  })

/**
 * Starts Dovecot on loopback with users `users` (password "pw-<user>"), each with an empty Maildir: plain POP3
 * with STLS on one port, implicit TLS on another, a certificate made now.
 */
export const startDovecot = async (users: ReadonlyArray<string>, options: DovecotOptions = {}): Promise<Dovecot> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rebound-dovecot-"))
  fs.chmodSync(dir, 0o755)
  const certificate = makeCertificate()
  fs.chmodSync(certificate.dir, 0o755)
  const who = accounts()
  const asRoot = os.userInfo().uid === 0
  const password = (user: string) => `pw-${user}`
  const locked = new Set(options.lockedUsers ?? [])
  fs.writeFileSync(
    path.join(dir, "passwd"),
    users
      .map(
        (user) => `${user}:{PLAIN}${password(user)}::::::${locked.has(user) ? "userdb_pop3_lock_session=yes" : ""}\n`
      )
      .join("")
  )
  for (const user of users) {
    for (const sub of ["new", "cur", "tmp"]) fs.mkdirSync(path.join(dir, "mail", user, sub), { recursive: true })
    fs.mkdirSync(path.join(dir, "home", user), { recursive: true })
  }
  if (asRoot) {
    for (const top of ["mail", "home"]) execFileSync("chown", ["-R", `${who.uid}:${who.gid}`, path.join(dir, top)])
  }
  const cleanup = () => {
    fs.rmSync(dir, { recursive: true, force: true })
    fs.rmSync(certificate.dir, { recursive: true, force: true })
  }
  let lastError = ""
  // A port found free may be taken before Dovecot binds it: try again with new ports.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort()
    const tlsPort = await freePort()
    const configFile = path.join(dir, "dovecot.conf")
    fs.writeFileSync(configFile, configuration(dir, port, tlsPort, certificate, options))
    const child = spawn(dovecotBinary!, ["-F", "-c", configFile], { stdio: ["ignore", "ignore", "pipe"] })
    let stderr = ""
    child.stderr!.on("data", (data) => (stderr += data))
    const log = () => {
      try {
        return fs.readFileSync(path.join(dir, "dovecot.log"), "utf8")
      } catch {
        return ""
      }
    }
    const deadline = Date.now() + 20_000
    let ready = false
    while (!ready && !exited(child) && Date.now() < deadline) {
      ready = (await greetingOn(port)) && (await listening(tlsPort))
      if (!ready) await new Promise((resolve) => setTimeout(resolve, 100))
    }
    if (ready) {
      let counter = 0
      return {
        dir,
        port,
        tlsPort,
        certificate,
        password,
        deliver: (user, mail) => {
          const name = `${Date.now()}.M${++counter}P${process.pid}.rebound`
          const tmp = path.join(dir, "mail", user, "tmp", name)
          fs.writeFileSync(tmp, mail)
          if (asRoot) fs.chownSync(tmp, who.uid, who.gid)
          fs.renameSync(tmp, path.join(dir, "mail", user, "new", name))
          return name
        },
        files: (user) =>
          ["new", "cur"].flatMap((sub) =>
            fs.readdirSync(path.join(dir, "mail", user, sub)).filter((name) => !name.startsWith("."))
          ),
        log,
        stop: async () => {
          await stopProcess(child)
          cleanup()
        }
      }
    }
    await stopProcess(child)
    lastError = `${stderr}\n${log()}`
  }
  cleanup()
  throw new Error(`dovecot did not start:\n${lastError}`)
}

/** Dovecot for the scope of an Effect (the bench uses it). */
export const dovecot = (users: ReadonlyArray<string>, options: DovecotOptions = {}) =>
  Effect.acquireRelease(
    Effect.promise(() => startDovecot(users, options)),
    (server) => Effect.promise(() => server.stop())
  )
