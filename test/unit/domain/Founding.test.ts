// The founding rules as a whole: nodes start in any order, with any subset of volumes
// lost, any cluster record, nodes crashing or giving up and restarting, each running
// the real `decideRole` over what it could see at that moment (foundingSimulation.ts).
// Whatever happens: no empty founder while a data-holding node was announced within
// its grace (or later, before it founded); never two masters; the last master seen, holding
// data, is never passed over; a cluster that never held data is founded at once; and
// every node ends master or replica. Plus the rank order and announcements as data.
import { assert, describe, it } from "@effect/vitest"
import { Option, Result, Schema } from "effect"
import fc from "fast-check"
import {
  AnnouncementFromJson,
  announcementOf,
  type Candidate,
  candidateOf,
  compareCandidates,
  decideFounding,
  type FoundingView,
  type NodeRef,
  withoutCountdown
} from "../../../src/domain/Founding.ts"
import { endpointOf, type NodeSpec, type Outcome, simulate, type World } from "../../support/foundingSimulation.ts"
import { candidate } from "../../support/scenarios.ts"

const nodeArb: fc.Arbitrary<NodeSpec> = fc.record({
  data: fc.option(fc.integer({ min: 1, max: 5 }), { freq: 3 }).map((t) => Option.fromNullishOr(t)),
  startAt: fc.option(fc.integer({ min: 0, max: 25 }), { freq: 10 }).map((t) => t ?? undefined),
  crashAt: fc.option(fc.integer({ min: 0, max: 40 }), { freq: 4 }).map((t) => t ?? undefined)
})

const worldArb = (nodes: fc.Arbitrary<NodeSpec> = nodeArb): fc.Arbitrary<World> =>
  fc.integer({ min: 1, max: 5 }).chain((n) =>
    fc.record({
      nodes: fc.array(nodes, { minLength: n, maxLength: n }),
      lostRecord: fc.boolean(),
      lastMaster: fc.option(fc.nat(n - 1), { freq: 2 }).map((m) => m ?? undefined),
      graceSteps: fc.integer({ min: 3, max: 8 }),
      extraWait: fc.integer({ min: 0, max: 5 }),
      restartDelay: fc.integer({ min: 1, max: 2 }),
      redisStartSteps: fc.integer({ min: 1, max: 3 }),
      seed: fc.integer()
    }).map(({ nodes, lostRecord, graceSteps, extraWait, ...rest }): World => {
      // The record (or a backup) says the cluster held data whenever a node holds
      // some; a cluster whose volumes are all gone may have either record.
      const anyData = nodes.some((s) => Option.isSome(s.data))
      const waitSteps = 2 * graceSteps + extraWait
      return {
        ...rest,
        nodes,
        history: anyData || !lostRecord ? "HeldData" : "NeverHeldData",
        graceSteps,
        waitSteps,
        steps: 25 + 5 * waitSteps
      }
    })
  )

const runs = { numRuns: Number(process.env.FOUNDING_RUNS ?? 2000) }
const show = (w: World, o: Outcome) => JSON.stringify({ w, founded: o.founded, final: o.final })
/**
 * The steps in which a data holder counts as reachable for a founder: from the
 * founder's announcement to the end of its grace, and on to its founding decision.
 */
const window = (w: World, f: Outcome["founded"][number]) =>
  Array.from({ length: Math.max(f.step, f.runStart + w.graceSteps - 1) - f.runStart + 1 }, (_, k) => f.runStart + k)

