import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/** The real `rebound` binary, as users run it. */
export const reboundBin = path.resolve(__dirname, "../../../bin/rebound.js")

/** This process's environment without any REBOUND_* variable (each would override the configuration under test). */
export const cleanEnvironment = (): Record<string, string> =>
  Object.fromEntries(
    Object.entries(process.env).flatMap(([name, value]) =>
      name.startsWith("REBOUND_") || value === undefined ? [] : [[name, value]]
    )
  )

export interface BinResult {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
  /** the process ran past its time and was killed */
  readonly timedOut: boolean
}

/** `rebound ...args` as a child process with pipes, in the clean environment. */
const spawnBin = (
  args: ReadonlyArray<string>,
  options: { readonly cwd?: string; readonly env?: Record<string, string> }
) =>
  spawn(process.execPath, [reboundBin, ...args], {
    cwd: options.cwd ?? process.cwd(),
    env: { ...cleanEnvironment(), NODE_OPTIONS: "", ...options.env },
    stdio: ["ignore", "pipe", "pipe"]
  })

/**
 * Runs `rebound ...args` as a child process with pipes (so standard error is not a terminal), without blocking this
 * process's event loop: a server the test runs in-process keeps answering. Killed with SIGKILL after `timeoutMs`.
 */
export const runBin = (
  args: ReadonlyArray<string>,
  options: { readonly cwd?: string; readonly env?: Record<string, string>; readonly timeoutMs?: number } = {}
): Promise<BinResult> =>
  new Promise((resolve, reject) => {
    const child = spawnBin(args, options)
    let stdout = ""
    let stderr = ""
    let timedOut = false
    child.stdout.on("data", (data: Buffer) => (stdout += data.toString()))
    child.stderr.on("data", (data: Buffer) => (stderr += data.toString()))
    const timer = setTimeout(() => {
      timedOut = true
      child.kill("SIGKILL")
    }, options.timeoutMs ?? 45_000)
    child.on("error", (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, timedOut })
    })
  })

/** A new empty temporary folder. */
export const tempDir = (prefix: string) => fs.mkdtempSync(path.join(os.tmpdir(), `rebound-${prefix}-`))

/** The lines of a text, without the empty last one. */
export const linesOf = (text: string): Array<string> => text.split("\n").filter((line) => line !== "")

export interface RunningBin {
  /** what the process wrote so far */
  readonly stdout: () => string
  readonly stderr: () => string
  /** resolves when the process has exited, with its exit code and signal */
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
  /** sends SIGTERM, then SIGKILL if the process is still alive after `graceMs` */
  readonly stop: (graceMs?: number) => Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
}

/** Starts `rebound ...args` (a daemon) with pipes; the caller stops it. */
export const startBin = (
  args: ReadonlyArray<string>,
  options: { readonly cwd?: string; readonly env?: Record<string, string> } = {}
): RunningBin => {
  const child = spawnBin(args, options)
  let stdout = ""
  let stderr = ""
  child.stdout.on("data", (data: Buffer) => (stdout += data.toString()))
  child.stderr.on("data", (data: Buffer) => (stderr += data.toString()))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal }))
  )
  return {
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    stop: async (graceMs = 15_000) => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs)
      const exit = await exited
      clearTimeout(timer)
      return exit
    }
  }
}

/** Waits until `check` holds, polling every 100 ms; fails after `seconds`, saying what it waited for. */
export const waitFor = async (what: string, check: () => boolean, seconds = 30): Promise<void> => {
  const until = Date.now() + seconds * 1000
  while (Date.now() < until) {
    if (check()) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`timed out after ${seconds} s waiting for ${what}`)
}
