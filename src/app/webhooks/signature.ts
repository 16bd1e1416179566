import { createHmac, timingSafeEqual } from "node:crypto"

/** The header that carries the signature: `t=<unix seconds>,v1=<hex HMAC-SHA256>`. */
export const signatureHeader = "x-rebound-signature"

/** HMAC-SHA256 over `<timestamp>.<body>`, hex: what `v1` holds. */
export const signatureOf = (secret: string, timestamp: number, body: string): string =>
  createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")

/** The signature header's value for a body sent at `timestamp` (seconds since the epoch). */
export const signatureValue = (secret: string, timestamp: number, body: string): string =>
  `t=${timestamp},v1=${signatureOf(secret, timestamp, body)}`

export type Verification =
  { readonly valid: true; readonly timestamp: number } | { readonly valid: false; readonly problem: string }

/**
 * Checks a signature header as a receiver should: the MAC over the exact body bytes, in constant time, and a
 * timestamp within `toleranceSeconds` of `nowSeconds`, so a captured request cannot be replayed later.
 */
export const verifySignature = (options: {
  readonly secret: string
  readonly header: string | null | undefined
  readonly body: string
  readonly nowSeconds: number
  readonly toleranceSeconds?: number
}): Verification => {
  const fields = new Map<string, Array<string>>()
  for (const part of (options.header ?? "").split(",")) {
    const eq = part.indexOf("=")
    if (eq <= 0) continue
    const key = part.slice(0, eq).trim()
    fields.set(key, [...(fields.get(key) ?? []), part.slice(eq + 1).trim()])
  }
  const timestamp = Number(fields.get("t")?.[0])
  if (!Number.isInteger(timestamp)) return { valid: false, problem: "no timestamp" }
  if (Math.abs(options.nowSeconds - timestamp) > (options.toleranceSeconds ?? 300))
    return { valid: false, problem: "timestamp outside the tolerance" }
  const expected = Buffer.from(signatureOf(options.secret, timestamp, options.body), "hex")
  const matches = (fields.get("v1") ?? []).some((candidate) => {
    const given = Buffer.from(candidate, "hex")
    return given.length === expected.length && timingSafeEqual(given, expected)
  })
  return matches ? { valid: true, timestamp } : { valid: false, problem: "signature does not match" }
}
