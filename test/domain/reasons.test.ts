import { assert, describe, it } from "@effect/vitest"
import { FastCheck } from "effect"
import {
  bounceType,
  campaignReason,
  campaignReasons,
  isExplicitReason,
  reasonDescriptions,
  refinableReasons
} from "../../src/domain/reasons.js"
import { BounceType, CampaignReason, Reason } from "../../src/domain/report.js"

const anyReason = FastCheck.constantFrom(...Reason.literals)
const anyFailure = FastCheck.constantFrom("permanent" as const, "temporary" as const, "unknown" as const)

describe("reason vocabulary", () => {
  it.prop(
    "every reason maps to exactly one type for a given code class",
    [anyReason, anyFailure],
    ([reason, failure]) => {
      const types = BounceType.literals.filter((type) => bounceType(reason, failure) === type)
      assert.strictEqual(types.length, 1)
      assert.strictEqual(bounceType(reason, failure), bounceType(reason, failure))
    }
  )

  it.prop("a delay is never a failure that counts", [anyReason, anyFailure], ([reason, failure]) => {
    assert.strictEqual(bounceType(reason, failure, true), "ignored")
  })

  it("hard only for addresses that cannot work", () => {
    for (const reason of ["userunknown", "hostunknown", "hasmoved"] as const) {
      for (const failure of ["permanent", "temporary", "unknown"] as const) {
        assert.strictEqual(bounceType(reason, failure), "hard", `${reason} ${failure}`)
      }
    }
    assert.strictEqual(bounceType("notaccept", "permanent"), "hard")
    assert.strictEqual(bounceType("notaccept", "temporary"), "soft")
    for (const reason of ["delivered", "feedback", "vacation"] as const)
      assert.strictEqual(bounceType(reason, "permanent"), "ignored")
    for (const reason of ["mailboxfull", "blocked", "spamdetected", "onhold", "undefined", "expired"] as const) {
      assert.strictEqual(bounceType(reason, "permanent"), "soft", reason)
    }
  })

  it.prop("every reason has one Campaign failure reason and a description", [anyReason], ([reason]) => {
    assert.isTrue(CampaignReason.literals.includes(campaignReason(reason)))
    assert.isTrue(reasonDescriptions[reason].length > 10)
  })

  it("maps to Campaign's categories", () => {
    assert.strictEqual(campaignReasons.userunknown, "User unknown")
    assert.strictEqual(campaignReasons.hostunknown, "Invalid domain")
    assert.strictEqual(campaignReasons.suspend, "Account disabled")
    assert.strictEqual(campaignReasons.mailboxfull, "Mailbox full")
    assert.strictEqual(campaignReasons.expired, "Unreachable")
    assert.strictEqual(campaignReasons.spamdetected, "Refused")
    assert.strictEqual(campaignReasons.onhold, "Not defined")
    assert.strictEqual(campaignReasons.vacation, "Error ignored")
  })

  it("onhold and undefined decide nothing and may be refined", () => {
    assert.isFalse(isExplicitReason("onhold"))
    assert.isFalse(isExplicitReason("undefined"))
    assert.isFalse(isExplicitReason(null))
    assert.isTrue(isExplicitReason("expired"))
    assert.isTrue(refinableReasons.has("userunknown"))
    assert.isFalse(refinableReasons.has("mailboxfull"))
  })
})