describe("founding, simulated: any start order, any volumes lost, crashes and restarts", () => {
  it("the generator reaches empty founders, data-holding founders, yielded locks and restarts (the properties are not vacuous)", () => {
    const seen = new Set<string>()
    for (const w of fc.sample(worldArb(), { numRuns: 3000, seed: 7 })) {
      const o = simulate(w)
      for (const f of o.founded) seen.add(f.hadData ? "founder with data" : "empty founder")
      for (const d of o.decisions) if (d.decision === "YieldLock") seen.add("yield")
      if (o.decisions.some((d) => d.decision === "Wait" && /more of FOUNDING_GRACE/.test(d.reason))) seen.add("grace wait")
      if (o.final.includes("Crashed")) seen.add("crash")
    }
    assert.sameMembers([...seen], ["founder with data", "empty founder", "yield", "grace wait", "crash"])
  })

  it("no empty founder while a data-holding node was announced within its grace, or later before it founded", () => {
    fc.assert(
      fc.property(worldArb(), (w) => {
        const o = simulate(w)
        for (const f of o.founded.filter((x) => !x.hadData)) {
          for (const t of window(w, f)) {
            const holders = [...(o.holdersAt[t] ?? [])].filter((i) => i !== f.node)
            assert.deepStrictEqual(holders, [], `node ${f.node} founded empty at step ${f.step} while ${holders.join(", ")} held data at step ${t}: ${show(w, o)}`)
          }
        }
      }),
      runs
    )
  })

  it("never two masters, not even one starting while another serves", () => {
    fc.assert(fc.property(worldArb(), (w) => simulate(w).maxMasters <= 1), runs)
  })

  it("the last master seen, holding data and announced within a founder's grace, is that founder (unless it crashed for good)", () => {
    fc.assert(
      fc.property(worldArb(), (w) => {
        const last = w.lastMaster === undefined ? undefined : w.nodes[w.lastMaster]
        // A data holder defers to a better one only while it is announced: one that crashed cannot found, so the next best does.
        if (last === undefined || Option.isNone(last.data) || last.crashAt !== undefined) return
        const o = simulate(w)
        for (const f of o.founded.filter((x) => x.node !== w.lastMaster)) {
          for (const t of window(w, f)) assert.isFalse(o.holdersAt[t]?.has(w.lastMaster ?? -1), `node ${f.node} founded over the last master: ${show(w, o)}`)
        }
      }),
      runs
    )
  })

  it("every node that starts ends master or replica, exactly one master, when nothing crashes", () => {
    const steady = nodeArb.map((s) => ({ ...s, crashAt: undefined, startAt: s.startAt ?? 0 }))
    fc.assert(
      fc.property(worldArb(steady), (w) => {
        const o = simulate(w)
        assert.strictEqual(o.final.filter((s) => s === "Master").length, 1, show(w, o))
        assert.isTrue(o.final.every((s) => s === "Master" || s === "Replica"), show(w, o))
        // Whoever founded, every node ends with the founder's dataset.
        assert.strictEqual(new Set(o.dataAtEnd.map((d) => Option.getOrElse(d, () => -1))).size, 1, show(w, o))
      }),
      runs
    )
  })

  it("a founder ranks first among the data holders announced when it founded: the last master, then the newest data", () => {
    fc.assert(
      fc.property(worldArb(), (w) => {
        const o = simulate(w)
        const lastMaster = w.lastMaster === undefined ? Option.none() : Option.some({ node: `node-${w.lastMaster}`, endpoint: endpointOf(w.lastMaster) })
        const asCandidate = (i: number): Candidate => ({
          node: `node-${i}`,
          endpoint: endpointOf(i),
          data: Option.match(w.nodes[i]?.data ?? Option.none(), { onNone: () => ({ _tag: "Empty" }), onSome: (t) => ({ _tag: "Held", lastWrite: Option.some(t) }) })
        })
        for (const f of o.founded) {
          for (const h of o.holdersAt[f.step] ?? []) {
            if (h !== f.node) assert.isAbove(compareCandidates(lastMaster)(asCandidate(f.node), asCandidate(h)), 0, show(w, o))
          }
        }
      }),
      runs
    )
  })

  it("a cluster that never held data is founded at once: the first founder decides on its second look, never after a grace", () => {
    const fresh = nodeArb.map((s) => ({ ...s, data: Option.none(), crashAt: undefined, startAt: s.startAt ?? 0 }))
    fc.assert(
      fc.property(worldArb(fresh).map((w): World => ({ ...w, history: "NeverHeldData" })), (w) => {
        const o = simulate(w)
        const first = o.founded[0]
        assert.isDefined(first, show(w, o))
        if (first === undefined) return
        assert.isAtMost(first.step - first.runStart, 1, show(w, o))
        assert.notMatch(first.reason, /FOUNDING_GRACE/)
        assert.strictEqual(o.founded.length, 1)
      }),
      runs
    )
  })

  it("why FOUNDING_GRACE must end well before MASTER_WAIT_TIMEOUT: a grace that outlasts it never ends, and a lone empty node never founds", () => {
    const lone: World = {
      nodes: [{ data: Option.none(), startAt: 0, crashAt: undefined }],
      history: "HeldData",
      lastMaster: undefined,
      graceSteps: 6,
      waitSteps: 6,
      restartDelay: 1,
      redisStartSteps: 1,
      steps: 200,
      seed: 1
    }
    assert.deepStrictEqual(simulate(lone).founded, [], "the grace restarts with pre-start")
    const founded = simulate({ ...lone, waitSteps: 12 }).founded
    assert.lengthOf(founded, 1)
    assert.match(founded[0]?.reason ?? "", /no node holding data showed up within FOUNDING_GRACE \(6s\)/)
  })
})

