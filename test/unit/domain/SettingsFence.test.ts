// FENCE_AFTER as Settings reads it (README, "Fencing"): 2 s by default and never as
// long as SENTINEL_DOWN_AFTER, 0s turns the fence off, and a value that would let the
// old master acknowledge writes after Sentinel may have promoted another is refused.
import { assert, describe, it } from "@effect/vitest"
import { Duration, Option } from "effect"
import { settingsFrom } from "../../support/scenarios.ts"

const fenceMs = (env: Readonly<Record<string, string>>) => Option.map(settingsFrom(env).redis.fenceAfter, Duration.toMillis)

describe("FENCE_AFTER", () => {
  it("given: used as is; 0s: no fence", () => {
    assert.deepStrictEqual(fenceMs({ FENCE_AFTER: "1500ms" }), Option.some(1_500))
    assert.deepStrictEqual(fenceMs({ FENCE_AFTER: "0s" }), Option.none())
  })

  it("not given: 2 s, or half of a short SENTINEL_DOWN_AFTER", () => {
    assert.deepStrictEqual(fenceMs({}), Option.some(2_000))
    assert.deepStrictEqual(fenceMs({ SENTINEL_DOWN_AFTER: "3s" }), Option.some(1_500))
  })

  it("as long as SENTINEL_DOWN_AFTER or longer: refused, naming both and the down-after in force", () => {
    assert.throws(() => settingsFrom({ FENCE_AFTER: "5s" }), /FENCE_AFTER.*0s or shorter than SENTINEL_DOWN_AFTER \(5s\)/)
    assert.throws(() => settingsFrom({ FENCE_AFTER: "4s", SENTINEL_DOWN_AFTER: "3s" }), /shorter than SENTINEL_DOWN_AFTER \(3s\)/)
    assert.doesNotThrow(() => settingsFrom({ FENCE_AFTER: "2999ms", SENTINEL_DOWN_AFTER: "3s" }))
  })
})
