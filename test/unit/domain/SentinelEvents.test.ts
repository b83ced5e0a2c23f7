// Sentinel's `+switch-master` as the agent reads it: the old and new master of
// MASTER_NAME, and one failover counted once although every sentinel announces it.
import { assert, describe, it } from "@effect/vitest"
import { Option } from "effect"
import { isNewSwitch, parseSwitchMaster } from "../../../src/domain/SentinelEvents.ts"
import { at } from "../../support/scenarios.ts"

describe("parseSwitchMaster", () => {
  it("reads `<name> <old-ip> <old-port> <new-ip> <new-port>`", () => {
    assert.deepStrictEqual(parseSwitchMaster("+switch-master", "mymaster 10.0.0.11 6379 10.0.0.12 6380", "mymaster"), Option.some({ from: at("10.0.0.11"), to: at("10.0.0.12", 6380) }))
  })

  it("ignores other events, other masters and malformed messages", () => {
    for (const [channel, message] of [
      ["+sdown", "master mymaster 10.0.0.11 6379"],
      ["+switch-master", "othermaster 10.0.0.11 6379 10.0.0.12 6379"],
      ["+switch-master", "mymaster 10.0.0.11 6379 10.0.0.12"],
      ["+switch-master", "mymaster 10.0.0.11 6379 10.0.0.12 99999"],
      ["+switch-master", "mymaster host-a 6379 10.0.0.12 6379"],
      ["+switch-master", "mymaster 10.0.0.11 6379 10.0.0.12 6379 extra"]
    ] as const) {
      assert.isTrue(Option.isNone(parseSwitchMaster(channel, message, "mymaster")), `${channel} ${message}`)
    }
  })
})

describe("isNewSwitch", () => {
  const ab = { from: at("10.0.0.11"), to: at("10.0.0.12") }
  const ba = { from: at("10.0.0.12"), to: at("10.0.0.11") }

  it("the same switch told by another sentinel is not new; the next failover is", () => {
    assert.isTrue(isNewSwitch(Option.none(), ab))
    assert.isFalse(isNewSwitch(Option.some(ab), ab))
    assert.isTrue(isNewSwitch(Option.some(ab), ba))
    assert.isTrue(isNewSwitch(Option.some(ba), ab), "failing back to an earlier master is a new failover")
  })
})