describe("the rank among data holders", () => {
  const T = 1_800_000_000_000
  const cands = fc.uniqueArray(
    fc.record({ n: fc.integer({ min: 1, max: 9 }), data: fc.oneof(fc.constant<"empty">("empty"), fc.integer({ min: T, max: T + 3 })) }),
    { selector: (c) => c.n, minLength: 2, maxLength: 5 }
  ).map((xs) => xs.map((x) => candidate(x.n, x.data)))
  const lastMasterArb = fc.option(fc.integer({ min: 1, max: 9 }), { freq: 2 }).map((m) =>
    Option.map(Option.fromNullishOr(m), (k) => ({ node: `node-${k}`, endpoint: candidate(k, "empty").endpoint }))
  )

  it("is a total order: antisymmetric and transitive, whatever the last master", () => {
    fc.assert(
      fc.property(cands, lastMasterArb, (cs, lm) => {
        const order = compareCandidates(lm)
        for (const a of cs) {
          for (const b of cs) {
            assert.strictEqual(Math.sign(order(a, b)), -Math.sign(order(b, a)))
            if (a !== b) assert.notStrictEqual(order(a, b), 0)
            for (const c of cs) if (order(a, b) > 0 && order(b, c) > 0) assert.isAbove(order(a, c), 0)
          }
        }
      })
    )
  })

  it("a data holder before an empty node; the last master before newer data; newer data before a lower address", () => {
    const lm = Option.some({ node: "node-5", endpoint: candidate(5, "empty").endpoint })
    const order = compareCandidates(lm)
    assert.isAbove(order(candidate(9, T), candidate(1, "empty")), 0)
    assert.isAbove(order(candidate(5, T), candidate(1, T + 10)), 0)
    assert.isAbove(order(candidate(9, T + 1), candidate(1, T)), 0)
    assert.isAbove(order(candidate(1, T), candidate(9, T)), 0)
  })
})

describe("withoutCountdown", () => {
  it("two reasons that differ only in the grace left are the same wait; anything else is not", () => {
    const a = "no master exists; this node's data directory is empty and the cluster held data (x): waiting 15s more of FOUNDING_GRACE (20s) for a node holding data"
    assert.strictEqual(withoutCountdown(a), withoutCountdown(a.replace("15s", "3s")))
    assert.notStrictEqual(withoutCountdown(a), withoutCountdown(a.replace("(x)", "(y)")))
    assert.strictEqual(withoutCountdown("no countdown here"), "no countdown here")
  })
})

