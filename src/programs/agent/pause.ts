// The agent's side of maintenance mode (DESIGN.md §3): every round it reads
// `service/<name>/paused` (one KV read) and, while paused or until REPLICA_PRIORITY is
// confirmed (at start, on resume), its own Redis's replica-priority (one local
// command), then applies Pause.ts's decision: held at 0 while paused, even
// after Redis or the whole node restarted; REPLICA_PRIORITY put back on resume. A
// Consul that does not answer leaves the last known state (the registrar reports the
// outage); it never turns a pause into a resume.
import { Clock, Duration, Effect, Option, Ref } from "effect"
import { consulNames } from "../../domain/ConsulNames.ts"
import { decidePriority } from "../../domain/Pause.ts"
import { selfRedis } from "../../domain/Settings.ts"
import { Timings } from "../../domain/Timings.ts"
import { Consul } from "../../layers/Consul.ts"
import { Redis } from "../../layers/Redis.ts"
import { Settings } from "../../layers/Settings.ts"
import { type AgentState } from "./AgentState.ts"

/** Reads the flag into the state; logs a change. */
const readPaused = (state: Ref.Ref<AgentState>) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const consul = yield* Consul
    const key = consulNames(settings.serviceName).paused
    const seen = yield* consul.get(key).pipe(Effect.map(Option.isSome), Effect.option)
    if (Option.isNone(seen)) return (yield* Ref.get(state)).consul.paused
    const paused = seen.value
    const before = yield* Ref.getAndUpdate(state, (s) => ({
      ...s,
      consul: { ...s.consul, paused },
      // Whatever held the priority meanwhile, a resume puts REPLICA_PRIORITY back.
      priority: paused ? { ...s.priority, restorePending: true } : s.priority
    }))
    if (before.consul.paused !== paused) {
      yield* Effect.log(paused ? `${key} is set: paused, this agent holds replica-priority at 0 and changes nothing else` : `${key} is gone: resuming`)
    }
    return paused
  })

export const carePause = (state: Ref.Ref<AgentState>) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const redis = yield* Redis
    const self = selfRedis(settings)
    const timings = yield* Timings
    const paused = yield* readPaused(state)
    const now = yield* Clock.currentTimeMillis
    const before = yield* Ref.get(state)
    // At rest (not paused, REPLICA_PRIORITY confirmed) Redis is read only now and then,
    // for a priority a switchover left behind: one KV read per round is most of what
    // the pause costs a running node.
    const atRest = !paused && !before.aofPending && !before.priority.restorePending
    if (atRest && now - before.stray.checkedAt < Duration.toMillis(timings.priorityCheckEvery)) return
    const current = yield* redis.replicaPriority(self).pipe(Effect.option)
    if (Option.isNone(current)) return yield* Ref.update(state, (s) => ({ ...s, priority: { ...s.priority, current: Option.none() } }))
    const configured = settings.redis.replicaPriority
    const since = current.value === configured ? Option.none<number>() : Option.orElse(before.stray.since, () => Option.some(now))
    yield* Ref.update(state, (s) => ({ ...s, stray: { checkedAt: now, since } }))
    const { priority, aofPending } = yield* Ref.get(state)
    const action = decidePriority({
      paused,
      aofPending,
      configured,
      current: current.value,
      restorePending: priority.restorePending,
      stray: { forMs: Option.match(since, { onNone: () => 0, onSome: (t) => now - t }), limitMs: Duration.toMillis(timings.priorityStrayLimit) }
    })
    if (action._tag === "Keep") {
      const restored = !paused && current.value === configured
      return yield* Ref.update(state, (s) => ({ ...s, priority: { current, restorePending: s.priority.restorePending && !restored } }))
    }
    // Back from a pause or a stray value, redis.conf gets the value too: a
    // reconfiguration by Sentinel meanwhile (CONFIG REWRITE) may have written the 0 into it.
    // Not while the AOF is still being turned on: redis.conf would name it too early.
    const persist = paused || aofPending ? Effect.void : redis.rewriteConfig(self)
    const done = yield* redis.setReplicaPriority(self, action.priority).pipe(
      Effect.andThen(persist),
      Effect.as(true),
      Effect.catch((e) => Effect.logWarning(`replica-priority not set: ${e.message}`).pipe(Effect.as(false)))
    )
    if (!done) return
    yield* Ref.update(state, (s) => ({ ...s, priority: { current: Option.some(action.priority), restorePending: paused || aofPending } }))
    yield* Effect.log(action.reason)
  })
