// `manage pre-stop`: a stopping master hands over to a replica before Redis stops
// (DESIGN.md §4). Writes are paused first and a replica must have caught up, so no
// acknowledged write is lost; writes then stay paused until this Redis exits, because
// after SENTINEL FAILOVER the old master would otherwise accept writes for ~10 s that
// nobody keeps. Never SENTINEL RESET. While the cluster is paused it hands nothing
// over (maintenance: nothing changes). It needs no Consul: the sentinels to ask are
// also those of the nodes its replicas run on. Then it shuts Redis down itself
// (Redis's own graceful SHUTDOWN, saving an RDB from which the node's next start
// resyncs partially), so the container stops as soon as that is done rather than
// after ContainerPilot's fixed stopTimeout. Always exits 0.
import { Clock, Duration, Effect, Option, Schedule } from "effect"
import { consulNames, serviceId } from "../domain/ConsulNames.ts"
import { type Endpoint, formatEndpoint, sameEndpoint } from "../domain/Endpoint.ts"
import { selfRedis, selfSentinel } from "../domain/Settings.ts"
import { Timings } from "../domain/Timings.ts"
import { Consul, type ServiceInstance } from "../layers/Consul.ts"
import { Redis } from "../layers/Redis.ts"
import { Sentinel } from "../layers/Sentinel.ts"
import { Settings } from "../layers/Settings.ts"
import { awaitNewMaster, moveLeftBehind, pauseUntilCaughtUp, requestFailover, sentinelsToAsk } from "./handover.ts"
import { pollUntil } from "./poll.ts"
import { keepForRestart, shutdownSaving } from "./restartResync.ts"

const handover = Effect.gen(function*() {
  const settings = yield* Settings
  const redis = yield* Redis
  const sentinel = yield* Sentinel
  const consul = yield* Consul
  const timings = yield* Timings
  const self = selfRedis(settings)
  const names = consulNames(settings.serviceName)

  const role = yield* redis.role(self)
  if (role._tag !== "Master") return yield* Effect.log(`pre-stop: not master (${role._tag.toLowerCase()}), nothing to hand over`)
  if (role.replicas.length === 0) return yield* Effect.log("pre-stop: master without a connected replica, nothing to hand over to")
  // Consul may be gone with this host: asked briefly, and unreadable counts as not
  // paused (a stopping master that hands over loses nothing) and as no sentinel listed.
  const briefly = <A, E, R>(call: Effect.Effect<A, E, R>, otherwise: A) =>
    call.pipe(Effect.timeoutOrElse({ duration: timings.consulCall, orElse: () => Effect.succeed(otherwise) }), Effect.orElseSucceed(() => otherwise))
  if (yield* briefly(consul.get(names.paused).pipe(Effect.map(Option.isSome)), false)) {
    return yield* Effect.log(`pre-stop: ${names.paused} is set: not handing over (paused: no failover until \`manage resume\`)`)
  }

  // Peers first: this node's own Sentinel is stopping alongside Redis. Every node runs
  // a sentinel, so the replicas' nodes have one each, Consul or not.
  const registered = yield* briefly(consul.instances(names.sentinelService), [] as ReadonlyArray<ServiceInstance>)
  const replicas = role.replicas.map((r) => r.endpoint)
  const sentinels = sentinelsToAsk(registered, selfSentinel(settings), replicas.map((r) => ({ host: r.host, port: settings.sentinel.port })))

  const caughtUp = yield* pauseUntilCaughtUp(self, replicas, Duration.sum(settings.preStopTimeout, timings.handoverPause))
  if (Option.isNone(caughtUp)) {
    return yield* Effect.logWarning(`pre-stop: no replica caught up within ${Duration.format(timings.replicaCatchUp)}; not handing over, Sentinel will fail over after down-after`)
  }

  // A Sentinel only reconfigures replicas it knows, and it learns them from the master's
  // INFO every 10 s: give the one that will fail over time to know them all.
  const knowsAll = (at: Endpoint) =>
    sentinel.replicas(at, settings.masterName).pipe(
      Effect.map((known) => replicas.every((r) => known.some((k) => sameEndpoint(k.endpoint, r)))),
      Effect.orElseSucceed(() => false)
    )
  const informed = yield* Effect.findFirst(sentinels, knowsAll).pipe(
    Effect.repeat({ schedule: Schedule.spaced(timings.pollEvery), until: Option.isSome }),
    Effect.timeoutOrElse({ duration: timings.sentinelDiscovery, orElse: () => Effect.succeed(Option.none<Endpoint>()) })
  )
  const ordered = Option.match(informed, { onNone: () => sentinels, onSome: (first) => [first, ...sentinels.filter((x) => !sameEndpoint(x, first))] })

  const asked = yield* requestFailover(ordered, "pre-stop")
  if (Option.isNone(asked)) {
    yield* redis.unpause(self)
    return yield* Effect.logWarning("pre-stop: no Sentinel accepted SENTINEL FAILOVER; Sentinel will fail over after down-after")
  }
  // Bounded by pre-stop's own timeout.
  const newMaster = yield* awaitNewMaster(asked.value, self, settings.preStopTimeout)
  yield* Effect.log(`pre-stop: handed over to ${Option.match(newMaster, { onNone: () => "?", onSome: formatEndpoint })}; writes stay paused here until Redis exits`)
  yield* briefly(consul.setCheck(`service:${serviceId(names.masterService, settings.node.name)}`, "critical", "stopping: handed over"), false)
  if (Option.isSome(newMaster)) yield* moveLeftBehind(self, replicas, newMaster.value, "pre-stop")
})