describe("announcements", () => {
  it("round-trip through their JSON, data and last write included", () => {
    const decode = Schema.decodeUnknownResult(AnnouncementFromJson)
    for (const c of [candidate(2, "empty"), candidate(3, 1_800_000_000_000)]) {
      const json = JSON.stringify(announcementOf(c))
      assert.deepStrictEqual(Result.map(decode(json), candidateOf), Result.succeed(c))
    }
    const held: Candidate = { ...candidate(4, "empty"), data: { _tag: "Held", lastWrite: Option.none() } }
    assert.deepStrictEqual(Result.map(decode(JSON.stringify(announcementOf(held))), candidateOf), Result.succeed(held))
    assert.isTrue(Result.isFailure(decode(`{"node":"n","address":"10.0.0.1","port":6379}`)))
    assert.isTrue(Result.isFailure(decode(`{"node":"n","address":"10.0.0.1","port":6379,"data":true,"lastWrite":"yesterday"}`)))
  })
})

// ---------------------------------------------------------------------------
// One node's verdict, and the sentence pre-start logs for it.

/** 2026-01-01T00:00:00Z and a minute later, as the reasons print them. */
const NEW_YEAR = 1_767_225_600_000
const MINUTE_LATER = NEW_YEAR + 60_000
const heldDataHistory: FoundingView["history"] = { _tag: "HeldData", evidence: "the cluster record names node-1 as last master" }
const neverHeldData: FoundingView["history"] = { _tag: "NeverHeldData", evidence: "no cluster record and no backup" }
const lastMaster = (n: number): Option.Option<NodeRef> => Option.some({ node: `node-${n}`, endpoint: candidate(n, "empty").endpoint })

const viewOf = (self: Candidate, over: Partial<FoundingView> = {}): FoundingView => ({
  node: self.node,
  lastWrite: self.data._tag === "Held" ? self.data.lastWrite : Option.none(),
  others: [],
  seenHolders: [],
  history: heldDataHistory,
  lastMaster: Option.none(),
  watchedMs: 0,
  graceMs: 20_000,
  ...over
})
const decide = (self: Candidate, over: Partial<FoundingView> = {}) => decideFounding(self, viewOf(self, over))

