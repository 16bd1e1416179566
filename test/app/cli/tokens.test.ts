import { afterEach, assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Redacted } from "effect"
import { encodeMessageId, encodeVerp } from "../../../src/domain/codec.js"
import {
  removeWorkspace,
  runCli,
  secret,
  signingDomain,
  signingKey,
  tableCells,
  type Workspace,
  workspace
} from "./fixture.js"

const workspaces: Array<Workspace> = []
afterEach(() => {
  for (const ws of workspaces.splice(0)) removeWorkspace(ws)
})

const configured = (overrides: Record<string, unknown> = {}) => {
  const ws = workspace(overrides)
  workspaces.push(ws)
  return (...args: ReadonlyArray<string>) => runCli(...args, "--config", ws.config)
}

const ids = { instance: "rebound", deliveryId: "D42", recipientId: "R7" }
const secondKey = { id: "k2", secret: "second-secret-0123456789" }

/** Changes the last character of the MAC (a valid base32 character, so only the signature is wrong). */
const forge = (token: string, at: number) => token.slice(0, at) + (token[at] === "a" ? "b" : "a") + token.slice(at + 1)

describe("rebound messageid", () => {
  it.effect("encodes with the first configured key and domain; decode verifies it and prints its ids", () =>
    Effect.gen(function* () {
      const cli = configured()
      const encoded = yield* cli("messageid", "encode", "--delivery", "D42", "--recipient", "R7")
      assert.strictEqual(encoded.exitCode, 0, encoded.stderr)
      const messageId = encoded.stdout.trim()
      assert.strictEqual(messageId, encodeMessageId(ids, signingKey, signingDomain))

      const table = yield* cli("messageid", "decode", messageId)
      assert.strictEqual(table.exitCode, 0, table.stderr)
      assert.deepStrictEqual(tableCells(table.stdout), [
        ["INPUT", "VERIFIED", "KEY", "INSTANCE", "DELIVERY", "RECIPIENT", "REJECTION", "PROBLEM"],
        [messageId, "yes", "k1", "rebound", "D42", "R7", "-", "-"]
      ])
      const bare = messageId.slice(1, messageId.indexOf("@"))
      const json = JSON.parse((yield* cli("messageid", "decode", bare, "--format", "json")).stdout)
      assert.deepStrictEqual(json, [
        {
          input: bare,
          verified: true,
          keyId: "k1",
          instance: "rebound",
          deliveryId: "D42",
          recipientId: "R7",
          rejection: null,
          problem: null
        }
      ])
    })
  )

  it.effect("decode of a forged or foreign Message-ID exits 1 and says why; the claimed ids are shown", () =>
    Effect.gen(function* () {
      const cli = configured()
      const messageId = encodeMessageId(ids, signingKey, signingDomain)
      const forged = forge(messageId, messageId.indexOf("@") - 1)
      const result = yield* cli("messageid", "decode", messageId, forged, "<1234.5678@mta.example>", "--format", "csv")
      assert.strictEqual(result.exitCode, 1)
      const rows = result.stdout.split("\r\n")
      assert.strictEqual(rows[0], "input,verified,keyId,instance,deliveryId,recipientId,rejection,problem")
      assert.match(rows[1]!, /,true,k1,rebound,D42,R7,,$/)
      assert.strictEqual(rows[2], `${forged},false,k1,rebound,D42,R7,bad-signature,the token's MAC does not verify`)
      assert.strictEqual(
        rows[3],
        "<1234.5678@mta.example>,false,,,,,wrong-domain,the Message-ID is not of mail.sender.example"
      )

      const other = yield* cli("messageid", "decode", messageId.replace(signingDomain, "elsewhere.example"))
      assert.strictEqual(other.exitCode, 1)
      const overridden = yield* cli(
        "messageid",
        "decode",
        messageId.replace(signingDomain, "elsewhere.example"),
        "--domain",
        "Elsewhere.Example"
      )
      assert.strictEqual(overridden.exitCode, 0, overridden.stdout)
    })
  )

  it.effect("--key-id chooses the signing key; an unknown id is an error", () =>
    Effect.gen(function* () {
      const cli = configured({
        signing: { keys: [{ id: "k1", secret }, secondKey], domain: signingDomain }
      })
      const messageId = (yield* cli(
        "messageid",
        "encode",
        "--delivery",
        "D42",
        "--recipient",
        "R7",
        "--key-id",
        "k2"
      )).stdout.trim()
      const decoded = JSON.parse((yield* cli("messageid", "decode", messageId, "--format", "json")).stdout)
      assert.strictEqual(decoded[0].keyId, "k2")
      assert.isTrue(decoded[0].verified)
      const onlyK1 = yield* cli("messageid", "decode", messageId, "--key-id", "k1", "--format", "json")
      assert.strictEqual(onlyK1.exitCode, 1)
      assert.strictEqual(JSON.parse(onlyK1.stdout)[0].rejection, "unknown-key")
      const unknown = yield* cli("messageid", "encode", "--delivery", "D", "--recipient", "R", "--key-id", "k9")
      assert.strictEqual(unknown.exitCode, 1)
      assert.include(unknown.stderr, 'no signing key has the id "k9"; the configured keys are k1, k2')
      assert.strictEqual(unknown.stdout, "")
    })
  )

  it.effect("without keys, encode refuses and explains REBOUND_SIGNING_KEYS; decode cannot verify", () =>
    Effect.gen(function* () {
      const cli = configured({ signing: {} })
      const encode = yield* cli("messageid", "encode", "--delivery", "D", "--recipient", "R", "--domain", "d.example")
      assert.strictEqual(encode.exitCode, 1)
      assert.include(encode.stderr, "REBOUND_SIGNING_KEYS")
      const decode = yield* cli("messageid", "decode", encodeMessageId(ids, signingKey, signingDomain))
      assert.strictEqual(decode.exitCode, 1)
      assert.include(decode.stderr, "no signing keys are configured")
      assert.deepStrictEqual(tableCells(decode.stdout)[1]!.slice(1, 7), [
        "no",
        "k1",
        "rebound",
        "D42",
        "R7",
        "unknown-key"
      ])
    })
  )

  it.effect("keys and domain come from REBOUND_SIGNING_KEYS and REBOUND_SIGNING_DOMAIN when the file has none", () =>
    Effect.gen(function* () {
      const cli = configured({ signing: {} })
      const environment = ConfigProvider.fromMap(
        new Map([
          ["REBOUND_SIGNING_KEYS", JSON.stringify([secondKey])],
          ["REBOUND_SIGNING_DOMAIN", "env.example"]
        ])
      )
      const encoded = yield* cli("messageid", "encode", "--delivery", "D42", "--recipient", "R7").pipe(
        Effect.withConfigProvider(environment)
      )
      assert.strictEqual(encoded.exitCode, 0, encoded.stderr)
      assert.strictEqual(
        encoded.stdout.trim(),
        encodeMessageId(ids, { id: "k2", secret: Redacted.make(secondKey.secret) }, "env.example")
      )
    })
  )

  it.effect("encode wants a domain and takes --instance", () =>
    Effect.gen(function* () {
      const cli = configured({ signing: { keys: [{ id: "k1", secret }] }, instance: "eu-1" })
      const noDomain = yield* cli("messageid", "encode", "--delivery", "D", "--recipient", "R")
      assert.strictEqual(noDomain.exitCode, 1)
      assert.include(noDomain.stderr, "--domain")
      const fromConfig = yield* cli(
        "messageid",
        "encode",
        "--delivery",
        "D",
        "--recipient",
        "R",
        "--domain",
        "x.example"
      )
      const decoded = JSON.parse(
        (yield* cli("messageid", "decode", fromConfig.stdout.trim(), "--format", "json")).stdout
      )
      assert.strictEqual(decoded[0].instance, "eu-1")
      const other = yield* cli(
        "messageid",
        "encode",
        "--delivery",
        "D",
        "--recipient",
        "R",
        "--domain",
        "x.example",
        "--instance",
        "us-2"
      )
      const claimed = JSON.parse((yield* cli("messageid", "decode", other.stdout.trim(), "--format", "json")).stdout)
      assert.strictEqual(claimed[0].instance, "us-2")
      const missing = yield* cli("messageid", "encode", "--recipient", "R")
      assert.isTrue(missing.rejected)
    })
  )
})

