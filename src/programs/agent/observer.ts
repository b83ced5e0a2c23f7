// The agent's observation cycle: look at Redis and the sentinels, settle the three
// verdicts with the same pure functions `manage health` uses, remember them, log only
// a change (with what triggered the look), and wake the registrar so Consul hears of
// a change at once. Runs every second and on every Sentinel event; never touches
// Consul, so a Consul outage cannot delay a verdict.
import { Clock, Duration, Effect, Option, Ref } from "effect"
import { formatEndpoint } from "../../domain/Endpoint.ts"
import { type CheckName, checkNames, type CheckState, findings, holdsOf, sentinelsSay, settle } from "../../domain/Health.ts"
import { strandedSince } from "../../domain/ReplicaReconcile.ts"
import { isNewSwitch, type MasterSwitch } from "../../domain/SentinelEvents.ts"
import { selfSentinel } from "../../domain/Settings.ts"
import { Timings } from "../../domain/Timings.ts"
import { Sentinel } from "../../layers/Sentinel.ts"
import { Settings } from "../../layers/Settings.ts"
import { observeNode } from "../observeNode.ts"
import { type AgentState, peersOf } from "./AgentState.ts"

const label: Record<CheckName, string> = { master: "master check", replica: "replica check", sentinel: "sentinel check" }

/**
 * The peers the local Sentinel knows, asked again every few seconds, and at once when
 * the local Sentinel counts more than the agent asks (a sentinel just joined: until it
 * is asked it weighs against the majority). Best effort: on failure the last list stays.
 */
const refreshPeers = (state: Ref.Ref<AgentState>, now: number) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const sentinel = yield* Sentinel
    const { registrySyncEvery } = yield* Timings
    const s = yield* Ref.get(state)
    const { peers } = s
    const countedByLocal = Option.match(s.observation, {
      onNone: () => 0,
      onSome: (o) => (o.localSentinel._tag === "Seen" ? Option.match(o.localSentinel.value, { onNone: () => 0, onSome: (m) => m.otherSentinels }) : 0)
    })
    const unasked = countedByLocal > peersOf(s).length
    if (!unasked && now - peers.refreshedAt < Duration.toMillis(registrySyncEvery)) return
    const known = yield* sentinel.sentinels(selfSentinel(settings), settings.masterName).pipe(Effect.option)
    yield* Ref.update(state, (s) => ({
      ...s,
      peers: { ...s.peers, refreshedAt: now, fromSentinel: Option.match(known, { onNone: () => s.peers.fromSentinel, onSome: (ps) => ps.map((p) => p.endpoint) }) }
    }))
  })

export const observeCycle = (state: Ref.Ref<AgentState>, wakeRegistrar: Effect.Effect<void>, wakeFence: Effect.Effect<void> = Effect.void) => (trigger: string) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const started = yield* Clock.currentTimeMillis
    yield* refreshPeers(state, started)
    const before = yield* Ref.get(state)
    const silentBefore = Option.match(before.observation, { onNone: () => [], onSome: (o) => o.sentinels.silent ?? [] })
    const observation = yield* observeNode(peersOf(before), silentBefore)
    const now = yield* Clock.currentTimeMillis
    const found = findings(observation)
    const hold = holdsOf(Duration.toMillis(settings.health.interval), Option.map(settings.redis.fenceAfter, Duration.toMillis))
    // Settled against the verdicts as they are when the look ends, not as they were when
    // it began: the fence may have let the master's lease lapse meanwhile, and a look
    // that confirms it again is then a change that Consul must hear of at once.
    const { previous, verdicts } = yield* Ref.modify(state, (s): readonly [{ readonly previous: AgentState["verdicts"]; readonly verdicts: Record<CheckName, CheckState> }, AgentState] => {
      const last = (check: CheckName): Option.Option<CheckState> => Option.map(s.verdicts, (v) => v[check])
      // The master's evidence dates from when the sentinels were asked: the fence's
      // lease runs from there.
      const verdicts: Record<CheckName, CheckState> = {
        master: settle(last("master"), found.master, started, hold.master),
        replica: settle(last("replica"), found.replica, now, hold.replica),
        sentinel: settle(last("sentinel"), found.sentinel, now, hold.sentinel)
      }
      return [{ previous: s.verdicts, verdicts }, {
        ...s,
        cycles: s.cycles + 1,
        lastCycle: Option.some({ at: now, trigger, tookMs: now - started }),
        observation: Option.some(observation),
        verdicts: Option.some(verdicts),
        strandedSince: strandedSince({ previous: s.strandedSince, self: observation.self, role: observation.role, say: sentinelsSay(observation.sentinels), now })
      }]
    })
    yield* Effect.logDebug(`observed (on ${trigger}, ${now - started} ms): master ${found.master._tag}: ${found.master.reason}; silent: ${(observation.sentinels.silent ?? []).map(formatEndpoint).join(", ") || "none"}`)
    const changed = checkNames.filter((c) => Option.match(previous, { onNone: () => true, onSome: (p) => p[c].pass !== verdicts[c].pass }))
    for (const check of changed) {
      yield* Effect.log(`${label[check]} ${verdicts[check].pass ? "passing" : "failing"} (on ${trigger}): ${verdicts[check].reason}`)
    }
    if (changed.length > 0) yield* wakeRegistrar
    yield* wakeFence
  })

/** Counts a failover the first time any sentinel tells of it. */
export const recordSwitch = (state: Ref.Ref<AgentState>, change: MasterSwitch) =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const counted = yield* Ref.modify(state, (s): readonly [boolean, AgentState] => {
      if (!isNewSwitch(s.failovers.last, change)) return [false, s]
      return [true, { ...s, failovers: { seen: s.failovers.seen + 1, last: Option.some({ ...change, at: now }) } }]
    })
    return counted
  })
