// decideRole (DESIGN.md §5) branch by branch over named scenarios, then its safety
// invariants as fast-check properties over arbitrary observations (random self,
// sentinel reports incl. None, registrations, probes incl. stale entries for self,
// lock state, local data). Every decision's tag, target and reason are asserted.
import { assert, describe, it } from "@effect/vitest"
import { Option } from "effect"
import fc from "fast-check"
import { type Endpoint, formatEndpoint, sameEndpoint } from "../../../src/domain/Endpoint.ts"
import {
  decideRole,
  type LockState,
  type ProbedRole,
  type RoleDecision,
  type RoleObservation,
  sentinelMajority
} from "../../../src/domain/RoleDecision.ts"
import {
  afterFailover,
  answersMaster,
  answersReplicaOf,
  at,
  emptyDataDir,
  lockHeldBy,
  lockHeldBySelf,
  masterAt,
  noMaster,
  registeredMaster,
  SELF,
  sentinelsReport,
  silent,
  withData,
  withLock
} from "../../support/scenarios.ts"

const self = formatEndpoint(at(SELF))

const expectReplicaOf = (d: RoleDecision, host: string, port = 6379): string => {
  assert.strictEqual(d._tag, "StartAsReplica", d.reason)
  if (d._tag !== "StartAsReplica") return ""
  assert.deepStrictEqual(d.master, at(host, port))
  assert.include(d.reason, `${host}:${port}`)
  return d.reason
}

const expectMaster = (d: RoleDecision, founding: boolean): string => {
  assert.strictEqual(d._tag, "StartAsMaster", d.reason)
  if (d._tag !== "StartAsMaster") return ""
  assert.strictEqual(d.founding, founding)
  assert.include(d.reason, self)
  return d.reason
}

const expectTag = (d: RoleDecision, tag: "Wait" | "AcquireLock"): string => {
  assert.strictEqual(d._tag, tag, d.reason)
  return d.reason
}

describe("decideRole: a sentinel majority names the master", () => {
  it("names another node that answers as master: start as its replica", () => {
    const reason = expectReplicaOf(decideRole(masterAt("10.0.0.5")), "10.0.0.5")
    assert.include(reason, "3 of 3 sentinels")
  })

  it("after a failover, follows the promoted node even while the old master is still registered", () => {
    const reason = expectReplicaOf(decideRole(afterFailover("10.0.0.5", "10.0.0.6")), "10.0.0.6")
    assert.notInclude(reason, "10.0.0.5")
  })

  it("follows Sentinel's master even when a second node also answers as master", () => {
    expectReplicaOf(decideRole(masterAt("10.0.0.5", answersMaster("10.0.0.6"))), "10.0.0.5")
  })

  it("2 of 3 sentinels are enough; the tally is in the reason", () => {
    const d = decideRole(noMaster(sentinelsReport("10.0.0.5", "10.0.0.5", null), answersMaster("10.0.0.5")))
    assert.include(expectReplicaOf(d, "10.0.0.5"), "2 of 3 sentinels")
  })

  it("names another node that does not answer: wait for Sentinel to fail over, never found or follow", () => {
    const d = decideRole(noMaster(sentinelsReport("10.0.0.5", "10.0.0.5", "10.0.0.5"), silent("10.0.0.5")))
    const reason = expectTag(d, "Wait")
    assert.include(reason, "10.0.0.5:6379")
    assert.include(reason, "does not answer")
  })

  it("names another node that answers only as a replica (demoted): wait", () => {
    const d = decideRole(noMaster(sentinelsReport("10.0.0.5", "10.0.0.5", "10.0.0.5"), answersReplicaOf("10.0.0.5", "10.0.0.6")))
    assert.include(expectTag(d, "Wait"), "10.0.0.5:6379")
  })

  it("names another node that was never probed: wait, even with the lock free and local data", () => {
    const d = decideRole(noMaster(sentinelsReport("10.0.0.5", "10.0.0.5"), withData()))
    assert.include(expectTag(d, "Wait"), "10.0.0.5:6379")
  })

  it("names this node and it holds data (quick restart): resume as master, not founding", () => {
    const d = decideRole(noMaster(sentinelsReport(SELF, SELF, SELF), answersReplicaOf("10.0.0.2", SELF), withData()))
    const reason = expectMaster(d, false)
    assert.include(reason, "3 of 3 sentinels report this node master")
    assert.include(reason, "holds a dataset")
  })

  it("names this node, empty data dir, replicas answer: wait for a promotion, never an empty master", () => {
    const d = decideRole(
      noMaster(sentinelsReport(SELF, SELF, SELF), answersReplicaOf("10.0.0.2", SELF), answersReplicaOf("10.0.0.3", SELF), emptyDataDir(), withLock(lockHeldBySelf))
    )
    const reason = expectTag(d, "Wait")
    assert.include(reason, "10.0.0.2:6379")
    assert.include(reason, "10.0.0.3:6379")
    assert.include(reason, "empty")
  })

  it("names this node, empty data dir, no replica at all, lock free: take the bootstrap lock", () => {
    const d = decideRole(noMaster(sentinelsReport(SELF, SELF, SELF), emptyDataDir()))
    assert.include(expectTag(d, "AcquireLock"), "no replica exists")
  })

  it("names this node, empty data dir, no replica, this node holds the lock: found the cluster anew", () => {
    const d = decideRole(noMaster(sentinelsReport(SELF, SELF, SELF), emptyDataDir(), withLock(lockHeldBySelf)))
    assert.include(expectMaster(d, true), "bootstrap lock")
  })

  it("names this node, empty data dir, no replica, another node holds the lock: wait naming the holder", () => {
    const d = decideRole(noMaster(sentinelsReport(SELF, SELF, SELF), emptyDataDir(), withLock(lockHeldBy("node-3"))))
    assert.include(expectTag(d, "Wait"), "node-3")
  })

  it("names this node but another node answers as master: wait for Sentinel to settle, even with local data", () => {
    const d = decideRole(noMaster(sentinelsReport(SELF, SELF, SELF), answersMaster("10.0.0.5"), withData()))
    const reason = expectTag(d, "Wait")
    assert.include(reason, "10.0.0.5:6379")
    assert.include(reason, "answers as master")
  })
})

