// The periods the agent keeps its local Sentinel at (SENTINEL DEBUG): what it sets on a
// sentinel that runs Redis's defaults (a restarted one), nothing on one already tuned,
// whatever case Sentinel spells the names in.
import { assert, describe, it } from "@effect/vitest"
import { periodChanges, sentinelPeriods } from "../../../src/domain/SentinelTuning.ts"

describe("periodChanges", () => {
  const defaults = { "INFO-PERIOD": 10_000, "PING-PERIOD": 1000, "TILT-PERIOD": 30_000, "ASK-PERIOD": 1000 }

  it("a sentinel on Redis's defaults gets every period of the table, and only those", () => {
    assert.deepStrictEqual(periodChanges(defaults), [["info-period", 1000], ["ping-period", 500], ["tilt-period", 5000]])
    for (const p of Object.values(sentinelPeriods)) assert.notStrictEqual(p.value, p.sentinelDefault)
  })

  it("a tuned sentinel gets nothing; one period off gets that one back", () => {
    const tuned = { "INFO-PERIOD": 1000, "PING-PERIOD": 500, "TILT-PERIOD": 5000 }
    assert.deepStrictEqual(periodChanges(tuned), [])
    assert.deepStrictEqual(periodChanges({ ...tuned, "PING-PERIOD": 1000 }), [["ping-period", 500]])
    assert.deepStrictEqual(periodChanges({ "info-period": 1000, "ping-period": 500, "tilt-period": 5000 }), [])
  })

  it("a sentinel that reports nothing gets every period", () => {
    assert.lengthOf(periodChanges({}), 3)
  })
})
