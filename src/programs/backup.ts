// `manage backup [--now]`: when a backup is due and this node is the one to take it
// (DESIGN.md §7), take it under the cluster-wide backup lock: BGSAVE, stream the RDB
// gzip-compressed to the store while hashing it, confirm the upload, record the
// manifest in Consul, copy it beside the backup, prune. The manifest is written only
// after the store confirmed the object, and to Consul before the store, so a failed
// run leaves nothing a restore could pick up.
import { DateTime, Duration, Effect, FileSystem, Option, Path, Schedule, Schema, Stream } from "effect"
import { backupFileName, backupId, backupsToPrune, electBackupNode, isBackupDue, type LocalRole, type Manifest, manifestFileName } from "../domain/Backup.ts"
import { recordBackup } from "../domain/ClusterRecord.ts"
import { consulNames } from "../domain/ConsulNames.ts"
import { keyspaceKeys } from "../domain/RedisReplies.ts"
import { selfRedis } from "../domain/Settings.ts"
import { Timings } from "../domain/Timings.ts"
import { BackupStore } from "../layers/BackupStore.ts"
import { Consul } from "../layers/Consul.ts"
import { Redis } from "../layers/Redis.ts"
import { Settings } from "../layers/Settings.ts"
import { updateClusterRecord } from "./clusterRecord.ts"
import { recordedBackup } from "./lastBackup.ts"
import { keepAlive } from "./sessions.ts"
import { digesting, gzip } from "./streams.ts"

export class BackupFailed extends Schema.TaggedError<BackupFailed>()("BackupFailed", { reason: Schema.String }) {
  override get message(): string {
    return `backup failed, nothing was recorded: ${this.reason}`
  }
}

const localRole = Effect.gen(function*() {
  const settings = yield* Settings
  const redis = yield* Redis
  const role = yield* redis.role(selfRedis(settings)).pipe(Effect.option)
  return Option.match(role, {
    onNone: (): LocalRole => "unavailable",
    onSome: (r): LocalRole => (r._tag === "Master" ? "master" : r._tag === "Replica" && r.state === "connected" ? "replica" : "unavailable")
  })
})

/** BGSAVE and wait until a save newer than the one before has finished, bounded. */
const freshRdb = Effect.gen(function*() {
  const settings = yield* Settings
  const redis = yield* Redis
  const timings = yield* Timings
  const self = selfRedis(settings)
  const before = yield* redis.persistence(self)
  yield* redis.bgsave(self)
  const done = yield* redis.persistence(self).pipe(
    Effect.repeat({
      schedule: Schedule.spaced(timings.pollEvery),
      // A save counter, not rdb_last_save_time: that has one-second resolution, and a
      // save finishing in the same second as the one before would never be seen.
      until: (p) => p.rdb_bgsave_in_progress === 0 && p.rdb_saves > before.rdb_saves
    }),
    Effect.timeoutOrElse({
      duration: timings.bgsaveTimeout,
      orElse: () => Effect.fail(new BackupFailed({ reason: `BGSAVE did not finish within ${Duration.format(timings.bgsaveTimeout)}` }))
    })
  )
  if (done.rdb_last_bgsave_status !== "ok") return yield* new BackupFailed({ reason: `BGSAVE reported ${done.rdb_last_bgsave_status}` })
})

