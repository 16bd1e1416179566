#!/usr/bin/env node
// fsync and rename of the SMTP spool run on libuv's thread pool: more threads keep more mails in flight
// (docs/smtp.md); it must be set before the pool starts, so before anything else loads
process.env.UV_THREADPOOL_SIZE ??= "16"
const { register } = await import("tsx/esm/api")
register()
await import("../src/app/main.ts")
