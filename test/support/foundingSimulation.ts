// A cluster whose nodes start in discrete steps (one observation interval each), every
// node running the real pure decision (`decideRole`) over what it could observe at
// that moment, the way pre-start does: announce itself, observe, decide, act. The
// bootstrap lock is one holder at a time; a founder holds it while its Redis starts;
// a pre-start that waits MASTER_WAIT_TIMEOUT gives up and its container restarts (the
// grace starting over); a node may crash in pre-start for good. Plain data in, a log
// of what happened out, for the founding properties to judge.
import { Option } from "effect"
import { type Endpoint, formatEndpoint } from "../../src/domain/Endpoint.ts"
import { type Candidate, type History, type NodeRef } from "../../src/domain/Founding.ts"
import { decideRole, type LockState, type ProbedRole, type RoleDecision } from "../../src/domain/RoleDecision.ts"

export const STEP_MS = 1_000

export interface NodeSpec {
  /** When its dataset was last written (epoch ms), or None when its volume was lost. */
  readonly data: Option.Option<number>
  /** Step of its first start; undefined: never started. */
  readonly startAt: number | undefined
  /** At the start of this step, a node still in pre-start dies for good. */
  readonly crashAt: number | undefined
}

export interface World {
  readonly nodes: ReadonlyArray<NodeSpec>
  readonly history: History["_tag"]
  /** Index of the node the cluster's record names as the last master. */
  readonly lastMaster: number | undefined
  readonly graceSteps: number
  /** MASTER_WAIT_TIMEOUT, in steps. */
  readonly waitSteps: number
  /** Docker's restart delay after a pre-start gave up. */
  readonly restartDelay: number
  /** From a founding decision until its Redis answers as master. */
  readonly redisStartSteps: number
  readonly steps: number
  /** Seeds the order in which nodes act within each step. */
  readonly seed: number
}

export interface Founded {
  readonly node: number
  readonly hadData: boolean
  /** Step at which this pre-start run announced itself (its grace started). */
  readonly runStart: number
  readonly step: number
  readonly reason: string
}

type State =
  | { readonly _tag: "Down"; readonly until: number | undefined }
  | {
    readonly _tag: "PreStart"
    readonly runStart: number
    readonly announced: boolean
    readonly seen: ReadonlyArray<Candidate>
  }
  | { readonly _tag: "Founding"; readonly since: number }
  | { readonly _tag: "Master" }
  | { readonly _tag: "Replica"; readonly of: number }
  | { readonly _tag: "Crashed" }

export interface Outcome {
  readonly founded: ReadonlyArray<Founded>
  /** Per step: the data holders announced (in pre-start) when the step began. */
  readonly holdersAt: ReadonlyArray<ReadonlySet<number>>
  /** The most nodes that were master or starting as founders at once. */
  readonly maxMasters: number
  readonly final: ReadonlyArray<State["_tag"]>
  /** Each node's dataset at the end: the lastWrite of the data it holds (None: empty). */
  readonly dataAtEnd: ReadonlyArray<Option.Option<number>>
  readonly decisions: ReadonlyArray<{ readonly step: number; readonly node: number; readonly decision: RoleDecision["_tag"]; readonly reason: string }>
}

export const endpointOf = (i: number): Endpoint => ({ host: `10.0.0.${10 + i}`, port: 6379 })
const nameOf = (i: number): string => `node-${i}`

