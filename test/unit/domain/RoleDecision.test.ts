// decideRole (DESIGN.md §5) branch by branch over named scenarios, then its safety
// invariants as fast-check properties over arbitrary observations (random self,
// sentinel reports incl. None, registrations, probes incl. stale entries for self,
// lock state, local data). Every decision's tag, target and reason are asserted.
import { assert, describe, it } from "@effect/vitest"
import { Option } from "effect"
import fc from "fast-check"
import { type Endpoint, formatEndpoint, sameEndpoint } from "../../../src/domain/Endpoint.ts"
import { type Candidate, compareCandidates, type DataState, decideFounding, type FoundingView, type History } from "../../../src/domain/Founding.ts"
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
  GRACE_MS,
  lockHeldBy,
  lockHeldBySelf,
  masterAt,
  announced,
  candidate,
  heldDataBefore,
  lastMasterWas,
  noMaster,
  sawEarlier,
  watchedFor,
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

const expectTag = (d: RoleDecision, tag: "Wait" | "AcquireLock" | "YieldLock"): string => {
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
    assert.include(expectTag(decideRole(noMaster()), "AcquireLock"), "no master exists and no peer is known to probe")
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
    const reason = expectMaster(decideRole(noMaster(silent("10.0.0.2"), silent("10.0.0.3"), withLock(lockHeldBySelf))), true)
    assert.include(reason, "none of the 2 peer(s) probed answers (10.0.0.2:6379, 10.0.0.3:6379)")
  })

  it("a stale ROLE answer for this node's own address is ignored", () => {
    expectTag(decideRole(noMaster(answersMaster(SELF))), "AcquireLock")
  })

  it("the same host on another port is another node", () => {
    const d = decideRole(noMaster((o) => ({ ...o, probes: [{ endpoint: at(SELF, 6380), role: { _tag: "Master" } }] })))
    expectReplicaOf(d, SELF, 6380)
  })
})

