#!/usr/bin/env node
// fsync and rename of the SMTP spool run on libuv's thread pool: more threads keep more mails in flight
// (docs/smtp.md); it must be set before the pool starts, so before anything else loads
process.env.UV_THREADPOOL_SIZE ??= "16"

import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
const built = path.join(root, "dist", "src", "app", "main.js")

/** The newest modification time under `dir`, in ms (0 when it does not exist). */
const newest = (dir) => {
  let latest = 0
  let entries
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true })
  } catch {
    return 0
  }
  for (const entry of entries) {
    const full = path.join(dir, entry.name)
    latest = Math.max(latest, entry.isDirectory() ? newest(full) : fs.statSync(full).mtimeMs)
  }
  return latest
}

// The compiled build (npm ci builds it) starts in half the time and memory of compiling TypeScript on the fly;
// a checkout whose sources changed after the build runs the sources, so the bin never runs stale code.
const builtAt = fs.existsSync(built) ? fs.statSync(built).mtimeMs : 0
if (builtAt > 0 && builtAt >= newest(path.join(root, "src"))) {
  await import(built)
} else {
  const { register } = await import("tsx/esm/api")
  register()
  await import("../src/app/main.ts")
}
