// Health verdicts (DESIGN.md §3): `redis` passes only on a master that a majority of
// the answering sentinels name, and only when those are a majority of the sentinels
// known; `redis-replica` only on a replica with its link up to that master; the
// sentinel check while it monitors MASTER_NAME. A missing answer keeps a pass for one
// health interval at most, and never makes one. The founding master's bootstrap lock
// is renewed, released, forgotten or left to lapse.
import { assert, describe, it } from "@effect/vitest"
import { Option } from "effect"
import fc from "fast-check"
import {
  bootstrapLockCare,
  type CheckState,
  type Finding,
  findings,
  masterFinding,
  type NodeObservation,
  type Observed,
  replicaFinding,
  sentinelFinding,
  sentinelsSay,
  settle,
  type Verdict
} from "../../../src/domain/Health.ts"
import { type ReplicaLinkState, type RoleReply, type SentinelMasterState } from "../../../src/domain/RedisReplies.ts"
import { at, SELF } from "../../support/scenarios.ts"

const OTHER = "10.0.0.5"
const master: RoleReply = { _tag: "Master", offset: 2232, replicas: [{ endpoint: at("10.0.0.2"), offset: 2098 }, { endpoint: at("10.0.0.3"), offset: 2232 }] }
const replicaOf = (host: string, state: ReplicaLinkState = "connected"): RoleReply => ({ _tag: "Replica", master: at(host), state, offset: 2232 })
const monitoring: SentinelMasterState = { endpoint: at(SELF), flags: ["master"], replicas: 2, otherSentinels: 2, quorum: 2 }

/** This node, its Redis answering `role`, `known` sentinels of which these answered naming these masters. */
const node = (role: RoleReply | null, known: number, ...answers: ReadonlyArray<string | null>): NodeObservation => ({
  self: at(SELF),
  masterName: "mymaster",
  role: role === null ? { _tag: "Unseen", reason: "connect ECONNREFUSED" } : { _tag: "Seen", value: role },
  localSentinel: { _tag: "Seen", value: Option.some(monitoring) },
  sentinels: { known, answers: answers.map((h) => (h === null ? Option.none() : Option.some(at(h)))) }
})

const expectFinding = (f: Finding, tag: Finding["_tag"], phrase: string) => {
  assert.strictEqual(f._tag, tag, f.reason)
  assert.include(f.reason, phrase)
}

describe("sentinelsSay", () => {
  it("names the master a strict majority of the answers names, with the tally", () => {
    assert.deepStrictEqual(sentinelsSay({ known: 3, answers: [Option.some(at(SELF)), Option.some(at(SELF)), Option.some(at(OTHER))] }), {
      _tag: "Named",
      master: at(SELF),
      votes: 2,
      of: 3
    })
  })

  it("a node that reaches only a minority of the sentinels it knows cannot decide (a cut-off master)", () => {
    const say = sentinelsSay({ known: 3, answers: [Option.some(at(SELF))] })
    assert.strictEqual(say._tag, "Undecided")
    assert.include(say._tag === "Undecided" ? say.reason : "", "only 1 of 3 sentinels answered")
  })

  it("half of the known sentinels is not a majority", () => {
    assert.strictEqual(sentinelsSay({ known: 4, answers: [Option.some(at(SELF)), Option.some(at(SELF))] })._tag, "Undecided")
    assert.strictEqual(sentinelsSay({ known: 4, answers: [Option.some(at(SELF)), Option.some(at(SELF)), Option.some(at(SELF))] })._tag, "Named")
  })

  it("answers that disagree, or name nothing, decide nothing", () => {
    assert.strictEqual(sentinelsSay({ known: 2, answers: [Option.some(at(SELF)), Option.some(at(OTHER))] })._tag, "Undecided")
    assert.strictEqual(sentinelsSay({ known: 3, answers: [Option.some(at(SELF)), Option.none(), Option.none()] })._tag, "Undecided")
  })

  it("a lone node with its own sentinel decides (a one-node cluster)", () => {
    assert.strictEqual(sentinelsSay({ known: 1, answers: [Option.some(at(SELF))] })._tag, "Named")
  })

  it("whatever the answers, a named master has more than half of them and they are more than half of the known", () => {
    const host = fc.constantFrom(SELF, OTHER, "10.0.0.6")
    fc.assert(fc.property(fc.array(fc.option(host, { nil: null }), { maxLength: 7 }), fc.nat(7), (answers, extra) => {
      const view = { known: answers.length + extra, answers: answers.map((h) => (h === null ? Option.none() : Option.some(at(h)))) }
      const say = sentinelsSay(view)
      if (say._tag === "Undecided") return true
      const votes = answers.filter((h) => h === say.master.host).length
      return votes * 2 > answers.length && answers.length * 2 > view.known && say.votes === votes
    }), { numRuns: 500 })
  })
})