describe("decideRole: founding over data that exists somewhere (no master anywhere)", () => {
  const T = 1_800_000_000_000
  const iso = (ms: number) => new Date(ms).toISOString()

  it("a cluster that never held data: an empty node takes the lock at once, no grace", () => {
    const reason = expectTag(decideRole(noMaster(watchedFor(0))), "AcquireLock")
    assert.include(reason, "data directory is empty")
    assert.include(reason, "never held data (Consul holds no record of it and the backup store holds no backup)")
    assert.include(reason, "no other node has announced itself")
  })

  it("a cluster that held data: an empty node waits, naming the evidence and the grace left", () => {
    const reason = expectTag(decideRole(noMaster(heldDataBefore(), watchedFor(5_000), announced(candidate(2, "empty")))), "Wait")
    assert.include(reason, "data directory is empty and the cluster held data (its record in Consul says so)")
    assert.include(reason, "waiting 15s more of FOUNDING_GRACE (20s)")
    assert.include(reason, "announced: node-2 (10.0.0.2:6379, empty)")
  })

  it("a cluster that held data: once the grace is over with no data holder in sight, an empty node takes the lock", () => {
    const reason = expectTag(decideRole(noMaster(heldDataBefore("the backup store holds backup b1"), watchedFor(GRACE_MS))), "AcquireLock")
    assert.include(reason, "no node holding data showed up within FOUNDING_GRACE (20s)")
    assert.include(reason, "the backup store holds backup b1")
    assert.include(reason, "newest backup")
  })

  it("an empty node never founds while a data holder is announced, even after the grace and on a cluster that never held data", () => {
    for (const history of [heldDataBefore(), (o: RoleObservation) => o]) {
      const reason = expectTag(decideRole(noMaster(history, watchedFor(10 * GRACE_MS), announced(candidate(3, T)))), "Wait")
      assert.include(reason, `node-3 (10.0.0.3:6379, holds data written ${iso(T)})`)
      assert.include(reason, "a data holder founds, this node joins it")
    }
  })

  it("an empty node holding the lock gives it back when a data holder shows up", () => {
    const reason = expectTag(decideRole(noMaster(watchedFor(GRACE_MS), withLock(lockHeldBySelf), announced(candidate(2, T)))), "YieldLock")
    assert.include(reason, "node-2")
    assert.include(reason, "giving the bootstrap lock back")
  })

  it("an empty node that saw a data holder earlier in this start waits for it, even once it is gone", () => {
    const reason = expectTag(decideRole(noMaster(heldDataBefore(), watchedFor(10 * GRACE_MS), sawEarlier(candidate(2, T)))), "Wait")
    assert.include(reason, "node-2 held data when seen earlier in this start")
  })

  it("a data holder founds at once, whatever the record says, when it ranks first", () => {
    const d = decideRole(noMaster(withData(T), heldDataBefore(), announced(candidate(2, "empty"), candidate(3, T - 1000))))
    const reason = expectTag(d, "AcquireLock")
    assert.include(reason, `this node holds data written ${iso(T)} and ranks first`)
    assert.include(reason, "node-3 (10.0.0.3:6379, holds data written")
  })

  it("a data holder with the lock and the best rank founds", () => {
    assert.include(expectMaster(decideRole(noMaster(withData(T), withLock(lockHeldBySelf), announced(candidate(2, "empty")))), true), "holds data")
  })

  it("of two data holders, the newer data founds; the other waits naming it and why", () => {
    const reason = expectTag(decideRole(noMaster(withData(T), announced(candidate(2, T + 5000)))), "Wait")
    assert.include(reason, "node-2 (10.0.0.2:6379, holds data written")
    assert.include(reason, "its data is newer")
  })

  it("the last master seen wins over newer-looking data", () => {
    const reason = expectTag(decideRole(noMaster(withData(T + 60_000), lastMasterWas(2), announced(candidate(2, T)))), "Wait")
    assert.include(reason, "it is the last master seen")
  })

  it("the last master seen, announced empty, does not hold the others back", () => {
    expectTag(decideRole(noMaster(withData(T), lastMasterWas(2), announced(candidate(2, "empty")))), "AcquireLock")
  })

  it("a data holder waits, within the grace, for the last master seen to announce itself; then founds", () => {
    const reason = expectTag(decideRole(noMaster(withData(T), lastMasterWas(2), watchedFor(4_000))), "Wait")
    assert.include(reason, "the last master seen, node-2 (10.0.0.2:6379), has not announced itself")
    assert.include(reason, "16s more of FOUNDING_GRACE (20s)")
    expectTag(decideRole(noMaster(withData(T), lastMasterWas(2), watchedFor(GRACE_MS))), "AcquireLock")
  })

  it("the last master itself, holding data, founds at once", () => {
    expectTag(decideRole(noMaster(withData(T), lastMasterWas(1), watchedFor(0), announced(candidate(2, T + 1)))), "AcquireLock")
  })

  it("two data holders with data of the same age: the lower address founds", () => {
    const reason = expectTag(decideRole(noMaster((o) => ({ ...o, self: at("10.0.0.9") }), withData(T), announced(candidate(2, T)))), "Wait")
    assert.include(reason, "its address is lower")
  })

  it("while another node holds the lock, a deferred founder waits naming the holder and what it saw", () => {
    const reason = expectTag(decideRole(noMaster(heldDataBefore(), watchedFor(1_000), withLock(lockHeldBy("node-4")))), "Wait")
    assert.include(reason, "node-4 holds the bootstrap lock")
    assert.include(reason, "19s more of FOUNDING_GRACE")
  })

  it("the lock still held by a session of this node's previous start: release it, whether or not the rules let this node found", () => {
    for (const o of [noMaster(withLock({ _tag: "HeldByEarlierSelf", session: "s-9" })), noMaster(heldDataBefore(), withLock({ _tag: "HeldByEarlierSelf", session: "s-9" }))]) {
      const d = decideRole(o)
      assert.strictEqual(d._tag, "ReleaseStaleLock", d.reason)
      assert.include(d.reason, "session s-9 of this node's previous start (10.0.0.1:6379)")
    }
    expectReplicaOf(decideRole(masterAt("10.0.0.5", withLock({ _tag: "HeldByEarlierSelf", session: "s-9" }))), "10.0.0.5")
  })

  it("a live master decides before any founding rule: start as its replica, whatever the data", () => {
    expectReplicaOf(decideRole(noMaster(withData(T), answersMaster("10.0.0.5"), announced(candidate(2, T + 1)))), "10.0.0.5")
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
  fc.constantFrom("node-2", "node-3").map((holder): LockState => ({ _tag: "HeldByOther", holder })),
  fc.constant<LockState>({ _tag: "HeldByEarlierSelf", session: "s-old" })
)
const lastWriteArb = fc.option(fc.integer({ min: 1, max: 5 }), { freq: 4 }).map((t) => Option.fromNullishOr(t))
const candidateArb: fc.Arbitrary<Candidate> = fc.record({
  node: fc.constantFrom("node-1", "node-2", "node-3", "node-4"),
  endpoint: endpointArb,
  data: fc.oneof(fc.constant<DataState>({ _tag: "Empty" }), lastWriteArb.map((lastWrite): DataState => ({ _tag: "Held", lastWrite })))
})
const historyArb: fc.Arbitrary<History> = fc.constantFrom<History>(
  { _tag: "NeverHeldData", evidence: "Consul holds no record of it and the backup store holds no backup" },
  { _tag: "HeldData", evidence: "its record in Consul says so" }
)
const foundingArb: fc.Arbitrary<FoundingView> = fc.record({
  node: fc.constantFrom("node-1", "node-2"),
  lastWrite: lastWriteArb,
  others: fc.array(candidateArb, { maxLength: 4 }),
  seenHolders: fc.array(candidateArb.filter((c) => c.data._tag === "Held"), { maxLength: 2 }),
  history: historyArb,
  lastMaster: fc.option(fc.record({ node: fc.constantFrom("node-1", "node-2", "node-3"), endpoint: endpointArb }), { freq: 2 }).map((m) => Option.fromNullishOr(m)),
  watchedMs: fc.integer({ min: 0, max: 2 * GRACE_MS }),
  graceMs: fc.constant(GRACE_MS)
})
const observationArb: fc.Arbitrary<RoleObservation> = fc.record({
  self: endpointArb,
  sentinelReports: fc.array(fc.option(endpointArb, { freq: 4 }).map((e) => Option.fromNullishOr(e)), { maxLength: 5 }),
  registeredMasters: fc.array(endpointArb, { maxLength: 3 }),
  probes: fc.array(fc.record({ endpoint: endpointArb, role: roleArb }), { maxLength: 6 }),
  lock: lockArb,
  localData: fc.boolean(),
  founding: foundingArb
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
    assert.sameMembers([...seen], ["StartAsMaster/true", "StartAsMaster/false", "StartAsReplica", "AcquireLock", "YieldLock", "ReleaseStaleLock", "Wait"])
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
          localData: fc.constant(o.localData),
          founding: fc.record({
            others: fc.shuffledSubarray([...o.founding.others], { minLength: o.founding.others.length }),
            seenHolders: fc.shuffledSubarray([...o.founding.seenHolders], { minLength: o.founding.seenHolders.length })
          }).map((f) => ({ ...o.founding, ...f }))
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

describe("decideRole: founding invariants over arbitrary observations", () => {
  const founds = (d: RoleDecision) => d._tag === "AcquireLock" || (d._tag === "StartAsMaster" && d.founding)
  const holds = (c: Candidate) => c.data._tag === "Held"
  const selfOf = (o: RoleObservation): Candidate => ({
    node: o.founding.node,
    endpoint: o.self,
    data: o.localData ? { _tag: "Held", lastWrite: o.founding.lastWrite } : { _tag: "Empty" }
  })
  const othersOf = (o: RoleObservation) => o.founding.others.filter((c) => c.node !== o.founding.node)

  it("(7) an empty node never takes the lock or founds while a data holder is announced, or was seen earlier in this start", () => {
    fc.assert(
      fc.property(observationArb, (o) => {
        const holder = othersOf(o).some(holds) || o.founding.seenHolders.some((c) => c.node !== o.founding.node)
        return !(founds(decideRole(o)) && !o.localData && holder)
      }),
      runs
    )
  })

  it("(8) an empty node never takes the lock or founds a cluster that held data before FOUNDING_GRACE is over", () => {
    fc.assert(
      fc.property(observationArb, (o) => {
        const early = o.founding.history._tag === "HeldData" && o.founding.watchedMs < o.founding.graceMs
        return !(founds(decideRole(o)) && !o.localData && early)
      }),
      runs
    )
  })

  it("(9) a data holder never takes the lock or founds while a better-ranked node is announced", () => {
    fc.assert(
      fc.property(observationArb, (o) => {
        const order = compareCandidates(o.founding.lastMaster)
        const better = othersOf(o).some((c) => order(c, selfOf(o)) > 0)
        return !(founds(decideRole(o)) && o.localData && better)
      }),
      runs
    )
  })

  it("(10) the bootstrap lock is given back only by its holder, and only when the founding rules defer", () => {
    fc.assert(
      fc.property(observationArb, (o) => {
        const d = decideRole(o)
        if (d._tag !== "YieldLock") return true
        return o.lock._tag === "HeldBySelf" && decideFounding(selfOf(o), o.founding)._tag === "Defer"
      }),
      runs
    )
  })

  it("(11) a founding decision's reason says whether this node holds data and names every announced node; a grace wait names the time left", () => {
    fc.assert(
      fc.property(observationArb, (o) => {
        const d = decideRole(o)
        const verdict = decideFounding(selfOf(o), o.founding)
        if (!d.reason.includes(verdict.why)) return true
        assert.match(d.reason, o.localData ? /this node holds data/ : /this node's data directory is empty/)
        if (/more of FOUNDING_GRACE/.test(d.reason)) assert.match(d.reason, /waiting \d+[smh]+ more of FOUNDING_GRACE \(20s\)/)
        if (d._tag === "AcquireLock" || d._tag === "StartAsMaster") {
          const others = othersOf(o)
          if (others.length === 0) assert.include(d.reason, "no other node has announced itself")
          for (const c of others) assert.include(d.reason, c.node)
        }
      }),
      runs
    )
  })

  it("(12) of the nodes starting together, exactly one may found, and it holds data when any does", () => {
    const groupArb = fc.record({
      group: fc.uniqueArray(candidateArb, { minLength: 1, maxLength: 5, selector: (c) => c.node }),
      history: historyArb,
      lastMaster: foundingArb.map((f) => f.lastMaster)
    })
    fc.assert(
      fc.property(groupArb, ({ group, history, lastMaster }) => {
        const unique = group.filter((c, i) => group.findIndex((x) => sameEndpoint(x.endpoint, c.endpoint)) === i)
        const mayFound = unique.filter((c) =>
          decideFounding(c, {
            node: c.node,
            lastWrite: c.data._tag === "Held" ? c.data.lastWrite : Option.none(),
            others: unique.filter((x) => x !== c),
            seenHolders: [],
            history,
            lastMaster,
            watchedMs: GRACE_MS,
            graceMs: GRACE_MS
          })._tag === "MayFound"
        )
        const anyHolder = unique.some(holds)
        if (anyHolder) {
          assert.lengthOf(mayFound, 1, JSON.stringify(unique))
          assert.isTrue(holds(mayFound[0] ?? assert.fail("none")))
        } else {
          assert.lengthOf(mayFound, unique.length, "empty nodes past the grace all may found: the lock picks one")
        }
      }),
      runs
    )
  })
})

describe("decideRole: the lock of an earlier start", () => {
  it("only a stale lock of this node's own is released that way, and only where the lock matters (no master to follow)", () => {
    fc.assert(
      fc.property(observationArb, (o) => {
        const d = decideRole(o)
        if (d._tag === "ReleaseStaleLock") return o.lock._tag === "HeldByEarlierSelf" && d.session === o.lock.session
        return true
      }),
      runs
    )
  })
})