describe("rebound verp", () => {
  it.effect("encodes a VERP sender; decode verifies it in any case, and exits 1 for a forged one", () =>
    Effect.gen(function* () {
      const cli = configured()
      const encoded = (yield* cli("verp", "encode", "--delivery", "D42", "--recipient", "R7")).stdout.trim()
      assert.strictEqual(encoded, encodeVerp(ids, signingKey, { localPart: "bounce", domain: signingDomain }))
      const upper = `"Bounces" <${encoded.toUpperCase()}>`
      const ok = yield* cli("verp", "decode", encoded, upper, "--format", "json")
      assert.strictEqual(ok.exitCode, 0, ok.stderr)
      assert.deepStrictEqual(
        JSON.parse(ok.stdout).map((row: any) => [row.verified, row.deliveryId, row.recipientId]),
        [
          [true, "D42", "R7"],
          [true, "D42", "R7"]
        ]
      )
      const forged = forge(encoded, encoded.indexOf("@") - 1)
      const bad = yield* cli("verp", "decode", forged, "--format", "json")
      assert.strictEqual(bad.exitCode, 1)
      assert.strictEqual(JSON.parse(bad.stdout)[0].rejection, "bad-signature")
      const notOurs = yield* cli("verp", "decode", "someone@else.example", "--format", "json")
      assert.strictEqual(notOurs.exitCode, 1)
      assert.strictEqual(JSON.parse(notOurs.stdout)[0].rejection, "not-a-token")
    })
  )

  it.effect("--local-part and --domain name where the VERP address lives", () =>
    Effect.gen(function* () {
      const cli = configured()
      const encoded = (yield* cli(
        "verp",
        "encode",
        "--delivery",
        "D42",
        "--recipient",
        "R7",
        "--local-part",
        "rb",
        "--domain",
        "bounces.example"
      )).stdout.trim()
      assert.match(encoded, /^rb\+[a-z2-7]+@bounces\.example$/)
      const strict = yield* cli("verp", "decode", encoded, "--format", "json")
      assert.strictEqual(JSON.parse(strict.stdout)[0].rejection, "not-a-token")
      const named = yield* cli(
        "verp",
        "decode",
        encoded,
        "--local-part",
        "rb",
        "--domain",
        "bounces.example",
        "--format",
        "json"
      )
      assert.strictEqual(named.exitCode, 0)
      assert.isTrue(JSON.parse(named.stdout)[0].verified)
    })
  )
})

describe("rebound --help", () => {
  it.effect("names every command", () =>
    Effect.gen(function* () {
      const help = yield* runCli("--help")
      assert.strictEqual(help.exitCode, 0)
      for (const command of ["quarantine", "report", "messageid", "verp"]) assert.include(help.stdout, command)
      const quarantine = yield* runCli("quarantine", "--help")
      for (const command of ["list", "show", "release", "confirm", "allow", "deny"])
        assert.include(quarantine.stdout, command)
    })
  )
})
