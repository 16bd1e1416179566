/** A token bucket: `capacity` events at once, refilled at `capacity` per `windowMillis`. */
export interface Bucket {
  readonly tokens: number
  readonly updatedAt: number
}

export interface RateLimit {
  readonly capacity: number
  readonly windowMillis: number
}

/** The bucket after refilling up to `now`. */
const refill = (bucket: Bucket, limit: RateLimit, now: number): Bucket => {
  const elapsed = Math.max(0, now - bucket.updatedAt)
  return {
    tokens: Math.min(limit.capacity, bucket.tokens + (elapsed * limit.capacity) / limit.windowMillis),
    updatedAt: Math.max(now, bucket.updatedAt)
  }
}

/** Takes one token: whether the event is allowed, and the bucket after it. A missing bucket is full. */
export const take = (
  bucket: Bucket | undefined,
  limit: RateLimit,
  now: number
): { readonly allowed: boolean; readonly bucket: Bucket } => {
  const current = refill(bucket ?? { tokens: limit.capacity, updatedAt: now }, limit, now)
  return current.tokens >= 1
    ? { allowed: true, bucket: { tokens: current.tokens - 1, updatedAt: current.updatedAt } }
    : { allowed: false, bucket: current }
}

/** Whether the bucket would be full again at `now`, so that it can be forgotten. */
export const isFull = (bucket: Bucket, limit: RateLimit, now: number): boolean =>
  refill(bucket, limit, now).tokens >= limit.capacity

/**
 * Per-client token buckets. Full buckets are forgotten when the table grows, so a scan from many addresses holds
 * at most the buckets of the clients that are still limited.
 */
export class ClientRates {
  private readonly buckets = new Map<string, Bucket>()

  constructor(
    readonly limit: RateLimit,
    private readonly sweepAbove = 10_000
  ) {}

  /** Takes one token for `client`; false when it has used its rate. */
  take(client: string, now: number): boolean {
    const result = take(this.buckets.get(client), this.limit, now)
    this.buckets.set(client, result.bucket)
    if (this.buckets.size > this.sweepAbove) this.sweep(now)
    return result.allowed
  }

  get size(): number {
    return this.buckets.size
  }

  private sweep(now: number): void {
    for (const [client, bucket] of this.buckets) {
      if (isFull(bucket, this.limit, now)) this.buckets.delete(client)
    }
  }
}

const expandIpv6 = (address: string): Array<string> | undefined => {
  const [head, tail, ...rest] = address.split("::")
  if (rest.length > 0) return undefined
  const left = head === "" || head === undefined ? [] : head.split(":")
  const right = tail === undefined ? [] : tail === "" ? [] : tail.split(":")
  const missing = 8 - left.length - right.length
  if (tail === undefined ? missing !== 0 : missing < 1) return undefined
  return [...left, ...Array.from({ length: tail === undefined ? 0 : missing }, () => "0"), ...right]
}

/**
 * Whom a connection counts against: the IPv4 address, or the /64 of an IPv6 address (one subscriber line or host
 * usually holds a whole /64, so limiting single IPv6 addresses limits nothing).
 */
export const clientKey = (address: string): string => {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped !== null) return mapped[1]!
  if (!address.includes(":")) return address
  const groups = expandIpv6(address.replace(/%.*$/, ""))
  if (groups === undefined) return address.toLowerCase()
  return `${groups
    .slice(0, 4)
    .map((group) => group.toLowerCase().replace(/^0+(?=.)/, ""))
    .join(":")}::/64`
}