describe("decideRole: no sentinel majority", () => {
  it("exactly one other node answers as master: start as its replica", () => {
    const reason = expectReplicaOf(decideRole(noMaster(answersMaster("10.0.0.5"), withLock(lockHeldBySelf), withData())), "10.0.0.5")
    assert.include(reason, "no sentinel majority")
  })

  it("a split sentinel vote does not hide the one live master", () => {
    const d = decideRole(noMaster(sentinelsReport("10.0.0.5", "10.0.0.6", null), answersMaster("10.0.0.5")))
    expectReplicaOf(d, "10.0.0.5")
  })

  it("two live masters: wait, naming both", () => {
    const d = decideRole(noMaster(answersMaster("10.0.0.5"), answersMaster("10.0.0.6"), withLock(lockHeldBySelf), withData()))
    const reason = expectTag(d, "Wait")
    assert.include(reason, "10.0.0.5:6379")
    assert.include(reason, "10.0.0.6:6379")
  })

  it("a master registered in Consul that does not answer: wait rather than found beside it", () => {
    const d = decideRole(noMaster(registeredMaster("10.0.0.5"), silent("10.0.0.5"), withLock(lockHeldBySelf), withData()))
    const reason = expectTag(d, "Wait")
    assert.include(reason, "10.0.0.5:6379")
    assert.include(reason, "Consul")
  })

  it("this node's own stale registration does not block founding", () => {
    expectTag(decideRole(noMaster(registeredMaster(SELF))), "AcquireLock")
  })

  it("replicas answer but no master: wait for a promotion, never found a second cluster", () => {
    const d = decideRole(noMaster(answersReplicaOf("10.0.0.2", "10.0.0.5"), silent("10.0.0.5"), withLock(lockHeldBySelf), withData()))
    const reason = expectTag(d, "Wait")
    assert.include(reason, "10.0.0.2:6379")
    assert.include(reason, "replicas")
  })

  it("nothing anywhere, lock free: take the bootstrap lock", () => {
    assert.include(expectTag(decideRole(noMaster()), "AcquireLock"), "no master exists")
  })

  it("nothing anywhere, lock held by another node: wait naming the holder", () => {
    const reason = expectTag(decideRole(noMaster(withLock(lockHeldBy("node-2")))), "Wait")
    assert.include(reason, "node-2")
    assert.include(reason, "bootstrap lock")
  })

  it("nothing anywhere, this node holds the lock: found the cluster", () => {
    assert.include(expectMaster(decideRole(noMaster(withLock(lockHeldBySelf))), true), "no master exists")
  })

  it("founding does not depend on local data (a restored or surviving dataset is kept)", () => {
    expectMaster(decideRole(noMaster(withLock(lockHeldBySelf), withData())), true)
  })

  it("unreachable peers alone do not stop a founding", () => {
    expectMaster(decideRole(noMaster(silent("10.0.0.2"), silent("10.0.0.3"), withLock(lockHeldBySelf))), true)
  })

  it("a stale ROLE answer for this node's own address is ignored", () => {
    expectTag(decideRole(noMaster(answersMaster(SELF))), "AcquireLock")
  })

  it("the same host on another port is another node", () => {
    const d = decideRole(noMaster((o) => ({ ...o, probes: [{ endpoint: at(SELF, 6380), role: { _tag: "Master" } }] })))
    expectReplicaOf(d, SELF, 6380)
  })
})