/**
 * Redis's own graceful stop, asked for rather than waited for: ContainerPilot sends
 * SIGTERM after pre-stop and then always waits its whole stopTimeout, which therefore
 * can be short. It saves resync.rdb, so the node's next start resyncs partially
 * (restartResync.ts). Bounded; what does not finish here, SIGTERM finishes.
 */
const shutDown = (within: Duration.Duration) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const redis = yield* Redis
    const self = selfRedis(settings)
    const saving = yield* shutdownSaving(self)
    // Exited: the connection refused or closed. A Redis that does not answer in time is
    // still saving (it answers nothing until it exits), and ContainerPilot would kill
    // it a second after pre-stop ends.
    const exited = redis.role(self).pipe(Effect.as(false), Effect.catch((e) => Effect.succeed(e.reason === "unreachable")))
    const gone = yield* pollUntil(exited, (down) => down, within, () => false)
    if (!gone) return yield* Effect.logWarning(`pre-stop: Redis has not exited ${Duration.format(within)} after SHUTDOWN (still saving?); ContainerPilot will stop it`)
    yield* Effect.log("pre-stop: Redis shut down")
    if (Option.isSome(saving)) yield* keepForRestart(saving.value)
  }).pipe(
    Effect.timeoutOrElse({ duration: within, orElse: () => Effect.logWarning(`pre-stop: SHUTDOWN not answered within ${Duration.format(within)}`) }),
    Effect.catch((e) => Effect.logWarning(`pre-stop: SHUTDOWN: ${e.message}; SIGTERM will stop Redis`))
  )

/** The handover, then Redis's shutdown, all within PRESTOP_TIMEOUT (ContainerPilot's bound on this job), less a margin. */
export const preStop = Effect.gen(function*() {
  const settings = yield* Settings
  const timings = yield* Timings
  const started = yield* Clock.currentTimeMillis
  yield* handover.pipe(
    Effect.timeoutOrElse({
      duration: settings.preStopTimeout,
      orElse: () => Effect.logWarning(`pre-stop: handover did not finish within ${Duration.format(settings.preStopTimeout)}`)
    }),
    Effect.catch((e) => Effect.logWarning(`pre-stop: ${e.message}`))
  )
  const left = Duration.toMillis(settings.preStopTimeout) - Duration.toMillis(timings.preStopMargin) - ((yield* Clock.currentTimeMillis) - started)
  if (left > 0) yield* shutDown(Duration.millis(left))
})