describe("decideFounding: a node holding data", () => {
  it("alone: founds, saying it ranks first and no one else announced", () => {
    assert.deepStrictEqual(decide(candidate(1, NEW_YEAR)), {
      _tag: "MayFound",
      why: "this node holds data written 2026-01-01T00:00:00.000Z and ranks first among the starting nodes; no other node has announced itself"
    })
  })

  it("its own announcement among the others does not make it defer to itself", () => {
    const self = candidate(1, NEW_YEAR)
    assert.deepStrictEqual(decide(self, { others: [self] }), {
      _tag: "MayFound",
      why: "this node holds data written 2026-01-01T00:00:00.000Z and ranks first among the starting nodes; no other node has announced itself"
    })
  })

  it("beside older and empty nodes: founds, naming each", () => {
    const verdict = decide(candidate(2, MINUTE_LATER), { others: [candidate(1, NEW_YEAR), candidate(3, "empty")] })
    assert.deepStrictEqual(verdict, {
      _tag: "MayFound",
      why: "this node holds data written 2026-01-01T00:01:00.000Z and ranks first among the starting nodes; " +
        "announced: node-1 (10.0.0.1:6379, holds data written 2026-01-01T00:00:00.000Z), node-3 (10.0.0.3:6379, empty)"
    })
  })

  it("beside newer data: defers to the newest of several, both write times named", () => {
    const verdict = decide(candidate(1, NEW_YEAR), { others: [candidate(3, NEW_YEAR + 1_000), candidate(2, MINUTE_LATER), candidate(4, "empty")] })
    assert.deepStrictEqual(verdict, {
      _tag: "Defer",
      why: "this node holds data written 2026-01-01T00:00:00.000Z, but node-2 (10.0.0.2:6379, holds data written 2026-01-01T00:01:00.000Z) ranks first: " +
        "its data is newer (written 2026-01-01T00:01:00.000Z, this node's 2026-01-01T00:00:00.000Z); it founds"
    })
  })

  it("beside the last master, announced: defers to it even over newer data of its own", () => {
    const verdict = decide(candidate(1, MINUTE_LATER), { others: [candidate(2, NEW_YEAR)], lastMaster: lastMaster(2) })
    assert.strictEqual(verdict._tag, "Defer")
    assert.match(verdict.why, /but node-2 \(10\.0\.0\.2:6379, holds data written 2026-01-01T00:00:00\.000Z\) ranks first: it is the last master seen; it founds$/)
  })

  it("beside data as recent: the lower address founds, the other defers saying so", () => {
    assert.strictEqual(decide(candidate(1, NEW_YEAR), { others: [candidate(2, NEW_YEAR)] })._tag, "MayFound")
    const verdict = decide(candidate(2, NEW_YEAR), { others: [candidate(1, NEW_YEAR)] })
    assert.deepStrictEqual([verdict._tag, verdict.why.split(" ranks first: ")[1]], ["Defer", "its data is as recent and its address is lower; it founds"])
  })

  it("a write time it cannot tell is named as unknown, and loses to any known one", () => {
    const unknown: Candidate = { ...candidate(1, "empty"), data: { _tag: "Held", lastWrite: Option.none() } }
    const verdict = decide(unknown, { others: [candidate(2, NEW_YEAR)] })
    assert.deepStrictEqual(verdict, {
      _tag: "Defer",
      why: "this node holds data written at an unknown time, but node-2 (10.0.0.2:6379, holds data written 2026-01-01T00:00:00.000Z) ranks first: " +
        "its data is newer (written 2026-01-01T00:00:00.000Z, this node's at an unknown time); it founds"
    })
  })

  it("the last master not yet announced: waits out the grace for it, the time left rounded up to seconds", () => {
    const verdict = decide(candidate(1, NEW_YEAR), { lastMaster: lastMaster(2), watchedMs: 7_500, others: [candidate(3, "empty")] })
    assert.deepStrictEqual(verdict, {
      _tag: "Defer",
      why: "this node holds data written 2026-01-01T00:00:00.000Z, but the last master seen, node-2 (10.0.0.2:6379), has not announced itself: " +
        "waiting 13s more of FOUNDING_GRACE (20s) for it to show whether it holds newer data; announced: node-3 (10.0.0.3:6379, empty)"
    })
  })

  it("the last master not announced, grace over (to the millisecond): founds", () => {
    assert.strictEqual(decide(candidate(1, NEW_YEAR), { lastMaster: lastMaster(2), watchedMs: 19_999 })._tag, "Defer")
    assert.strictEqual(decide(candidate(1, NEW_YEAR), { lastMaster: lastMaster(2), watchedMs: 20_000 })._tag, "MayFound")
  })

  it("the last master is this node, by name or by address alone: no wait", () => {
    assert.strictEqual(decide(candidate(1, NEW_YEAR), { lastMaster: lastMaster(1) })._tag, "MayFound")
    const renamed = Option.some({ node: "old-name", endpoint: candidate(1, "empty").endpoint })
    assert.strictEqual(decide(candidate(1, NEW_YEAR), { lastMaster: renamed })._tag, "MayFound")
  })

  it("the last master announced with an empty volume: no wait, this node founds", () => {
    assert.strictEqual(decide(candidate(1, NEW_YEAR), { lastMaster: lastMaster(2), others: [candidate(2, "empty")] })._tag, "MayFound")
  })
})