describe("sentinelMajority", () => {
  const A = at("10.0.0.5")
  const B = at("10.0.0.6")
  const report = (...hosts: ReadonlyArray<Endpoint | null>) => hosts.map((h) => (h === null ? Option.none() : Option.some(h)))

  it("2 of 3 is a majority, with votes and denominator", () => {
    assert.deepStrictEqual(sentinelMajority(report(A, A, B)), Option.some({ master: A, votes: 2, of: 3 }))
  })

  it("sentinels that did not answer count in the denominator", () => {
    assert.isTrue(Option.isNone(sentinelMajority(report(A, null, null))))
    assert.deepStrictEqual(sentinelMajority(report(A, A, null)), Option.some({ master: A, votes: 2, of: 3 }))
  })

  it("1 of 2 is not a majority, whether the other disagrees or is silent", () => {
    assert.isTrue(Option.isNone(sentinelMajority(report(A, B))))
    assert.isTrue(Option.isNone(sentinelMajority(report(A, null))))
  })

  it("a tie is not a majority", () => {
    assert.isTrue(Option.isNone(sentinelMajority(report(A, A, B, B))))
  })

  it("no sentinels: no majority; a lone sentinel is its own majority", () => {
    assert.isTrue(Option.isNone(sentinelMajority([])))
    assert.deepStrictEqual(sentinelMajority(report(A)), Option.some({ master: A, votes: 1, of: 1 }))
  })

  it("reports of the same host on different ports are different masters", () => {
    assert.isTrue(Option.isNone(sentinelMajority(report(A, at("10.0.0.5", 6380)))))
  })
})

// ---------------------------------------------------------------------------
// Properties

const hosts = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"] as const
const endpointArb: fc.Arbitrary<Endpoint> = fc.record({
  host: fc.constantFrom(...hosts),
  port: fc.oneof({ arbitrary: fc.constant(6379), weight: 9 }, { arbitrary: fc.constant(6380), weight: 1 })
})
const roleArb: fc.Arbitrary<ProbedRole> = fc.oneof(
  fc.constant<ProbedRole>({ _tag: "Master" }),
  endpointArb.map((master): ProbedRole => ({ _tag: "Replica", master })),
  fc.constant<ProbedRole>({ _tag: "Unreachable" })
)
const lockArb: fc.Arbitrary<LockState> = fc.oneof(
  fc.constant<LockState>({ _tag: "Free" }),
  fc.constant<LockState>({ _tag: "HeldBySelf" }),
  fc.constantFrom("node-2", "node-3").map((holder): LockState => ({ _tag: "HeldByOther", holder }))
)
const observationArb: fc.Arbitrary<RoleObservation> = fc.record({
  self: endpointArb,
  sentinelReports: fc.array(fc.option(endpointArb, { freq: 4 }).map((e) => Option.fromNullishOr(e)), { maxLength: 5 }),
  registeredMasters: fc.array(endpointArb, { maxLength: 3 }),
  probes: fc.array(fc.record({ endpoint: endpointArb, role: roleArb }), { maxLength: 6 }),
  lock: lockArb,
  localData: fc.boolean()
})

const others = (o: RoleObservation) => o.probes.filter((p) => !sameEndpoint(p.endpoint, o.self))
const anotherAnswers = (o: RoleObservation, tag: ProbedRole["_tag"]) => others(o).some((p) => p.role._tag === tag)
const runs = { numRuns: 1000 }

