// Reading and updating the cluster's record (`service/<name>/cluster`) for whichever
// process observes something it should say: read, let a pure update decide (None:
// nothing to write), write with CAS on the index read, and on a lost race start over
// from a fresh read, a few times. Consul failures are the caller's to handle.
import { DateTime, Effect, Option } from "effect"
import { type ClusterRecord, readRecord, recordMasterSeen, type RecordState, needsKeyCount } from "../domain/ClusterRecord.ts"
import { consulNames } from "../domain/ConsulNames.ts"
import { keyspaceKeys } from "../domain/RedisReplies.ts"
import { selfRedis } from "../domain/Settings.ts"
import { Consul, type ConsulError } from "../layers/Consul.ts"
import { Redis } from "../layers/Redis.ts"
import { Settings } from "../layers/Settings.ts"

/** Lost CAS races tolerated before giving up: the writers are few and write rarely. */
const attempts = 3

export const readClusterRecord: Effect.Effect<RecordState, ConsulError, Settings | Consul> = Effect.gen(function*() {
  const settings = yield* Settings
  const consul = yield* Consul
  const entry = yield* consul.get(consulNames(settings.serviceName).cluster)
  return readRecord(Option.map(entry, (e) => e.value))
})

/** Applies `update` to the record; the record written, or None when nothing needed writing (or every race was lost). */
export const updateClusterRecord = <E, R>(
  update: (prev: RecordState) => Effect.Effect<Option.Option<ClusterRecord>, E, R>
): Effect.Effect<Option.Option<ClusterRecord>, E | ConsulError, R | Settings | Consul> =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const consul = yield* Consul
    const key = consulNames(settings.serviceName).cluster
    for (let i = 0; i < attempts; i++) {
      const entry = yield* consul.get(key)
      const next = yield* update(readRecord(Option.map(entry, (e) => e.value)))
      if (Option.isNone(next)) return next
      // cas 0 creates only: two writers of a missing record cannot both win.
      if (yield* consul.put(key, JSON.stringify(next.value), { cas: Option.match(entry, { onNone: () => 0, onSome: (e) => e.modifyIndex }) })) return next
    }
    yield* Effect.logWarning(`${key}: lost ${attempts} write races in a row; the next writer records it`)
    return Option.none()
  })

/**
 * This node's Redis is the master the sentinels name: the record names it the last
 * master seen, and says the cluster held data once the dataset has keys (counted only
 * while the record does not say so yet).
 */
export const recordThisMaster: Effect.Effect<Option.Option<ClusterRecord>, ConsulError, Settings | Consul | Redis> = Effect.gen(function*() {
  const settings = yield* Settings
  const redis = yield* Redis
  const self = selfRedis(settings)
  const at = DateTime.formatIso(yield* DateTime.now)
  return yield* updateClusterRecord((prev) =>
    Effect.gen(function*() {
      const keys = needsKeyCount(prev)
        ? yield* redis.info(self, "keyspace").pipe(Effect.map(keyspaceKeys), Effect.option)
        : Option.none<number>()
      return recordMasterSeen(prev, { node: settings.node.name, endpoint: self }, keys, at)
    })
  )
})
