// The agent's side of a restart from resync.rdb (RestartResync.ts, DESIGN.md §6):
// pre-start started this replica with its AOF off so that it kept its replication ID
// and resynced partially. Until the AOF is on and written, a crash would lose what the
// node received since its start, so the agent turns it on once the replica caught up
// (at once if it is master), and when Redis has written it, persists that (CONFIG
// REWRITE: a crashed Redis restarts from redis.conf), removes resync.rdb and lets the
// pause care put REPLICA_PRIORITY back (0 until then: never promoted meanwhile). A
// node started with its AOF on never runs this loop: the rendered redis.conf says which.
import { Effect, Option, Path, Ref, Schedule } from "effect"
import { aofStep, resyncRdbFile, startedWithoutAof } from "../../domain/RestartResync.ts"
import { selfRedis } from "../../domain/Settings.ts"
import { Timings } from "../../domain/Timings.ts"
import { Redis } from "../../layers/Redis.ts"
import { Settings } from "../../layers/Settings.ts"
import { readOptional, removeIfPresent } from "../files.ts"
import { type AgentState } from "./AgentState.ts"

/** One look and at most one step; true once the AOF is on, written and persisted. */
const step = (state: Ref.Ref<AgentState>) => Effect.gen(function*() {
  const settings = yield* Settings
  const redis = yield* Redis
  const path = yield* Path.Path
  const self = selfRedis(settings)
  // Each step may be taken again (a failure halfway, a crashed Redis back from
  // redis.conf with its AOF off): the state is read afresh every time.
  const [aofOn, replication, persistence] = yield* Effect.all([redis.aofOn(self), redis.replication(self), redis.persistence(self)])
  const next = aofStep({
    aofOn,
    role: replication.role === "master" ? "master" : "replica",
    // "up" only once any full copy is loaded (Redis's REPL_STATE_CONNECTED).
    caughtUp: replication.master_link_status === "up",
    aofWritten: persistence.aof_rewrite_in_progress === 0 && persistence.aof_rewrite_scheduled === 0 && persistence.aof_last_bgrewrite_status === "ok"
  })
  switch (next._tag) {
    case "Wait":
      yield* Effect.logDebug(`AOF still off or unwritten after a start from the RDB saved at the last stop: ${next.reason}`)
      return false
    case "TurnAofOn":
      yield* redis.turnAofOn(self)
      yield* Effect.log(`AOF turned on (${next.reason}); Redis writes it from memory in the background`)
      return false
    case "Finish":
      yield* redis.rewriteConfig(self)
      // Only now: a start before this point finds it and starts from it again.
      yield* removeIfPresent(path.join(settings.dataDir, resyncRdbFile))
      yield* Ref.update(state, (s) => ({ ...s, aofPending: false, priority: { ...s.priority, restorePending: true } }))
      yield* Effect.log("AOF written: redis.conf rewritten with it on, so a restarted Redis loads it; REPLICA_PRIORITY back next")
      return true
  }
}).pipe(
  Effect.catchTag("RedisError", (e) => Effect.logWarning(`turning the AOF back on: ${e.message}; trying again`).pipe(Effect.as(false)))
)

/** The rendered redis.conf starts Redis with the AOF off: read once, as the agent starts. */
export const aofPendingAtStart = Effect.gen(function*() {
  const settings = yield* Settings
  const path = yield* Path.Path
  const conf = yield* readOptional(path.join(settings.configDir, "redis.conf")).pipe(Effect.orElseSucceed(() => Option.none<string>()))
  return Option.exists(conf, startedWithoutAof)
})

/** Runs until the AOF is back, when this start had it off; returns at once otherwise. */
export const careForAof = (state: Ref.Ref<AgentState>) =>
  Effect.gen(function*() {
    const timings = yield* Timings
    if (!(yield* Ref.get(state)).aofPending) return
    yield* step(state).pipe(Effect.repeat({ schedule: Schedule.spaced(timings.aofCareEvery), until: (done) => done }))
  })