describe("masterFinding", () => {
  it("passes on a master that the sentinels name", () => expectFinding(masterFinding(node(master, 3, SELF, SELF, SELF)), "Pass", "3 of 3 sentinels name it"))

  it("fails at once on a master the sentinels no longer name (demoted, woken after a freeze, cut off and replaced)", () =>
    expectFinding(masterFinding(node(master, 3, OTHER, OTHER, SELF)), "Fail", `name ${OTHER}:6379: demoted or cut off`))

  it("fails on a replica, naming its master", () => expectFinding(masterFinding(node(replicaOf(OTHER), 3, OTHER, OTHER, OTHER)), "Fail", `a replica of ${OTHER}:6379, not master`))

  it("is unknown when Redis does not answer, or the sentinels cannot confirm", () => {
    expectFinding(masterFinding(node(null, 3, SELF, SELF, SELF)), "Unknown", "Redis did not answer")
    expectFinding(masterFinding(node(master, 3, SELF)), "Unknown", "only 1 of 3 sentinels answered")
  })

  it("fails when a Sentinel answers on the Redis port", () => {
    expectFinding(masterFinding(node({ _tag: "Sentinel", masters: ["mymaster"] }, 1, SELF)), "Fail", "Sentinel answered")
  })
})

describe("replicaFinding", () => {
  it("passes on a replica with its link up to the master the sentinels name", () =>
    expectFinding(replicaFinding(node(replicaOf(OTHER), 3, OTHER, OTHER, OTHER)), "Pass", `replica of ${OTHER}:6379, link up`))

  for (const state of ["connect", "connecting", "handshake", "sync", "unknown"] as const) {
    it(`fails while the link is ${state}`, () => expectFinding(replicaFinding(node(replicaOf(OTHER, state), 3, OTHER, OTHER, OTHER)), "Fail", `link ${state}`))
  }

  it("fails on a replica left following another master than the sentinels name", () =>
    expectFinding(replicaFinding(node(replicaOf(OTHER), 3, "10.0.0.6", "10.0.0.6", OTHER)), "Fail", "name 10.0.0.6:6379 master"))

  it("fails on a master, and is unknown without Redis or a sentinel majority", () => {
    expectFinding(replicaFinding(node(master, 3, SELF, SELF, SELF)), "Fail", "this node is master, not a replica")
    expectFinding(replicaFinding(node(null, 3, OTHER, OTHER, OTHER)), "Unknown", "Redis did not answer")
    expectFinding(replicaFinding(node(replicaOf(OTHER), 3)), "Unknown", "only 0 of 3 sentinels answered")
  })
})

describe("sentinelFinding", () => {
  const withLocal = (localSentinel: Observed<Option.Option<SentinelMasterState>>): NodeObservation => ({ ...node(master, 1, SELF), localSentinel })

  it("passes while it monitors MASTER_NAME, even when the master is flagged down", () => {
    const f = sentinelFinding(withLocal({ _tag: "Seen", value: Option.some({ ...monitoring, endpoint: at(OTHER), flags: ["s_down", "master"] }) }))
    expectFinding(f, "Pass", `mymaster at ${OTHER}:6379 (s_down,master)`)
  })

  it("fails when it does not monitor MASTER_NAME; unknown when it does not answer", () => {
    expectFinding(sentinelFinding(withLocal({ _tag: "Seen", value: Option.none() })), "Fail", "does not monitor mymaster")
    expectFinding(sentinelFinding(withLocal({ _tag: "Unseen", reason: "timeout" })), "Unknown", "Sentinel did not answer: timeout")
  })
})

