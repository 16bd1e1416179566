import { assert, describe, it } from "@effect/vitest"
import { Either, FastCheck } from "effect"
import { normalizeAddress } from "../../../src/domain/address.js"
import { batchNormalizer } from "../../../src/app/http/batch-normalize.js"

const pieces = [
  "a",
  "B",
  "ü",
  "@",
  ".",
  " ",
  "<",
  ">",
  ";",
  "rfc822;",
  "xn--",
  "-",
  "Ä",
  "例え",
  "1",
  "_",
  "+",
  "[",
  "]"
]
const text = FastCheck.array(FastCheck.constantFrom(...pieces), { maxLength: 14 }).map((parts) => parts.join(""))
const address = FastCheck.tuple(
  text,
  FastCheck.constantFrom("", "@"),
  text,
  FastCheck.constantFrom("", ".example", ".ORG.", "例え.jp")
).map(([local, at, domain, tld]) => `${local}${at}${domain}${tld}`)

const outcome = (result: Either.Either<string, { readonly reason: string }>) =>
  Either.isRight(result) ? `ok ${result.right}` : `error ${result.left.reason}`

describe("batch normalisation", () => {
  it.prop(
    "answers as normalizeAddress for every input, in both local-part modes",
    [FastCheck.array(address, { maxLength: 30 })],
    ([inputs]) => {
      for (const mode of ["lowercase", "preserve"] as const) {
        const normalize = batchNormalizer(mode)
        for (const input of inputs)
          assert.strictEqual(outcome(normalize(input)), outcome(normalizeAddress(input, mode)), input)
      }
    }
  )

  it("reuses a domain's encoding, and falls back for bracketed or typed inputs", () => {
    const normalize = batchNormalizer("lowercase")
    assert.deepStrictEqual(
      [
        "Jane@Bücher.Example",
        "joe@bücher.example",
        "<Ann@Example.ORG>",
        "rfc822; bob@example.org",
        "x@",
        "@y.example"
      ].map((input) => outcome(normalize(input))),
      [
        "ok jane@xn--bcher-kva.example",
        "ok joe@xn--bcher-kva.example",
        "ok ann@example.org",
        "ok bob@example.org",
        "error bad-domain",
        "error empty-local-part"
      ]
    )
  })
})
