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
      ["+failover-end", "mymaster 10.0.0.11 6379 10.0.0.12 6379"],
      ["+switch-master", "othermaster 10.0.0.11 6379 10.0.0.12 6379"],
      ["+switch-master", "mymaster 10.0.0.11 6379 10.0.0.12"],
      ["+switch-master", "mymaster 10.0.0.11 6379 10.0.0.12 99999"],
      ["+switch-master", "mymaster host-a 6379 10.0.0.12 6379"],
      ["+switch-master", "mymaster 10.0.0.11 6379 10.0.0.12 6379 extra"],
      ["+switch-master", "mymaster"],
      ["+switch-master", "mymaster 10.0.0.11"],
      ["+switch-master", "mymaster 10.0.0.11 6379"],
      ["+switch-master", "mymaster 10.0.0.11 6379 host-b 6379"],
      ["+switch-master", "mymaster 10.0.0.11 0 10.0.0.12 6379"],
      ["+switch-master", "mymaster 10.0.0.11 6379 10.0.0.12 0"],
      ["+switch-master", "mymaster 10.0.0.11 65536 10.0.0.12 6379"],
      ["+switch-master", "mymaster 10.0.0.11 6379 10.0.0.12 65536"],
      ["+switch-master", "mymaster 10.0.0.11 63790 10.0.0.12 6379x"],
      ["+switch-master", "mymaster 10.0.0.11 6379 10.0.0.12 x6379"],
      ["+switch-master", "mymaster 10.0.0.11 123456 10.0.0.12 6379"],
      ["+switch-master", "mymaster 10.0.0.11  10.0.0.12 6379"]
    ] as const) {
      assert.isTrue(Option.isNone(parseSwitchMaster(channel, message, "mymaster")), `${channel} ${message}`)
    }
  })
})

describe("parseSwitchMaster, ports", () => {
  it("takes every port from 1 to 65535, on either side", () => {
    for (const [from, to] of [[1, 65_535], [65_535, 1], [6379, 26379]] as const) {
      assert.deepStrictEqual(
        parseSwitchMaster("+switch-master", `mymaster 10.0.0.11 ${from} 10.0.0.12 ${to}`, "mymaster"),
        Option.some({ from: at("10.0.0.11", from), to: at("10.0.0.12", to) })
      )
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
    const ac = { from: at("10.0.0.11"), to: at("10.0.0.13") }
    const cb = { from: at("10.0.0.13"), to: at("10.0.0.12") }
    assert.isTrue(isNewSwitch(Option.some(ab), ac), "the same old master, another new one")
    assert.isTrue(isNewSwitch(Option.some(ab), cb), "another old master, the same new one")
  })
})
