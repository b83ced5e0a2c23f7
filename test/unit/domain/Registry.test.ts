// Keeping Consul true to the node (DESIGN.md §1, §3): every check's status is compared
// with its verdict and corrected; a registration Consul lost comes back when it
// passes or existed before (ContainerPilot never re-registers); another node's
// passing master check is failed only while this node is the master, and always
// before this node's own check passes, so Consul never shows two masters.
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { type CheckStatus } from "../../../src/domain/ConsulNames.ts"
import { type CheckName, type Verdict } from "../../../src/domain/Health.ts"
import { decideRegistry, ownServices, type RegistryAction, type RegistryView } from "../../../src/domain/Registry.ts"

const own = ownServices({
  masterService: "redis",
  replicaService: "redis-replica",
  sentinelService: "redis-sentinel",
  hostname: "node-1",
  redisPort: 6379,
  sentinelPort: 26379
})

const verdict = (pass: boolean): Verdict => ({ pass, reason: pass ? "why it passes" : "why it fails" })
const asMaster = { master: verdict(true), replica: verdict(false), sentinel: verdict(true) }
const asReplica = { master: verdict(false), replica: verdict(true), sentinel: verdict(true) }

const view = (overrides: Partial<RegistryView> = {}): RegistryView => ({
  verdicts: asReplica,
  agentChecks: new Map(),
  everRegistered: new Set(),
  otherPassingMasters: [],
  ...overrides
})

const checks = (entries: Partial<Record<CheckName, CheckStatus>>): ReadonlyMap<string, CheckStatus> =>
  new Map(Object.entries(entries).map(([check, status]) => [own[check as CheckName].checkId, status]))

const tags = (actions: ReadonlyArray<RegistryAction>) =>
  actions.map((a) => (a._tag === "FailOther" ? `FailOther ${a.checkId}` : `${a._tag} ${a.check} ${a.status}`))

describe("ownServices", () => {
  it("names this node's services and checks as ContainerPilot does: <job>-<hostname>, service:<id>", () => {
    assert.deepStrictEqual(own.master, { check: "master", service: "redis", serviceId: "redis-node-1", checkId: "service:redis-node-1", port: 6379 })
    assert.strictEqual(own.replica.checkId, "service:redis-replica-node-1")
    assert.deepStrictEqual([own.sentinel.serviceId, own.sentinel.port], ["redis-sentinel-node-1", 26379])
  })
})

describe("decideRegistry", () => {
  it("nothing to do when Consul already shows every verdict", () => {
    assert.deepStrictEqual(decideRegistry(own, view({ agentChecks: checks({ master: "critical", replica: "passing", sentinel: "passing" }) })), [])
  })

  it("a check whose status differs from its verdict is set, with the verdict's reason", () => {
    const actions = decideRegistry(own, view({ verdicts: asMaster, agentChecks: checks({ master: "critical", replica: "passing", sentinel: "passing" }) }))
    assert.deepStrictEqual(tags(actions), ["Set replica critical", "Set master passing"])
    assert.strictEqual(actions[1]?.reason, "why it passes")
  })

  it("a warning counts as not passing", () => {
    assert.deepStrictEqual(tags(decideRegistry(own, view({ agentChecks: checks({ master: "critical", replica: "warning", sentinel: "passing" }) }))), ["Set replica passing"])
  })

  it("Consul lost everything: what passes is registered passing; a failing role that never existed stays unregistered", () => {
    assert.deepStrictEqual(tags(decideRegistry(own, view())), ["Register replica passing", "Register sentinel passing"])
  })

  it("a failing registration that existed before is restored, critical (the failing role stays registered)", () => {
    assert.deepStrictEqual(
      tags(decideRegistry(own, view({ everRegistered: new Set<CheckName>(["master", "replica", "sentinel"]) }))),
      ["Register master critical", "Register replica passing", "Register sentinel passing"]
    )
  })

  it("the master fails another node's passing master check, first of all", () => {
    const actions = decideRegistry(own, view({
      verdicts: asMaster,
      agentChecks: checks({ replica: "passing", sentinel: "passing" }),
      otherPassingMasters: [{ checkId: "service:redis-node-2", at: "10.0.0.12:6379" }]
    }))
    assert.deepStrictEqual(tags(actions), ["FailOther service:redis-node-2", "Set replica critical", "Register master passing"])
    assert.include(actions[0]?.reason ?? "", "10.0.0.12:6379 is not")
  })

  it("a node that is not master never fails another's master check", () => {
    const actions = decideRegistry(own, view({ otherPassingMasters: [{ checkId: "service:redis-node-2", at: "10.0.0.12:6379" }] }))
    assert.isFalse(actions.some((a) => a._tag === "FailOther"))
  })

  it("whatever the inputs: failing comes before passing, and another's check is failed only when this node passes as master", () => {
    const status = fc.constantFrom<CheckStatus>("passing", "warning", "critical")
    const maybe = fc.option(status, { nil: undefined })
    fc.assert(fc.property(fc.boolean(), fc.boolean(), fc.boolean(), maybe, maybe, maybe, fc.subarray<CheckName>(["master", "replica", "sentinel"]), fc.boolean(), (m, r, s, cm, cr, cs, ever, other) => {
      const entries: Partial<Record<CheckName, CheckStatus>> = {}
      if (cm !== undefined) entries.master = cm
      if (cr !== undefined) entries.replica = cr
      if (cs !== undefined) entries.sentinel = cs
      const actions = decideRegistry(own, view({
        verdicts: { master: verdict(m), replica: verdict(r), sentinel: verdict(s) },
        agentChecks: checks(entries),
        everRegistered: new Set(ever),
        otherPassingMasters: other ? [{ checkId: "service:redis-node-2", at: "10.0.0.12:6379" }] : []
      }))
      const firstPass = actions.findIndex((a) => a._tag !== "FailOther" && a.status === "passing")
      const lastFail = actions.findLastIndex((a) => a._tag === "FailOther" || a.status !== "passing")
      const failsOther = actions.some((a) => a._tag === "FailOther")
      return (firstPass === -1 || lastFail < firstPass) && failsOther === (m && other)
    }), { numRuns: 1000 })
  })
})

describe("decideRegistry: order", () => {
  it("a promoted node fails the other master, then its own stale checks, and passes its own master check last", () => {
    const actions = decideRegistry(own, view({
      verdicts: asMaster,
      agentChecks: checks({ master: "critical", replica: "passing", sentinel: "passing" }),
      otherPassingMasters: [{ checkId: "service:redis-node-2", at: "10.0.0.12:6379" }]
    }))
    assert.deepStrictEqual(tags(actions), ["FailOther service:redis-node-2", "Set replica critical", "Set master passing"])
  })
})
