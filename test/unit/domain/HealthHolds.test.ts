// How long a verdict holds without a confirming look, and when a look may stop waiting
// for the slowest sentinels: a pass outliving its evidence would keep a master in
// Consul (and writable) after it lost the sentinels; a verdict decided too early would
// let one silent sentinel's absence be read as agreement.
import { assert, describe, it } from "@effect/vitest"
import { Option } from "effect"
import { asOf, type CheckState, decidedEarly, holdsOf } from "../../../src/domain/Health.ts"
import { at } from "../../support/scenarios.ts"

describe("asOf", () => {
  const passing: CheckState = { pass: true, reason: "master with 2 replicas", since: 1_000, confirmedAt: 5_000 }

  it("a pass confirmed within its hold stands, exactly up to the hold", () => {
    assert.deepStrictEqual(asOf(passing, 7_000, 2_000, "lapsed"), passing)
  })

  it("a pass unconfirmed beyond its hold has lapsed: failing from then, with why, its confirmation kept", () => {
    const lapsed = asOf(passing, 7_001, 2_000, "not confirmed for 2s")
    assert.isFalse(lapsed.pass)
    assert.match(lapsed.reason, /not confirmed for 2s/)
    assert.strictEqual(lapsed.since, 7_001)
    assert.strictEqual(lapsed.confirmedAt, 5_000)
  })

  it("a failing verdict is never touched", () => {
    const failing: CheckState = { ...passing, pass: false }
    assert.deepStrictEqual(asOf(failing, 60_000, 2_000, "lapsed"), failing)
  })
})

describe("holdsOf", () => {
  it("the master's pass holds for FENCE_AFTER (the fence's lease), the others one HEALTH_INTERVAL", () => {
    assert.deepStrictEqual(holdsOf(5_000, Option.some(2_000)), { master: 2_000, replica: 5_000, sentinel: 5_000 })
  })

  it("with the fence off, the master's holds one HEALTH_INTERVAL too", () => {
    assert.deepStrictEqual(holdsOf(5_000, Option.none()), { master: 5_000, replica: 5_000, sentinel: 5_000 })
  })
})

describe("decidedEarly", () => {
  const a = Option.some(at("10.0.0.5"))
  const b = Option.some(at("10.0.0.6"))

  it("decided once one master is named by more than half of the sentinels known", () => {
    assert.isTrue(decidedEarly([a, a], 3))
    assert.isTrue(decidedEarly([a, a, a], 5))
  })

  it("not yet at exactly half, on a split, or with only silence", () => {
    assert.isFalse(decidedEarly([a, a], 4))
    assert.isFalse(decidedEarly([a, b], 3))
    assert.isFalse(decidedEarly([a], 3))
    assert.isFalse(decidedEarly([Option.none(), Option.none()], 3))
  })
})
