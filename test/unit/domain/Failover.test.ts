// on-failover: Sentinel's client-reconfig-script arguments, and the registry changes
// that make Consul show the new master at once: the promoted node passes as master
// and stops passing as replica, the old master's service checks fail (never the
// agent's serfHealth), and a demoted node fails its own check even when unregistered.
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { type FailoverEvent, failoverRegistry, parseFailoverArgs, type RegisteredInstance } from "../../../src/domain/Failover.ts"
import { at } from "../../support/scenarios.ts"

const args = ["mymaster", "leader", "failover", "10.0.0.5", "6379", "10.0.0.6", "6379"]

describe("parseFailoverArgs", () => {
  it("reads the seven arguments Sentinel passes", () => {
    assert.deepStrictEqual(
      parseFailoverArgs(args),
      Result.succeed({ masterName: "mymaster", role: "leader", state: "failover", from: at("10.0.0.5"), to: at("10.0.0.6") })
    )
  })

  it("too few or too many arguments fail, quoting what was given", () => {
    for (const bad of [args.slice(0, 6), [...args, "extra"], []]) {
      const r = parseFailoverArgs(bad)
      assert.isTrue(Result.isFailure(r), JSON.stringify(bad))
      if (Result.isFailure(r)) assert.include(r.failure, JSON.stringify(bad))
    }
  })

  it("a bad address or port fails", () => {
    const replace = (i: number, v: string) => args.map((a, j) => (j === i ? v : a))
    for (const bad of [replace(3, "10.0.0.256"), replace(3, "redis-1"), replace(5, ""), replace(4, "0"), replace(4, "65536"), replace(6, "6379x"), replace(6, "-1")]) {
      assert.isTrue(Result.isFailure(parseFailoverArgs(bad)), JSON.stringify(bad))
    }
  })
})

const event: FailoverEvent = { masterName: "mymaster", role: "observer", state: "failover", from: at("10.0.0.5"), to: at("10.0.0.6") }
const oldMaster: RegisteredInstance = {
  id: "redis-node-5",
  address: "10.0.0.5",
  port: 6379,
  checkIds: ["service:redis-node-5", "serfHealth"]
}
const base = {
  event,
  masterService: "redis",
  replicaService: "redis-replica",
  registeredMasters: [oldMaster]
}
const ids = (actions: ReturnType<typeof failoverRegistry>) => actions.map((a) => `${a._tag} ${a._tag === "PassOwnMaster" ? a.serviceId : a.checkId}`)

describe("failoverRegistry", () => {
  it("the promoted node, answering as master: passes its own `redis`, fails its own `redis-replica`, fails the old master's checks", () => {
    const actions = failoverRegistry({ ...base, self: at("10.0.0.6"), hostname: "node-6", selfIsMaster: true })
    assert.sameMembers(ids(actions), ["PassOwnMaster redis-node-6", "FailCheck service:redis-replica-node-6", "FailCheck service:redis-node-5"])
    for (const a of actions) assert.include(a.reason, "10.0.0.5:6379 to 10.0.0.6:6379")
  })

  it("the promoted node does not pass as master before its ROLE says so", () => {
    const actions = failoverRegistry({ ...base, self: at("10.0.0.6"), hostname: "node-6", selfIsMaster: false })
    assert.notInclude(ids(actions), "PassOwnMaster redis-node-6")
    assert.include(ids(actions), "FailCheck service:redis-node-5")
  })

  it("a bystander node only fails the old master's service checks, never serfHealth", () => {
    const actions = failoverRegistry({ ...base, self: at("10.0.0.7"), hostname: "node-7", selfIsMaster: false })
    assert.deepStrictEqual(ids(actions), ["FailCheck service:redis-node-5"])
    assert.include(actions[0]?.reason, "demoted")
  })

  it("every registration of the old master is failed; other masters' registrations are left alone", () => {
    const again: RegisteredInstance = { id: "redis-node-5b", address: "10.0.0.5", port: 6379, checkIds: ["service:redis-node-5b"] }
    const unrelated: RegisteredInstance = { id: "redis-node-8", address: "10.0.0.8", port: 6379, checkIds: ["service:redis-node-8"] }
    const otherPort: RegisteredInstance = { id: "redis-node-5p", address: "10.0.0.5", port: 6380, checkIds: ["service:redis-node-5p"] }
    const actions = failoverRegistry({ ...base, registeredMasters: [oldMaster, again, unrelated, otherPort], self: at("10.0.0.7"), hostname: "node-7", selfIsMaster: false })
    assert.sameMembers(ids(actions), ["FailCheck service:redis-node-5", "FailCheck service:redis-node-5b"])
  })

  it("the demoted node fails its own `redis` check even when no registration of it was found", () => {
    const actions = failoverRegistry({ ...base, registeredMasters: [], self: at("10.0.0.5"), hostname: "node-5", selfIsMaster: false })
    assert.deepStrictEqual(ids(actions), ["FailCheck service:redis-node-5"])
  })

  it("the demoted node with its registration found fails that registration's checks once", () => {
    const actions = failoverRegistry({ ...base, self: at("10.0.0.5"), hostname: "node-5", selfIsMaster: false })
    assert.deepStrictEqual(ids(actions), ["FailCheck service:redis-node-5"])
  })

  it("uses SERVICE_NAME-derived names", () => {
    const actions = failoverRegistry({
      ...base,
      masterService: "cache",
      replicaService: "cache-replica",
      registeredMasters: [],
      self: at("10.0.0.6"),
      hostname: "node-6",
      selfIsMaster: true
    })
    assert.sameMembers(ids(actions), ["PassOwnMaster cache-node-6", "FailCheck service:cache-replica-node-6"])
  })
})
