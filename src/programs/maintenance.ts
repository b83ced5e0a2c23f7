// `manage pause` / `manage resume` (DESIGN.md §3, §4): set or clear
// `service/<name>/paused`. While it is set the agents hold every node's Redis at
// replica-priority 0, so Sentinel has nobody to promote and no automatic failover
// happens; pre-stop hands nothing over and the agents move and reset nothing. `pause`
// does not wait for the agents: it sets the replicas it finds to 0 itself and waits
// (bounded) until the sentinels report it; `resume` waits (bounded) until the agents
// report their REPLICA_PRIORITY back. Exit 0 once the key is written or removed.
import { DateTime, Duration, Effect, Option } from "effect"
import { consulNames } from "../domain/ConsulNames.ts"
import { type Endpoint, formatEndpoint, sameEndpoint, uniqueEndpoints } from "../domain/Endpoint.ts"
import { pauseNote } from "../domain/Pause.ts"
import { Timings } from "../domain/Timings.ts"
import { Consul, endpointOf } from "../layers/Consul.ts"
import { Redis } from "../layers/Redis.ts"
import { Sentinel } from "../layers/Sentinel.ts"
import { Settings } from "../layers/Settings.ts"
import { askAgents } from "./agentReports.ts"
import { pollUntil } from "./poll.ts"
import { registeredRedis } from "./registered.ts"

/** Every Redis Consul lists as master or replica, in any state. */
const registeredNodes = Effect.map(registeredRedis, (instances) => uniqueEndpoints(instances.map(endpointOf)))

/** Waits (bounded) for `done`; whether it held. */
const within = <R>(bound: Duration.Duration, done: Effect.Effect<boolean, never, R>) => pollUntil(done, (ok) => ok, bound, () => false)

export const pause = Effect.gen(function*() {
  const settings = yield* Settings
  const consul = yield* Consul
  const redis = yield* Redis
  const sentinel = yield* Sentinel
  const timings = yield* Timings
  const names = consulNames(settings.serviceName)
  const now = DateTime.formatIso(yield* DateTime.now)
  const written = yield* consul.put(names.paused, pauseNote(settings.node.name, now), { cas: 0 })
  if (!written) yield* Effect.log(`${names.paused} was already set; still paused`)

  // The agents do the same within a second; doing it here means no wait for them.
  const nodes = yield* registeredNodes
  const replicas = yield* Effect.filter(nodes, (at) => redis.role(at).pipe(Effect.map((r) => r._tag === "Replica"), Effect.orElseSucceed(() => false)), {
    concurrency: "unbounded"
  })
  yield* Effect.forEach(replicas, (at) =>
    redis.setReplicaPriority(at, 0).pipe(Effect.catch((e) => Effect.logWarning(`pause: ${e.message} (its agent sets it once it can)`))), {
    concurrency: "unbounded",
    discard: true
  })

  // Sentinel reads a replica's priority from its INFO (every second as the agents tune it, 10 s untuned): until then it could still promote one.
  const sentinels = (yield* consul.instances(names.sentinelService)).filter((s) => s.passing).map(endpointOf)
  const knows = (at: Endpoint) =>
    sentinel.replicas(at, settings.masterName).pipe(
      Effect.map((known) => replicas.every((r) => known.some((k) => sameEndpoint(k.endpoint, r) && k.priority === 0))),
      Effect.orElseSucceed(() => false)
    )
  const everywhere = yield* within(timings.priorityPropagation, Effect.map(Effect.forEach(sentinels, knows, { concurrency: "unbounded" }), (all) => all.every(Boolean)))
  const list = replicas.map(formatEndpoint).join(", ") || "none"
  if (!everywhere) {
    return yield* Effect.logWarning(`paused (${names.paused} set), replicas at priority 0: ${list}; not every sentinel reported it within ${Duration.format(timings.priorityPropagation)} (a failover started before they do could still happen)`)
  }
  yield* Effect.log(`paused: no automatic failover until \`manage resume\`; replicas at priority 0: ${list}, and ${sentinels.length} sentinel(s) report it`)
})

export const resume = Effect.gen(function*() {
  const settings = yield* Settings
  const consul = yield* Consul
  const timings = yield* Timings
  const names = consulNames(settings.serviceName)
  const present = Option.isSome(yield* consul.get(names.paused))
  yield* consul.remove(names.paused)
  if (!present) return yield* Effect.log(`not paused (${names.paused} is not set); nothing to resume`)

  const nodes = yield* registeredNodes
  const restored = Effect.map(askAgents(nodes), (answers) =>
    answers.every((a) => Option.match(a.report, { onNone: () => true, onSome: (r) => !r.consul.paused && r.priority !== undefined && r.priority.current === r.priority.configured })))
  const done = yield* within(timings.priorityPropagation, restored)
  if (!done) {
    return yield* Effect.logWarning(`resumed (${names.paused} removed); not every agent reported its REPLICA_PRIORITY back within ${Duration.format(timings.priorityPropagation)}: \`manage list\` shows where`)
  }
  yield* Effect.log("resumed: every answering agent runs its REPLICA_PRIORITY again; Sentinel fails over on its own again once it has read them (each replica's INFO, every second as the agents tune it)")
})
