// The write fence kept by the agent (Fence.ts): a lease that each observation naming
// this node master renews. A timer set for the lease's end (no polling) lets a master
// verdict older than FENCE_AFTER lapse, so Redis and Consul drop an unconfirmed master
// on time even while an observation waits on a silent peer; after every observation,
// and when the verdict lapsed, the decision is put into Redis (`min-replicas-to-write`).
// At rest Redis is asked little: what it runs with is read back every few seconds (a
// Redis restarted from a rewritten redis.conf is corrected), and on a master the
// replicas' lag likewise, ROLE's list of replicas bounding it in between. Logs each
// change of decision.
import { Clock, Duration, Effect, Option, Ref } from "effect"
import { decideFence, type Fence, minReplicasOf } from "../../domain/Fence.ts"
import { asOf, holdsOf } from "../../domain/Health.ts"
import { type ReplicaLink } from "../../domain/RedisReplies.ts"
import { selfRedis } from "../../domain/Settings.ts"
import { Timings } from "../../domain/Timings.ts"
import { Redis } from "../../layers/Redis.ts"
import { Settings } from "../../layers/Settings.ts"
import { type AgentState } from "./AgentState.ts"

const sameFence = (a: Fence, b: Fence): boolean =>
  a._tag === b._tag && minReplicasOf(a) === minReplicasOf(b)

/** Replicas Redis counts for min-replicas-to-write: online, acknowledged within the lag. */
const inSync = (links: ReadonlyArray<ReplicaLink>, maxLagSeconds: number): number =>
  links.filter((l) => l.state === "online" && l.lag <= maxLagSeconds).length

/** When the master verdict's lease runs out, for the timer; None: nothing to wait for (not passing, or no fencing). */
export const leaseEnd = (settings: Settings["Service"], s: AgentState): Option.Option<number> =>
  Option.flatMap(settings.redis.fenceAfter, (fenceAfter) =>
    Option.flatMap(s.verdicts, (v) => (v.master.pass ? Option.some(v.master.confirmedAt + Duration.toMillis(fenceAfter) + 1) : Option.none())))

/** Runs after every observation and when the lease may have run out: acts when the master verdict lapsed or a new observation came. */
export const careForFence = (state: Ref.Ref<AgentState>, wakeRegistrar: Effect.Effect<void>) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const redis = yield* Redis
    const { registrySyncEvery } = yield* Timings
    if (Option.isNone(settings.redis.fenceAfter)) return
    const fenceAfter = settings.redis.fenceAfter.value
    const now = yield* Clock.currentTimeMillis
    const before = yield* Ref.get(state)
    if (Option.isNone(before.verdicts) || Option.isNone(before.observation)) return
    const hold = holdsOf(Duration.toMillis(settings.health.interval), Option.some(Duration.toMillis(fenceAfter))).master
    const master = asOf(before.verdicts.value.master, now, hold, `no majority of the sentinels named this node master within FENCE_AFTER (${Duration.format(fenceAfter)})`)
    const lapsed = master !== before.verdicts.value.master
    if (!lapsed && before.cycles === before.fence.cycle) return
    if (lapsed) {
      yield* Ref.update(state, (s) => ({ ...s, verdicts: Option.map(s.verdicts, (v) => ({ ...v, master })) }))
      yield* Effect.log(`master check failing (lease): ${master.reason}`)
      yield* wakeRegistrar
    }

    const observation = before.observation.value
    const role = observation.role._tag === "Unseen" ? "unknown" : observation.role.value._tag === "Master" ? "master" : "replica"
    const lastKnownRole = role === "unknown" ? before.fence.lastKnownRole : role
    const self = selfRedis(settings)
    const maxLag = Duration.toSeconds(settings.redis.minReplicasMaxLag)
    const listedReplicas = observation.role._tag === "Seen" && observation.role.value._tag === "Master" ? observation.role.value.replicas.length : 0
    // Read again every few seconds, or when the role just changed; ROLE's list of
    // connected replicas (from every observation) bounds the count in between.
    const stale = now - before.fence.verifiedAt >= Duration.toMillis(registrySyncEvery) || role !== before.fence.lastKnownRole
    const replicasInSync = role !== "master"
      ? 0
      : stale
      ? yield* redis.replicaLinks(self).pipe(Effect.map((links) => inSync(links, maxLag)), Effect.orElseSucceed(() => before.fence.replicasInSync))
      : Math.min(before.fence.replicasInSync, listedReplicas)
    const fence = decideFence({
      role,
      lastKnownRole,
      master,
      alone: observation.sentinels.known <= 1 && listedReplicas === 0,
      replicasInSync,
      floor: settings.redis.minReplicasToWrite
    })

    // What Redis runs with is read back every few seconds, not only remembered: a
    // restart or Sentinel's rewrite of redis.conf may have changed it. Not while it is
    // silent: the set alone is sent, and waits for Redis with every other client.
    const want = minReplicasOf(fence)
    const verify = stale || !Option.contains(before.fence.applied, want)
    const current = role === "unknown" ? Option.none<number>() : verify ? yield* redis.minReplicasToWrite(self).pipe(Effect.option) : before.fence.applied
    const applied = Option.contains(current, want)
      ? current
      : yield* redis.setMinReplicasToWrite(self, want).pipe(
        Effect.as(Option.some(want)),
        Effect.orElseSucceed(() => Option.none<number>())
      )

    const previous = before.fence.decision
    const changed = Option.match(previous, { onNone: () => true, onSome: (p) => !sameFence(p.fence, fence) })
    yield* Ref.update(state, (s) => ({
      ...s,
      fence: {
        decision: changed ? Option.some({ fence, since: now }) : s.fence.decision,
        cycle: before.cycles,
        verifiedAt: stale ? now : s.fence.verifiedAt,
        lastKnownRole,
        replicasInSync,
        applied
      }
    }))
    if (!changed) return
    const wasFenced = Option.exists(previous, (p) => p.fence._tag === "Fenced")
    if (fence._tag === "Fenced") yield* Effect.logWarning(`writes fenced (min-replicas-to-write ${want}): ${fence.reason}`)
    else if (wasFenced) yield* Effect.log(`writes accepted again (min-replicas-to-write ${want}): ${fence.reason}`)
    else if (Option.isSome(previous)) yield* Effect.log(`min-replicas-to-write ${want}: ${fence.reason}`)
  })
