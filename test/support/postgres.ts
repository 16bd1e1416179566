import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"

/** The bin folder of the newest PostgreSQL from the Debian package (/usr/lib/postgresql/<version>/bin). */
export const postgresBinDir = (): string | undefined => {
  const root = "/usr/lib/postgresql"
  if (!fs.existsSync(root)) return undefined
  const versions = fs
    .readdirSync(root)
    .filter((version) => fs.existsSync(path.join(root, version, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a))
  return versions.length === 0 ? undefined : path.join(root, versions[0]!, "bin")
}

export const postgresInstall = "apt-get install -y --no-install-recommends postgresql (or .ci/services/postgres.sh)"

/** A throw-away PostgreSQL server on 127.0.0.1. */
export interface PostgresServer {
  readonly host: string
  readonly port: number
  readonly user: string
  /** Creates an empty database and returns its URL. */
  readonly createDatabase: (name: string) => string
  readonly stop: () => void
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject()))
    })
  })

/**
 * Starts PostgreSQL in a fresh temporary data folder, listening on 127.0.0.1 only, with trust authentication and,
 * unless `durable`, fsync off (a test server holds nothing worth an fsync; a benchmark keeps the defaults).
 * PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user the Debian package creates.
 */
export const startPostgres = async (options: { readonly durable?: boolean } = {}): Promise<PostgresServer> => {
  const bin = postgresBinDir()
  if (bin === undefined) throw new Error(`PostgreSQL is not installed (${postgresInstall})`)
  const asRoot = process.getuid?.() === 0
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rebound-pg-"))
  const data = path.join(dir, "data")
  const run = (command: string, args: ReadonlyArray<string>) => {
    const [file, argv] = asRoot
      ? ["runuser", ["-u", "postgres", "--", path.join(bin, command), ...args]]
      : [path.join(bin, command), args]
    const result = spawnSync(file, argv as Array<string>, { encoding: "utf8", timeout: 60_000 })
    if (result.status !== 0) throw new Error(`${command} failed: ${result.stderr || result.stdout || result.error}`)
    return result.stdout
  }
  if (asRoot) execFileSync("chown", ["postgres:postgres", dir])
  const port = await freePort()
  const user = "rebound"
  run("initdb", ["-D", data, "-U", user, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"])
  const fast = options.durable === true ? "" : " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  const serverOptions = `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir}${fast}`
  run("pg_ctl", ["-D", data, "-o", serverOptions, "-l", path.join(dir, "server.log"), "-w", "-t", "60", "start"])
  let stopped = false
  const stop = () => {
    if (stopped) return
    stopped = true
    try {
      run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"])
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
  const createDatabase = (name: string) => {
    execFileSync(
      path.join(bin, "psql"),
      [
        "-h",
        "127.0.0.1",
        "-p",
        String(port),
        "-U",
        user,
        "-d",
        "postgres",
        "-v",
        "ON_ERROR_STOP=1",
        "-q",
        "-c",
        `CREATE DATABASE "${name}"`
      ],
      { stdio: "pipe" }
    )
    return `postgres://${user}@127.0.0.1:${port}/${name}`
  }
  return { host: "127.0.0.1", port, user, createDatabase, stop }
}