/** mulberry32: a tiny deterministic generator, so a failing schedule replays. */
const random = (seed: number) => {
  let a = seed >>> 0
  return (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export const simulate = (w: World): Outcome => {
  const n = w.nodes.length
  const next = random(w.seed)
  const state: Array<State> = w.nodes.map((s) => ({ _tag: "Down", until: s.startAt }))
  const data: Array<Option.Option<number>> = w.nodes.map((s) => s.data)
  let lock: number | undefined
  const founded: Array<Founded> = []
  const holdersAt: Array<ReadonlySet<number>> = []
  const decisions: Array<Outcome["decisions"][number]> = []
  let maxMasters = 0

  const candidateOf = (i: number): Candidate => ({
    node: nameOf(i),
    endpoint: endpointOf(i),
    data: Option.match(data[i] ?? Option.none(), { onNone: () => ({ _tag: "Empty" }), onSome: (t) => ({ _tag: "Held", lastWrite: Option.some(t) }) })
  })
  const announcedNow = (): ReadonlyArray<number> =>
    state.flatMap((s, i) => (s._tag === "PreStart" && s.announced ? [i] : []))
  const giveUp = (i: number, step: number, restart: boolean) => {
    if (lock === i) lock = undefined
    state[i] = restart ? { _tag: "Down", until: step + w.restartDelay } : { _tag: "Crashed" }
  }
  const lastMaster: Option.Option<NodeRef> = w.lastMaster === undefined
    ? Option.none()
    : Option.some({ node: nameOf(w.lastMaster), endpoint: endpointOf(w.lastMaster) })
  const history: History = w.history === "HeldData"
    ? { _tag: "HeldData", evidence: "its record in Consul says so" }
    : { _tag: "NeverHeldData", evidence: "Consul holds no record of it and the backup store holds no backup" }

  for (let step = 0; step < w.steps; step++) {
    // Events at the start of a step: crashes, starts, founders whose Redis now answers.
    for (let i = 0; i < n; i++) {
      const s = state[i]
      if (s === undefined) continue
      if (s._tag === "PreStart" && w.nodes[i]?.crashAt === step) giveUp(i, step, false)
      else if (s._tag === "Down" && s.until === step) state[i] = { _tag: "PreStart", runStart: step, announced: false, seen: [] }
      else if (s._tag === "Founding" && step - s.since >= w.redisStartSteps) {
        state[i] = { _tag: "Master" }
        // The agent releases the bootstrap lock once Consul shows the master passing.
        if (lock === i) lock = undefined
      }
    }
    holdersAt.push(new Set(announcedNow().filter((i) => Option.isSome(data[i] ?? Option.none()))))

    const order = [...Array(n).keys()].map((i) => ({ i, k: next() })).sort((a, b) => a.k - b.k).map((x) => x.i)
    for (const i of order) {
      const s = state[i]
      if (s === undefined || s._tag !== "PreStart") continue
      // Announce first, then observe: what was announced before this moment is visible.
      const run = s.announced ? s : { ...s, announced: true }
      const others = announcedNow().filter((j) => j !== i).map(candidateOf)
      const seen = [...run.seen, ...others.filter((c) => c.data._tag === "Held" && !run.seen.some((x) => x.node === c.node))]
      state[i] = { ...run, seen }
      const probes = [...Array(n).keys()].filter((j) => j !== i).map((j) => {
        const t = state[j]
        const role: ProbedRole = t?._tag === "Master"
          ? { _tag: "Master" }
          : t?._tag === "Replica"
          ? { _tag: "Replica", master: endpointOf(t.of) }
          : { _tag: "Unreachable" }
        return { endpoint: endpointOf(j), role }
      })
      const lockState: LockState = lock === undefined ? { _tag: "Free" } : lock === i ? { _tag: "HeldBySelf" } : { _tag: "HeldByOther", holder: nameOf(lock) }
      const d = decideRole({
        self: endpointOf(i),
        sentinelReports: [],
        registeredMasters: [],
        probes,
        lock: lockState,
        localData: Option.isSome(data[i] ?? Option.none()),
        founding: {
          node: nameOf(i),
          lastWrite: data[i] ?? Option.none(),
          others,
          seenHolders: seen,
          history,
          lastMaster,
          watchedMs: (step - run.runStart) * STEP_MS,
          graceMs: w.graceSteps * STEP_MS
        }
      })
      decisions.push({ step, node: i, decision: d._tag, reason: d.reason })
      switch (d._tag) {
        case "StartAsMaster": {
          const hadData = Option.isSome(data[i] ?? Option.none())
          founded.push({ node: i, hadData, runStart: run.runStart, step, reason: d.reason })
          // An empty founder restores the newest backup: older than any live dataset.
          if (!hadData) data[i] = Option.some(0)
          state[i] = { _tag: "Founding", since: step }
          break
        }
        case "StartAsReplica": {
          const of = [...Array(n).keys()].find((j) => formatEndpoint(endpointOf(j)) === formatEndpoint(d.master))
          if (of === undefined) throw new Error(`replica of an unknown node ${formatEndpoint(d.master)}`)
          data[i] = data[of] ?? Option.none()
          state[i] = { _tag: "Replica", of }
          break
        }
        case "AcquireLock":
          if (lock === undefined) lock = i
          break
        case "YieldLock":
          if (lock === i) lock = undefined
          break
        case "Wait":
          break
      }
      // Pre-start gives up after MASTER_WAIT_TIMEOUT, whatever it was waiting for.
      if (state[i]?._tag === "PreStart" && step - run.runStart >= w.waitSteps) giveUp(i, step, true)
    }
    maxMasters = Math.max(maxMasters, state.filter((s) => s._tag === "Master" || s._tag === "Founding").length)
  }
  return { founded, holdersAt, maxMasters, final: state.map((s) => s._tag), dataAtEnd: data, decisions }
}
