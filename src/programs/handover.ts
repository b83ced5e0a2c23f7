// The steps of a planned handover of the master role, shared by `pre-stop` (the
// master is stopping) and `switchover` (the operator asks): pause writes on the
// master and wait until a replica holds every acknowledged write, ask a Sentinel for
// SENTINEL FAILOVER, wait until it names the new master, and point replicas it left
// behind at the new master. Each step is bounded and reports what happened as a
// value; the callers decide what a failed step means.
import { type Duration, Effect, Option } from "effect"
import { type Endpoint, formatEndpoint, sameEndpoint, uniqueEndpoints } from "../domain/Endpoint.ts"
import { Timings } from "../domain/Timings.ts"
import { endpointOf, type ServiceInstance } from "../layers/Consul.ts"
import { Redis } from "../layers/Redis.ts"
import { Sentinel } from "../layers/Sentinel.ts"
import { Settings } from "../layers/Settings.ts"
import { pollUntil } from "./poll.ts"

/**
 * The passing sentinels, then `more` (sentinels found without Consul), `last` (this
 * node's own, which may be stopping with it) at the end; each once.
 */
export const sentinelsToAsk = (instances: ReadonlyArray<ServiceInstance>, last: Endpoint, more: ReadonlyArray<Endpoint> = []): ReadonlyArray<Endpoint> => [
  ...uniqueEndpoints([...instances.filter((s) => s.passing).map(endpointOf), ...more]).filter((p) => !sameEndpoint(p, last)),
  last
]

/**
 * `CLIENT PAUSE WRITE` on the master for `pauseFor`, then waits (bounded by
 * replicaCatchUp) until one of `replicas` has the master's offset as it was once
 * paused: that replica holds every acknowledged write. None: writes are unpaused.
 */
export const pauseUntilCaughtUp = (master: Endpoint, replicas: ReadonlyArray<Endpoint>, pauseFor: Duration.Duration) =>
  Effect.gen(function*() {
    const redis = yield* Redis
    const timings = yield* Timings
    yield* redis.pauseWrites(master, pauseFor)
    const paused = yield* redis.replication(master)
    const caughtUp = (at: Endpoint) =>
      redis.role(at).pipe(
        Effect.map((r) => r._tag === "Replica" && r.offset >= paused.master_repl_offset),
        Effect.orElseSucceed(() => false)
      )
    const found = yield* pollUntil(Effect.findFirst(replicas, caughtUp), Option.isSome, timings.replicaCatchUp, () => Option.none<Endpoint>())
    if (Option.isNone(found)) yield* redis.unpause(master)
    return found
  })

/** The first of `sentinels` that accepts SENTINEL FAILOVER; the refusals are logged. */
export const requestFailover = (sentinels: ReadonlyArray<Endpoint>, label: string) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const sentinel = yield* Sentinel
    return yield* Effect.findFirst(sentinels, (at) =>
      sentinel.failover(at, settings.masterName).pipe(
        Effect.as(true),
        Effect.catch((e) => Effect.logWarning(`${label}: ${e.message}`).pipe(Effect.as(false)))
      ))
  })

/** Asks `at` until it names a master other than `old`, within `bound`; None if it did not. */
export const awaitNewMaster = (at: Endpoint, old: Endpoint, bound: Duration.Duration) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const sentinel = yield* Sentinel
    const named = sentinel.masterAddress(at, settings.masterName).pipe(
      Effect.option,
      Effect.map((m) => Option.filter(Option.flatten(m), (e) => !sameEndpoint(e, old)))
    )
    return yield* pollUntil(named, Option.isSome, bound, () => Option.none<Endpoint>())
  })

/**
 * A replica the Sentinel did not know still follows the old master; left alone it
 * would chain to it forever once that returns as a replica. Moves each to the new master.
 */
export const moveLeftBehind = (old: Endpoint, replicas: ReadonlyArray<Endpoint>, newMaster: Endpoint, label: string) =>
  Effect.gen(function*() {
    const redis = yield* Redis
    yield* Effect.forEach(replicas.filter((r) => !sameEndpoint(r, newMaster)), (r) =>
      redis.role(r).pipe(
        Effect.flatMap((now) =>
          now._tag === "Replica" && sameEndpoint(now.master, old)
            ? redis.replicaOf(r, newMaster).pipe(
              Effect.tap(() => Effect.log(`${label}: moved ${formatEndpoint(r)}, which Sentinel had not moved, to ${formatEndpoint(newMaster)}`))
            )
            : Effect.void
        ),
        Effect.catch((e) => Effect.logWarning(`${label}: ${e.message}`))
      ), { discard: true })
  })