describe("decideRole: invariants over arbitrary observations", () => {
  it("the generator reaches every decision (so the properties below are not vacuous)", () => {
    const seen = new Set<string>()
    for (const o of fc.sample(observationArb, { numRuns: 5000, seed: 42 })) {
      const d = decideRole(o)
      seen.add(d._tag === "StartAsMaster" ? `StartAsMaster/${d.founding}` : d._tag)
    }
    assert.sameMembers([...seen], ["StartAsMaster/true", "StartAsMaster/false", "StartAsReplica", "AcquireLock", "Wait"])
  })

  it("(1) never StartAsMaster without local data while another node answers as a replica", () => {
    fc.assert(
      fc.property(observationArb, (o) => {
        const d = decideRole(o)
        return !(d._tag === "StartAsMaster" && !o.localData && anotherAnswers(o, "Replica"))
      }),
      runs
    )
  })

  it("(2) never founds (StartAsMaster founding) unless this node holds the bootstrap lock", () => {
    fc.assert(
      fc.property(observationArb, (o) => {
        const d = decideRole(o)
        return !(d._tag === "StartAsMaster" && d.founding) || o.lock._tag === "HeldBySelf"
      }),
      runs
    )
  })

  it("(3) never StartAsMaster while another node answers as master", () => {
    fc.assert(
      fc.property(observationArb, (o) => decideRole(o)._tag !== "StartAsMaster" || !anotherAnswers(o, "Master")),
      runs
    )
  })

  it("(4) resumes as master (founding false) only when a sentinel majority names this node and it holds data", () => {
    fc.assert(
      fc.property(observationArb, (o) => {
        const d = decideRole(o)
        if (!(d._tag === "StartAsMaster" && !d.founding)) return true
        const majority = sentinelMajority(o.sentinelReports)
        return o.localData && Option.isSome(majority) && sameEndpoint(majority.value.master, o.self)
      }),
      runs
    )
  })

  it("(5) StartAsReplica always targets another node that answers as master, and names it", () => {
    fc.assert(
      fc.property(observationArb, (o) => {
        const d = decideRole(o)
        if (d._tag !== "StartAsReplica") return true
        return !sameEndpoint(d.master, o.self) &&
          others(o).some((p) => sameEndpoint(p.endpoint, d.master) && p.role._tag === "Master") &&
          d.reason.includes(formatEndpoint(d.master))
      }),
      runs
    )
  })

  it("(6) decisions are deterministic and every reason is a non-empty sentence", () => {
    fc.assert(
      fc.property(observationArb, (o) => {
        const d = decideRole(o)
        assert.deepStrictEqual(decideRole(o), d)
        assert.match(d.reason, /^\S.*\w.*$/s)
        assert.notMatch(d.reason, /undefined|\[object|NaN/)
      }),
      runs
    )
  })

  it("the bootstrap lock is taken only when it is free", () => {
    fc.assert(fc.property(observationArb, (o) => decideRole(o)._tag !== "AcquireLock" || o.lock._tag === "Free"), runs)
  })

  it("a wait caused by another holder of the bootstrap lock names that holder", () => {
    fc.assert(
      fc.property(observationArb, (o) => {
        const d = decideRole(o)
        return !(d._tag === "Wait" && d.reason.includes("bootstrap lock")) || (o.lock._tag === "HeldByOther" && d.reason.includes(o.lock.holder))
      }),
      runs
    )
  })

  it("a sentinel majority naming another node that answers as master always wins: start as its replica", () => {
    fc.assert(
      fc.property(observationArb, (o) => {
        const majority = sentinelMajority(o.sentinelReports)
        if (Option.isNone(majority)) return true
        const m = majority.value.master
        if (sameEndpoint(m, o.self) || !others(o).some((p) => sameEndpoint(p.endpoint, m) && p.role._tag === "Master")) return true
        const d = decideRole(o)
        return d._tag === "StartAsReplica" && sameEndpoint(d.master, m)
      }),
      runs
    )
  })

  it("the order in which observations arrived does not change the decision", () => {
    const withShuffle = observationArb.chain((o) =>
      fc.record({
        o: fc.constant(o),
        shuffled: fc.record({
          self: fc.constant(o.self),
          sentinelReports: fc.shuffledSubarray([...o.sentinelReports], { minLength: o.sentinelReports.length }),
          registeredMasters: fc.shuffledSubarray([...o.registeredMasters], { minLength: o.registeredMasters.length }),
          probes: fc.shuffledSubarray([...o.probes], { minLength: o.probes.length }),
          lock: fc.constant(o.lock),
          localData: fc.constant(o.localData)
        })
      })
    )
    fc.assert(
      fc.property(withShuffle, ({ o, shuffled }) => {
        const a = decideRole(o)
        const b = decideRole(shuffled)
        assert.strictEqual(b._tag, a._tag)
        if (a._tag === "StartAsReplica" && b._tag === "StartAsReplica") assert.deepStrictEqual(b.master, a.master)
        if (a._tag === "StartAsMaster" && b._tag === "StartAsMaster") assert.strictEqual(b.founding, a.founding)
      }),
      runs
    )
  })

  it("what is recorded under this node's own address (stale probes, its own registration) never changes the decision", () => {
    fc.assert(
      fc.property(observationArb, (o) => {
        const withoutSelf: RoleObservation = {
          ...o,
          probes: others(o),
          registeredMasters: o.registeredMasters.filter((e) => !sameEndpoint(e, o.self))
        }
        assert.deepStrictEqual(decideRole(o), decideRole(withoutSelf))
      }),
      runs
    )
  })
})
