// Health verdicts: `health master|replica` passes only when the node's real ROLE
// matches the service whose check runs (a replica only with its link up), the
// sentinel check passes only while it monitors MASTER_NAME, and the founding master's
// bootstrap lock is renewed, released, forgotten or left to lapse.
import { assert, describe, it } from "@effect/vitest"
import { bootstrapLockCare, type ExpectedRole, roleVerdict, sentinelVerdict, type Verdict } from "../../../src/domain/Health.ts"
import { type ReplicaLinkState, type RoleReply } from "../../../src/domain/RedisReplies.ts"
import { at } from "../../support/scenarios.ts"

const master: RoleReply = { _tag: "Master", offset: 2232, replicas: [{ endpoint: at("10.0.0.2"), offset: 2098 }, { endpoint: at("10.0.0.3"), offset: 2232 }] }
const replica = (state: ReplicaLinkState): RoleReply => ({ _tag: "Replica", master: at("10.0.0.5"), state, offset: 2232 })
const sentinel: RoleReply = { _tag: "Sentinel", masters: ["mymaster"] }

describe("roleVerdict", () => {
  const table: ReadonlyArray<readonly [ExpectedRole, RoleReply, boolean, string]> = [
    ["master", master, true, "2 connected replica(s)"],
    ["replica", master, false, "this node is master"],
    ["master", replica("connected"), false, "replica of 10.0.0.5:6379"],
    ["replica", replica("connected"), true, "replica of 10.0.0.5:6379, link up"],
    ...(["connect", "connecting", "handshake", "sync", "unknown"] as const).flatMap((state) => [
      ["replica", replica(state), false, `link ${state}`] as const,
      ["master", replica(state), false, "not master"] as const
    ]),
    ["master", sentinel, false, "Sentinel answered"],
    ["replica", sentinel, false, "Sentinel answered"]
  ]

  for (const [expected, role, pass, phrase] of table) {
    const label = role._tag === "Replica" ? `Replica(${role.state})` : role._tag
    it(`health ${expected} on a ${label}: ${pass ? "pass" : "fail"}`, () => {
      const v = roleVerdict(expected, role)
      assert.strictEqual(v.pass, pass)
      assert.include(v.reason, phrase)
    })
  }

  it("a master with no replica still passes as master", () => {
    assert.deepStrictEqual(roleVerdict("master", { _tag: "Master", offset: 0, replicas: [] }), { pass: true, reason: "master with 0 connected replica(s)" })
  })
})

describe("sentinelVerdict", () => {
  it("passes while it monitors MASTER_NAME, even when the master is flagged down", () => {
    const v = sentinelVerdict("mymaster", { endpoint: at("10.0.0.5"), flags: ["s_down", "master"], replicas: 2, otherSentinels: 2, quorum: 2 })
    assert.isTrue(v.pass)
    assert.include(v.reason, "mymaster at 10.0.0.5:6379")
    assert.include(v.reason, "s_down,master")
  })

  it("fails when the sentinel does not monitor MASTER_NAME", () => {
    assert.deepStrictEqual(sentinelVerdict("mymaster", null), { pass: false, reason: "Sentinel does not monitor mymaster" })
  })
})

describe("bootstrapLockCare", () => {
  const pass: Verdict = { pass: true, reason: "master with 0 connected replica(s)" }
  const fail: Verdict = { pass: false, reason: "this node is a replica of 10.0.0.5:6379, not master" }
  const self = at("10.0.0.1")

  it("lock no longer held by this session: forget it (nothing to renew or release)", () => {
    for (const verdict of [pass, fail]) {
      for (const registeredPassing of [true, false]) {
        assert.strictEqual(bootstrapLockCare({ verdict, stillHeld: false, registeredPassing, self })._tag, "Forget")
      }
    }
  })

  it("held but this node is not master: let the session lapse, saying why", () => {
    const care = bootstrapLockCare({ verdict: fail, stillHeld: true, registeredPassing: true, self })
    assert.strictEqual(care._tag, "LetLapse")
    assert.include(care.reason, "replica of 10.0.0.5:6379")
  })

  it("held, master, not yet passing in Consul: keep renewing so no one founds a second cluster", () => {
    assert.strictEqual(bootstrapLockCare({ verdict: pass, stillHeld: true, registeredPassing: false, self })._tag, "Renew")
  })

  it("held, master, passing in Consul: release, naming this node", () => {
    const care = bootstrapLockCare({ verdict: pass, stillHeld: true, registeredPassing: true, self })
    assert.strictEqual(care._tag, "Release")
    assert.include(care.reason, "10.0.0.1:6379")
  })
})