/** Takes one backup; the caller holds the backup lock. */
const takeBackup = Effect.gen(function*() {
  const settings = yield* Settings
  const redis = yield* Redis
  const store = yield* BackupStore
  const consul = yield* Consul
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const self = selfRedis(settings)
  const now = yield* DateTime.now
  const id = backupId(settings.serviceName, now, settings.node.name)
  const name = backupFileName(id)

  yield* freshRdb
  // A hard link pins this RDB: a later BGSAVE replaces dump.rdb by rename, not in place.
  const pinned = path.join(settings.dataDir, `.backup-${id}.rdb`)
  yield* fs.link(path.join(settings.dataDir, "dump.rdb"), pinned)
  const upload = Effect.gen(function*() {
    const measured = digesting(gzip(fs.stream(pinned), (cause) => new BackupFailed({ reason: `compression failed: ${String(cause)}` })))
    const stored = yield* store.put(name, measured.stream)
    const sent = yield* measured.digest
    const confirmed = yield* store.stat(name)
    if (Option.isNone(confirmed) || confirmed.value.bytes !== sent.bytes || stored.bytes !== sent.bytes) {
      return yield* new BackupFailed({ reason: `the store did not confirm ${name}: sent ${sent.bytes} bytes, it reports ${Option.match(confirmed, { onNone: () => "nothing", onSome: (c) => `${c.bytes} bytes` })}` })
    }
    return sent
  }).pipe(Effect.ensuring(fs.remove(pinned).pipe(Effect.ignore)))
  const sent = yield* upload

  const manifest: Manifest = {
    id,
    createdAt: DateTime.formatIso(now),
    node: settings.node.name,
    bytes: sent.bytes,
    sha256: sent.sha256,
    store: store.kind === "manta" ? "manta" : "local",
    path: store.location(name),
    redisVersion: yield* redis.version(self)
  }
  // Consul's record is the commit: until it is written, nothing anywhere names this
  // backup, so a run that fails here records nothing (the unnamed object is pruned
  // later). Only then the copy beside the backup, for a new cluster whose Consul is
  // empty; a store manifest therefore always names a backup Consul recorded. A failed
  // copy leaves a recorded backup, and the previous copy stays the store's newest.
  const record = JSON.stringify(manifest)
  yield* consul.put(consulNames(settings.serviceName).lastBackup, record)
  yield* Effect.log(`backup ${id} recorded: ${sent.bytes} bytes, sha256 ${sent.sha256}, at ${manifest.path}`)
  yield* store.put(manifestFileName(id), Stream.make(new TextEncoder().encode(record))).pipe(
    Effect.catch((e) => Effect.logWarning(`backup ${id} is recorded in Consul, but its manifest could not be stored beside it (a cluster whose Consul is empty would restore an older one): ${e.message}`))
  )
  // A backup proves the cluster held data: from now on no empty node founds it without the grace.
  yield* updateClusterRecord((prev) => Effect.succeed(recordBackup(prev))).pipe(
    Effect.catch((e) => Effect.logWarning(`could not record in ${consulNames(settings.serviceName).cluster} that the cluster holds data: ${e.message}`))
  )

  const stored = yield* store.list
  const prune = backupsToPrune({ serviceName: settings.serviceName, stored: stored.map((o) => o.name), keep: settings.backup.keep, newest: name })
  yield* Effect.forEach(prune, (old) =>
    store.remove(old).pipe(
      Effect.tap(() => Effect.log(`pruned ${old}`)),
      Effect.catch((e) => Effect.logWarning(`could not prune ${old}: ${e.message}`))
    ), { discard: true })
})

export const backup = (forced: boolean) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const consul = yield* Consul
    const redis = yield* Redis
    const timings = yield* Timings
    const store = yield* BackupStore
    if (store.kind === "none") return yield* Effect.log("no backup: BACKUP_STORE=none")
    const names = consulNames(settings.serviceName)
    const self = selfRedis(settings)

    const dueNow = Effect.gen(function*() {
      const manifest = yield* recordedBackup
      return isBackupDue({ manifest, now: yield* DateTime.now, interval: settings.backup.interval, forced })
    })
    const due = yield* dueNow
    if (!due.due) return yield* Effect.logDebug(`no backup: ${due.reason}`)

    // An empty dataset is never recorded: it would become the newest backup, and the one
    // a cluster that lost everything restores, superseding real data.
    const keys = yield* redis.info(self, "keyspace").pipe(Effect.map(keyspaceKeys), Effect.orElseSucceed(() => 0))
    if (keys === 0) return yield* Effect.log("no backup: the dataset is empty (or Redis is not answering); the newest backup stays the newest")

    const role = yield* localRole
    const replicas = yield* consul.instances(names.replicaService)
    const elected = electBackupNode({ self, role, healthyReplicas: replicas.filter((r) => r.passing).map((r) => ({ host: r.address, port: r.port })) })
    if (role === "unavailable" || (!elected.due && !forced)) return yield* Effect.log(`no backup from this node: ${elected.reason}`)

    const session = yield* consul.createSession({ name: `${settings.serviceName} backup ${settings.node.name}`, ttl: timings.backupSessionTtl, lockDelay: Duration.zero, behavior: "delete" })
    const holder = JSON.stringify({ node: settings.node.name, address: self.host, port: self.port })
    const run = Effect.gen(function*() {
      if (!(yield* consul.acquire(names.backupLock, holder, session))) return yield* Effect.log("no backup: another node holds the backup lock")
      yield* keepAlive(session, timings.backupRenewEvery)
      // Another node may have finished one while this node waited for the lock.
      const still = yield* dueNow
      if (!still.due) return yield* Effect.log(`no backup: ${still.reason}`)
      yield* Effect.log(`taking a backup: ${due.reason}; ${elected.reason}`)
      yield* takeBackup
    })
    yield* run.pipe(
      Effect.scoped,
      Effect.ensuring(consul.destroySession(session).pipe(Effect.ignore))
    )
  }).pipe(
    Effect.mapError((e) => (e instanceof BackupFailed ? e : new BackupFailed({ reason: e.message })))
  )
