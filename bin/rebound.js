#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=4
// fsync and rename of the SMTP spool run on libuv's thread pool: more threads keep more mails in flight
// (docs/smtp.md); it must be set before the pool starts, so before anything else loads
process.env.UV_THREADPOOL_SIZE ??= "16"

import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as v8 from "node:v8"

// Memory (docs/operations.md, "Memory"). V8 lets the old generation grow to up to four times the live heap before a
// full collection; rebound's live heap is small (35-40 MB) and its garbage steady, so that growth was most of its
// resident memory. A factor of 2 took the peak RSS of 10,000 mails from 270 to 185 MB for the same CPU per mail, but
// a faster drain (a Dovecot tuned for it) still peaked at 192-245 MB now and then; 1.75 took about 10 MB off the
// usual peak (157-186 MB in about 70 runs, 205.5 MB in one) for 2-5% of the rate (1.5 cost 20% more CPU). V8
// reads this flag at every collection, so setting it here, before anything is loaded, takes effect; the young
// generation's size is fixed when the heap is made, so it is in the #! line (4 MB semi-spaces instead of 16: 20 MB
// less RSS, no CPU measurable above the noise). So is MALLOC_ARENA_MAX=2, read by glibc when the process starts:
// the thread pool, the WAL checkpointer and V8's helper threads each got a malloc arena of their own, and the unused
// space in them; two arenas took about 9 MB off the peak RSS of 10,000 mails (mean of six runs each, 180 against
// 190 MB), for the same CPU per mail.
if (!process.execArgv.some((arg) => arg.startsWith("--heap-growing-percent"))) {
  v8.setFlagsFromString("--heap-growing-percent=75")
}

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
const bundle = path.join(root, "dist", "bin", "main.mjs")

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

// The bundle (npm ci builds it: scripts/bundle.mjs) starts in half the time and memory of compiling TypeScript on the
// fly; a checkout whose sources changed after the build runs the sources, so the bin never runs stale code.
const builtAt = fs.existsSync(bundle) ? fs.statSync(bundle).mtimeMs : 0
if (builtAt > 0 && builtAt >= newest(path.join(root, "src"))) {
  await import(bundle)
} else {
  const { register } = await import("tsx/esm/api")
  register()
  await import("../src/app/main.ts")
}
