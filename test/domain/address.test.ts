import { assert, describe, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import { domainOf, normalizeAddress, normalizeDomain } from "../../src/domain/address.js"

const ok = (input: string, localPartCase: "lowercase" | "preserve" = "lowercase") => {
  const result = normalizeAddress(input, localPartCase)
  if (Either.isLeft(result)) assert.fail(result.left.message)
  return result.right
}

describe("normalizeAddress", () => {
  it("lowercases the domain and, by default, the local part", () => {
    assert.strictEqual(ok("John.Doe@Example.COM"), "john.doe@example.com")
    assert.strictEqual(ok("John.Doe@Example.COM", "preserve"), "John.Doe@example.com")
  })

  it("IDNA-encodes an internationalised domain", () => {
    assert.strictEqual(ok("anna@Bücher.Example"), "anna@xn--bcher-kva.example")
    assert.strictEqual(ok("ivan@пример.рф"), "ivan@xn--e1afmkfd.xn--p1ai")
    assert.strictEqual(ok("anna@xn--bcher-kva.example"), "anna@xn--bcher-kva.example")
  })

  it("strips what DSNs and headers put around an address", () => {
    assert.strictEqual(ok("rfc822; <User@Example.org>"), "user@example.org")
    assert.strictEqual(ok("  <user@example.org.>  "), "user@example.org")
    assert.strictEqual(ok("RFC822;user@example.org"), "user@example.org")
  })

  it("keeps the last @ as the separator and an address literal as it is", () => {
    assert.strictEqual(ok('"a@b"@Example.org', "preserve"), '"a@b"@example.org')
    assert.strictEqual(ok("postmaster@[192.0.2.1]"), "postmaster@[192.0.2.1]")
  })

  it("rejects what is not an address, with a reason", () => {
    const reasonOf = (input: string) =>
      Either.match(normalizeAddress(input), { onLeft: (e) => e.reason, onRight: () => "ok" })
    assert.strictEqual(reasonOf(""), "empty")
    assert.strictEqual(reasonOf("<>"), "empty")
    assert.strictEqual(reasonOf("user.example.org"), "no-at-sign")
    assert.strictEqual(reasonOf("@example.org"), "empty-local-part")
    assert.strictEqual(reasonOf("user@"), "bad-domain")
    assert.strictEqual(reasonOf("user@localhost"), "bad-domain")
    assert.strictEqual(reasonOf("user@exa mple.org"), "bad-domain")
  })

  it("domainOf gives the receiving domain", () => {
    assert.strictEqual(domainOf(ok("a@Mail.Example.org")), "mail.example.org")
  })

  it.prop(
    "normalising twice changes nothing",
    [fc.emailAddress(), fc.constantFrom("lowercase" as const, "preserve" as const)],
    ([address, localPartCase]) => {
      const once = normalizeAddress(address, localPartCase)
      if (Either.isLeft(once)) return
      assert.deepStrictEqual(normalizeAddress(once.right, localPartCase), once)
    }
  )

  it("normalizeDomain is exposed for domain-level operations", () => {
    assert.deepStrictEqual(normalizeDomain("GMAIL.com"), Either.right("gmail.com"))
  })
})
