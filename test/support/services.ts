import { execFileSync } from "node:child_process"
import * as fs from "node:fs"

/** CI must run every real-server suite; a developer machine without the server skips it with a reason. */
export const inCI = process.env.CI === "true"

/** The first of `candidates` that exists as an executable file, or undefined. */
export const findExecutable = (candidates: ReadonlyArray<string>): string | undefined =>
  candidates.find((file) => {
    try {
      fs.accessSync(file, fs.constants.X_OK)
      return true
    } catch {
      return false
    }
  })

/** Whether a command answers on this machine (e.g. `which pg_ctl`). */
export const commandWorks = (command: string, args: ReadonlyArray<string>): boolean => {
  try {
    execFileSync(command, args, { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}

/**
 * Decides whether a real-server suite runs. Returns true to skip (printing why) on a machine without the server;
 * in CI a missing server is an error, never a skip.
 */
export const skipWithout = (available: boolean, what: string, install: string): boolean => {
  if (available) return false
  if (inCI) throw new Error(`${what} is required in CI but was not found (${install})`)
  console.warn(`skipping: ${what} is not installed on this machine (${install})`)
  return true
}
