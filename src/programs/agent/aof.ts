// The agent's side of a restart from resync.rdb (RestartResync.ts, DESIGN.md §6):
// pre-start started this replica with its AOF off so that it kept its replication ID
// and resynced partially. Until the AOF is on and written, a crash would lose what the
// node received since its start, so the agent turns it on once the replica caught up
// (at once if it is master), and when Redis has written it, persists that (CONFIG
// REWRITE: a crashed Redis restarts from redis.conf). A node started with its AOF on
// never runs this loop: the rendered redis.conf says which.
import { Effect, Option, Path, Schedule } from "effect"
import { aofStep, startedWithoutAof } from "../../domain/RestartResync.ts"
import { selfRedis } from "../../domain/Settings.ts"
import { Timings } from "../../domain/Timings.ts"
import { Redis } from "../../layers/Redis.ts"
import { Settings } from "../../layers/Settings.ts"
import { readOptional } from "../files.ts"

/** One look and at most one step; true once the AOF is on, written and persisted. */
const step = Effect.gen(function*() {
  const settings = yield* Settings
  const redis = yield* Redis
  const self = selfRedis(settings)
  // Each step may be taken again (a failure halfway, a crashed Redis back from
  // redis.conf with its AOF off): the state is read afresh every time.
  const [aofOn, replication, persistence] = yield* Effect.all([redis.aofOn(self), redis.replication(self), redis.persistence(self)])
  const next = aofStep({
    aofOn,
    role: replication.role === "master" ? "master" : "replica",
    caughtUp: replication.master_link_status === "up" && replication.master_sync_in_progress !== 1,
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
      yield* Effect.log("AOF written: redis.conf rewritten with it on, so a restarted Redis loads it")
      return true
  }
}).pipe(
  Effect.catchTag("RedisError", (e) => Effect.logWarning(`turning the AOF back on: ${e.message}; trying again`).pipe(Effect.as(false)))
)

/** Runs until the AOF is back, when this start had it off; returns at once otherwise. */
export const careForAof = Effect.gen(function*() {
  const settings = yield* Settings
  const timings = yield* Timings
  const path = yield* Path.Path
  const conf = yield* readOptional(path.join(settings.configDir, "redis.conf")).pipe(Effect.orElseSucceed(() => Option.none<string>()))
  if (!Option.exists(conf, startedWithoutAof)) return
  yield* step.pipe(Effect.repeat({ schedule: Schedule.spaced(timings.aofCareEvery), until: (done) => done }))
})