describe("settle", () => {
  const hold = 5_000
  const pass: Finding = { _tag: "Pass", reason: "master" }
  const fail: Finding = { _tag: "Fail", reason: "replica" }
  const unknown: Finding = { _tag: "Unknown", reason: "no answer" }
  const passed = (at: number): CheckState => ({ pass: true, reason: "master", since: 0, confirmedAt: at })

  it("a finding with no history: pass or fail as found; unknown fails", () => {
    assert.isTrue(settle(Option.none(), pass, 10, hold).pass)
    assert.isFalse(settle(Option.none(), fail, 10, hold).pass)
    const u = settle(Option.none(), unknown, 10, hold)
    assert.isFalse(u.pass)
    assert.strictEqual(u.reason, "no answer")
  })

  it("an unknown finding keeps a pass for one hold after its last confirmation, then fails", () => {
    const kept = settle(Option.some(passed(1_000)), unknown, 1_000 + hold, hold)
    assert.isTrue(kept.pass)
    assert.include(kept.reason, "unconfirmed: no answer")
    assert.strictEqual(kept.confirmedAt, 1_000, "holding does not count as a confirmation")
    const lapsed = settle(Option.some(kept), unknown, 1_001 + hold, hold)
    assert.isFalse(lapsed.pass)
    assert.strictEqual(lapsed.since, 1_001 + hold)
  })

  it("a fail is never held: the verdict turns at once", () => {
    const turned = settle(Option.some(passed(1_000)), fail, 1_001, hold)
    assert.isFalse(turned.pass)
    assert.strictEqual(turned.since, 1_001)
  })

  it("since moves only when the verdict changes", () => {
    const first = settle(Option.none(), pass, 100, hold)
    const again = settle(Option.some(first), pass, 200, hold)
    assert.strictEqual(again.since, 100)
    assert.strictEqual(again.confirmedAt, 200)
  })

  it("never passes on an unknown finding without a recent confirmed pass", () => {
    fc.assert(fc.property(
      fc.option(fc.record({ pass: fc.boolean(), since: fc.nat(10_000), confirmedAt: fc.nat(10_000) }), { nil: null }),
      fc.nat(20_000),
      (prev, now) => {
        const previous = prev === null ? Option.none<CheckState>() : Option.some({ ...prev, reason: "r" })
        const next = settle(previous, unknown, now, hold)
        return !next.pass || (prev !== null && prev.pass && now - prev.confirmedAt <= hold)
      }
    ), { numRuns: 1000 })
  })
})

describe("bootstrapLockCare", () => {
  const pass: Verdict = { pass: true, reason: "master with 0 connected replica(s)" }
  const fail: Verdict = { pass: false, reason: "a replica of 10.0.0.5:6379, not master" }
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

describe("findings and settle: the cases the first tests did not pin", () => {
  it("a Sentinel answering on the Redis port fails the master and replica checks, naming it", () => {
    const f = findings(node({ _tag: "Sentinel", masters: ["mymaster"] }, 1, SELF))
    expectFinding(f.master, "Fail", "a Sentinel answered on the Redis port")
    expectFinding(f.replica, "Fail", "a Sentinel answered on the Redis port")
  })

  it("an unknown finding after a fail keeps the fail's start and its last confirmation", () => {
    const failed: CheckState = { pass: false, reason: "replica", since: 500, confirmedAt: 700 }
    const next = settle(Option.some(failed), { _tag: "Unknown", reason: "no answer" }, 900, 5_000)
    assert.deepStrictEqual(next, { pass: false, reason: "no answer", since: 500, confirmedAt: 700 })
  })

  it("an unknown finding after a lapsed pass starts the failure now and keeps the last confirmation", () => {
    const passed: CheckState = { pass: true, reason: "master", since: 0, confirmedAt: 1_000 }
    assert.deepStrictEqual(settle(Option.some(passed), { _tag: "Unknown", reason: "no answer" }, 9_000, 5_000), { pass: false, reason: "no answer", since: 9_000, confirmedAt: 1_000 })
  })
})
