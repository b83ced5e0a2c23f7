// `manage agent`: the node's long-lived controller (DESIGN.md §1). It holds its
// connections to the local Redis, the sentinels (subscribed to their events) and
// Consul, and runs four loops over one state: observe (every second and on every
// Sentinel event) → verdicts; registrar (on a verdict change and every few seconds)
// → Consul; care → stranded replica, stale sentinels; pause → replica-priority while
// paused; and the read-only HTTP API the health checks ask. After a start from
// resync.rdb it also turns the AOF back on (agent/aof.ts). It exits only on SIGTERM,
// or when its own loop stalls (then ContainerPilot restarts it).
import { Clock, Duration, Effect, FiberMap, Layer, Option, Queue, Ref, Schedule, Schema, Stream } from "effect"
import { type Endpoint, formatEndpoint } from "../domain/Endpoint.ts"
import { parseSwitchMaster } from "../domain/SentinelEvents.ts"
import { selfSentinel } from "../domain/Settings.ts"
import { Timings } from "../domain/Timings.ts"
import { Sentinel, type SentinelEvent } from "../layers/Sentinel.ts"
import { Settings } from "../layers/Settings.ts"
import { apiLayer } from "./agent/api.ts"
import { type AgentState, initialState, peersOf } from "./agent/AgentState.ts"
import { aofPendingAtStart, careForAof } from "./agent/aof.ts"
import { careForReplica, careForSentinel, careForSentinelPeriods } from "./agent/care.ts"
import { careForFence, leaseEnd } from "./agent/fence.ts"
import { observeCycle, recordSwitch } from "./agent/observer.ts"
import { carePause } from "./agent/pause.ts"
import { syncRegistry } from "./agent/registrar.ts"

export class AgentStalled extends Schema.TaggedError<AgentStalled>()("AgentStalled", { idle: Schema.String }) {
  override get message(): string {
    return `the observation loop made no progress for ${this.idle}: exiting so ContainerPilot restarts the agent`
  }
}

interface Heard {
  readonly from: Endpoint
  readonly event: SentinelEvent
}

/** One subscription per sentinel (the local one and every peer), kept in line with the peers the registrar finds. */
const subscriptions = (state: Ref.Ref<AgentState>, heard: Queue.Queue<Heard>) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const sentinel = yield* Sentinel
    const timings = yield* Timings
    const fibers = yield* FiberMap.make<string>()
    const running = new Set<string>()
    const listen = (at: Endpoint) =>
      sentinel.events(at).pipe(
        Stream.runForEach((event) => Queue.offer(heard, { from: at, event })),
        Effect.retry(Schedule.spaced(timings.resubscribeEvery)),
        Effect.forever
      )
    const reconcile = Effect.gen(function*() {
      const wanted = new Map([selfSentinel(settings), ...peersOf(yield* Ref.get(state))].map((e) => [formatEndpoint(e), e] as const))
      for (const [key, at] of wanted) {
        if (running.has(key)) continue
        running.add(key)
        yield* FiberMap.run(fibers, key, listen(at))
      }
      for (const key of [...running]) {
        if (wanted.has(key)) continue
        running.delete(key)
        yield* FiberMap.remove(fibers, key)
      }
    })
    yield* reconcile.pipe(Effect.repeat(Schedule.spaced(timings.registrySyncEvery)))
  })

/** Exits the agent when the observation loop stops making progress (a bug, not a dependency: those are bounded). */
const watchdog = (state: Ref.Ref<AgentState>) =>
  Effect.gen(function*() {
    const { agentStall } = yield* Timings
    const check = Effect.gen(function*() {
      const s = yield* Ref.get(state)
      const now = yield* Clock.currentTimeMillis
      const last = Option.match(s.lastCycle, { onNone: () => s.startedAt, onSome: (c) => c.at })
      if (now - last > Duration.toMillis(agentStall)) return yield* new AgentStalled({ idle: Duration.format(Duration.millis(now - last)) })
    })
    yield* check.pipe(Effect.repeat(Schedule.spaced(Duration.millis(Duration.toMillis(agentStall) / 3))))
  })

export const agent = Effect.gen(function*() {
  const settings = yield* Settings
  const timings = yield* Timings
  const state = yield* Ref.make(initialState(yield* Clock.currentTimeMillis, yield* aofPendingAtStart))
  const wake = yield* Queue.sliding<boolean>(1)
  const fenceWake = yield* Queue.sliding<void>(1)
  const heard = yield* Queue.sliding<Heard>(64)

  // Listening first: a port in use fails the agent at once, and ContainerPilot retries.
  yield* Layer.build(apiLayer(state, settings, timings))
  yield* Effect.log(`agent up: API on ${settings.node.bindAddress}:${settings.node.apiPort}`)

  const wakeRegistrar = Queue.offer(wake, false).pipe(Effect.asVoid)
  const observe = observeCycle(state, wakeRegistrar, Queue.offer(fenceWake, undefined).pipe(Effect.asVoid))
  const onEvent = ({ from, event }: Heard) =>
    Effect.gen(function*() {
      const change = parseSwitchMaster(event.channel, event.message, settings.masterName)
      if (Option.isSome(change) && (yield* recordSwitch(state, change.value))) {
        yield* Effect.log(`failover: Sentinel switched ${settings.masterName} from ${formatEndpoint(change.value.from)} to ${formatEndpoint(change.value.to)}`)
      }
      return `${event.channel} from sentinel ${formatEndpoint(from)}`
    })
  // At least twice per FENCE_AFTER: one late observation must never let a healthy
  // master's lease run out.
  const observeEvery = Option.match(settings.redis.fenceAfter, {
    onNone: () => timings.observeEvery,
    onSome: (fenceAfter) => Duration.min(timings.observeEvery, Duration.divideUnsafe(fenceAfter, 2))
  })
  const triggers = Stream.merge(
    Stream.tick(observeEvery).pipe(Stream.map(() => "tick")),
    Stream.fromQueue(heard).pipe(Stream.mapEffect(onEvent))
  ).pipe(Stream.buffer({ capacity: 1, strategy: "sliding" }))
  const registry = Stream.merge(
    Stream.tick(timings.registrySyncEvery).pipe(Stream.map(() => true)),
    Stream.fromQueue(wake)
  ).pipe(Stream.buffer({ capacity: 1, strategy: "sliding" }))

  // After every observation, and at the moment the master's lease would run out.
  const fenceLoop = Effect.gen(function*() {
    const end = leaseEnd(settings, yield* Ref.get(state))
    const now = yield* Clock.currentTimeMillis
    const untilEnd = Option.match(end, { onNone: () => Effect.never, onSome: (at) => Effect.sleep(Duration.millis(Math.max(0, at - now))) })
    yield* Effect.raceFirst(Queue.take(fenceWake), untilEnd)
    yield* careForFence(state, wakeRegistrar)
  }).pipe(Effect.forever)

  yield* Effect.all([
    Stream.runForEach(triggers, observe),
    fenceLoop,
    Stream.runForEach(registry, syncRegistry(state)),
    careForReplica(state).pipe(Effect.repeat(Schedule.spaced(timings.careEvery))),
    careForAof(state),
    carePause(state).pipe(Effect.repeat(Schedule.spaced(timings.pauseEvery))),
    careForSentinelPeriods.pipe(Effect.repeat(Schedule.spaced(timings.sentinelTuningEvery))),
    careForSentinel(state).pipe(Effect.repeat(Schedule.spaced(timings.sentinelResetSpacing))),
    subscriptions(state, heard),
    watchdog(state)
  ], { concurrency: "unbounded", discard: true })
}).pipe(Effect.scoped)