describe("decideFounding: a node with an empty data directory", () => {
  it("a data holder announced: defers, naming it, even after the grace and when the cluster never held data", () => {
    for (const over of [{}, { watchedMs: 60_000 }, { history: neverHeldData }]) {
      assert.deepStrictEqual(decide(candidate(1, "empty"), { others: [candidate(2, NEW_YEAR), candidate(3, "empty")], ...over }), {
        _tag: "Defer",
        why: "this node's data directory is empty and node-2 (10.0.0.2:6379, holds data written 2026-01-01T00:00:00.000Z) holds data: a data holder founds, this node joins it"
      })
    }
  })

  it("a data holder seen earlier in this start and gone since: waits for it rather than founding empty", () => {
    const verdict = decide(candidate(1, "empty"), { seenHolders: [candidate(2, NEW_YEAR)], watchedMs: 60_000, history: neverHeldData })
    assert.deepStrictEqual(verdict, {
      _tag: "Defer",
      why: "this node's data directory is empty and node-2 held data when seen earlier in this start: waiting for it rather than founding empty; no other node has announced itself"
    })
  })

  it("only itself among the holders seen earlier (its volume lost since): not a reason to wait", () => {
    assert.strictEqual(decide(candidate(1, "empty"), { seenHolders: [candidate(1, NEW_YEAR)], history: neverHeldData })._tag, "MayFound")
  })

  it("a cluster that never held data: founds at once, the evidence named", () => {
    assert.deepStrictEqual(decide(candidate(1, "empty"), { history: neverHeldData, others: [candidate(2, "empty")] }), {
      _tag: "MayFound",
      why: "this node's data directory is empty and the cluster never held data (no cluster record and no backup); announced: node-2 (10.0.0.2:6379, empty)"
    })
  })

  it("a cluster that held data: waits out the grace for a data holder, then founds from the newest backup", () => {
    assert.deepStrictEqual(decide(candidate(1, "empty"), { watchedMs: 19_001 }), {
      _tag: "Defer",
      why: "this node's data directory is empty and the cluster held data (the cluster record names node-1 as last master): " +
        "waiting 1s more of FOUNDING_GRACE (20s) for a node holding data; no other node has announced itself"
    })
    assert.deepStrictEqual(decide(candidate(1, "empty"), { watchedMs: 20_000, graceMs: 20_000 }), {
      _tag: "MayFound",
      why: "this node's data directory is empty, the cluster held data (the cluster record names node-1 as last master) " +
        "and no node holding data showed up within FOUNDING_GRACE (20s); no other node has announced itself: founding from the newest backup, if one exists"
    })
  })
})

describe("decideFounding: names and lists in the reasons", () => {
  it("the last master recognised by name at a new address: this node defers to it as the last master", () => {
    const movedMaster = Option.some({ node: "node-2", endpoint: candidate(9, "empty").endpoint })
    const verdict = decide(candidate(1, MINUTE_LATER), { others: [candidate(2, NEW_YEAR)], lastMaster: movedMaster })
    assert.deepStrictEqual([verdict._tag, verdict.why.split(" ranks first: ")[1]], ["Defer", "it is the last master seen; it founds"])
  })

  it("two announcements at one address with data as recent: the name sorting first founds", () => {
    const a: Candidate = { ...candidate(1, NEW_YEAR), node: "node-a" }
    const b: Candidate = { ...candidate(1, NEW_YEAR), node: "node-b" }
    assert.strictEqual(decide(a, { others: [b] })._tag, "MayFound")
    const verdict = decide(b, { others: [a] })
    assert.deepStrictEqual([verdict._tag, verdict.why.split(" ranks first: ")[1]], ["Defer", "its data is as recent and its name sorts first; it founds"])
  })

  it("several data holders announced, or seen earlier: each named, comma-separated", () => {
    const announcedTwo = decide(candidate(1, "empty"), { others: [candidate(2, NEW_YEAR), candidate(3, MINUTE_LATER)] })
    assert.match(announcedTwo.why, /empty and node-2 \(10\.0\.0\.2:6379, holds data written [^)]+\), node-3 \(10\.0\.0\.3:6379, holds data written [^)]+\) holds data:/)
    const seenTwo = decide(candidate(1, "empty"), { seenHolders: [candidate(2, NEW_YEAR), candidate(3, NEW_YEAR)] })
    assert.match(seenTwo.why, /empty and node-2, node-3 held data when seen earlier/)
  })

  it("a grace wait logged without its countdown reads as the same wait with '…' for the time left", () => {
    const verdict = decide(candidate(1, "empty"), { watchedMs: 5_000, graceMs: 120_000 })
    assert.strictEqual(
      withoutCountdown(verdict.why),
      "this node's data directory is empty and the cluster held data (the cluster record names node-1 as last master): " +
        "waiting … more of FOUNDING_GRACE (2m) for a node holding data; no other node has announced itself"
    )
  })
})
