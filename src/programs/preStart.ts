// `manage pre-start`: choose this node's role (DESIGN.md §5), restore when founding an
// empty cluster (§7), and render redis.conf and sentinel.conf (§6). Fails, so ContainerPilot never starts Redis, when no safe role is found
// within MASTER_WAIT_TIMEOUT or when the bootstrap lock is lost before Redis starts.
import { Data, Effect, FileSystem, Option, Path, Ref, Schedule, Schema } from "effect"
import { restorePlan } from "../domain/Backup.ts"
import { consulNames } from "../domain/ConsulNames.ts"
import { formatGoDuration } from "../domain/EnvValue.ts"
import {
  applyTuningOverrides,
  bootstrapSessionFile,
  type KnownPeers,
  renderRedisConf,
  renderSentinelConf
} from "../domain/RedisConf.ts"
import { decideRole, type RoleDecision } from "../domain/RoleDecision.ts"
import { selfRedis } from "../domain/Settings.ts"
import { Timings } from "../domain/Timings.ts"
import { BackupStore } from "../layers/BackupStore.ts"
import { Consul } from "../layers/Consul.ts"
import { Redis } from "../layers/Redis.ts"
import { Sentinel } from "../layers/Sentinel.ts"
import { Settings } from "../layers/Settings.ts"
import { removeIfPresent, writeAtomic } from "./files.ts"
import { latestBackup } from "./lastBackup.ts"
import { hasLocalData, observeRole } from "./observeRole.ts"
import { restore } from "./restore.ts"
import { keepAlive } from "./sessions.ts"

export class NoSafeRole extends Schema.TaggedError<NoSafeRole>()("NoSafeRole", { waited: Schema.String, reason: Schema.String }) {
  override get message(): string {
    return `no safe role after waiting ${this.waited}: ${this.reason}`
  }
}

export class BootstrapLockLost extends Schema.TaggedError<BootstrapLockLost>()("BootstrapLockLost", { reason: Schema.String }) {
  override get message(): string {
    return `lost the bootstrap lock before Redis started, so not starting as master: ${this.reason}`
  }
}

class Waiting extends Data.TaggedError("Waiting")<{ readonly reason: string }> {}

type Final = Extract<RoleDecision, { readonly _tag: "StartAsMaster" | "StartAsReplica" }>

const chooseRole = Effect.gen(function*() {
  const settings = yield* Settings
  const consul = yield* Consul
  const timings = yield* Timings
  const lockKey = consulNames(settings.serviceName).masterLock
  const self = selfRedis(settings)
  const holder = JSON.stringify({ node: settings.node.name, address: self.host, port: self.port })
  const session = yield* Ref.make(Option.none<string>())
  const lastReason = yield* Ref.make("")

  const unavailable = (e: { readonly message: string }) =>
    new Waiting({ reason: `Consul is unreachable, so no role can be chosen safely: ${e.message}` })

  const ensureSession = Ref.get(session).pipe(
    Effect.flatMap(Option.match({
      onSome: Effect.succeed,
      onNone: () =>
        consul.createSession({ name: `${settings.serviceName} bootstrap ${settings.node.name}`, ttl: timings.lockSessionTtl, lockDelay: timings.lockDelay, behavior: "release" }).pipe(
          Effect.tap((id) => Ref.set(session, Option.some(id)))
        )
    }))
  )

  const attempt: Effect.Effect<Final, Waiting, Settings | Consul | Redis | Sentinel | FileSystem.FileSystem | Path.Path> = Effect.suspend(() =>
    Effect.gen(function*() {
      const observation = yield* observeRole(yield* Ref.get(session)).pipe(Effect.mapError(unavailable))
      const decision = decideRole(observation)
      switch (decision._tag) {
        case "StartAsMaster":
        case "StartAsReplica":
          return decision
        case "Wait":
          return yield* new Waiting({ reason: decision.reason })
        case "AcquireLock": {
          const won = yield* ensureSession.pipe(Effect.flatMap((id) => consul.acquire(lockKey, holder, id)), Effect.mapError(unavailable))
          if (!won) return yield* new Waiting({ reason: "another node took the bootstrap lock first" })
          yield* Effect.log(`took the bootstrap lock: ${decision.reason}`)
          // Double-checked: a master may have appeared between observing and winning.
          return yield* attempt
        }
      }
    })
  )

  const decision = yield* attempt.pipe(
    Effect.tapError((w) => Ref.getAndSet(lastReason, w.reason).pipe(Effect.flatMap((prev) => (prev === w.reason ? Effect.void : Effect.log(w.reason))))),
    Effect.retry(Schedule.spaced(timings.roleRetryEvery)),
    Effect.timeoutOrElse({
      duration: settings.masterWaitTimeout,
      orElse: () =>
        Ref.get(lastReason).pipe(
          Effect.flatMap((reason) => Effect.fail(new NoSafeRole({ waited: formatGoDuration(settings.masterWaitTimeout), reason })))
        )
    }),
    Effect.onError(() => Ref.get(session).pipe(Effect.flatMap(Option.match({ onNone: () => Effect.void, onSome: (id) => giveUpLock(lockKey, holder, id) }))))
  )
  return { decision, session: yield* Ref.get(session), holder }
})

/** Release (no lock-delay, unlike an invalidation) and then end the session. */
const giveUpLock = (key: string, holder: string, session: string) =>
  Effect.gen(function*() {
    const consul = yield* Consul
    yield* consul.release(key, holder, session).pipe(Effect.ignore)
    yield* consul.destroySession(session).pipe(Effect.ignore)
  })

/** Sentinels and replicas passing in Consul now, for the new sentinel to start knowing (best effort). */
const knownPeers = Effect.gen(function*() {
  const settings = yield* Settings
  const consul = yield* Consul
  const names = consulNames(settings.serviceName)
  const [sentinels, replicas] = yield* Effect.all([consul.instances(names.sentinelService), consul.instances(names.replicaService)], { concurrency: 2 })
  return {
    sentinels: sentinels.filter((i) => i.passing && i.id.startsWith(`${names.sentinelService}-`)).map((i) => ({
      endpoint: { host: i.address, port: i.port },
      node: i.id.slice(names.sentinelService.length + 1)
    })),
    replicas: replicas.filter((i) => i.passing).map((i) => ({ host: i.address, port: i.port }))
  }
}).pipe(Effect.orElseSucceed((): KnownPeers => ({ sentinels: [], replicas: [] })))

const sentinelTuning = Effect.gen(function*() {
  const settings = yield* Settings
  const consul = yield* Consul
  const prefix = consulNames(settings.serviceName).sentinelTuning
  const defaults = { quorum: settings.sentinel.quorum, downAfter: settings.sentinel.downAfter, failoverTimeout: settings.sentinel.failoverTimeout }
  const entries = yield* consul.list(prefix).pipe(
    Effect.catch((e) => Effect.logWarning(`using the environment's Sentinel settings: ${e.message}`).pipe(Effect.as([])))
  )
  const kv = Object.fromEntries(entries.map((e) => [e.key.slice(prefix.length), e.value ?? ""]))
  const { tuning, ignored } = applyTuningOverrides(defaults, kv)
  for (const why of ignored) yield* Effect.logWarning(`ignoring Consul ${prefix}${why}`)
  return tuning
})

/** Founding: restore if §7 says so, then prove the lock is still ours before Redis starts. */
const found = (session: string) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const consul = yield* Consul
    const store = yield* BackupStore
    const timings = yield* Timings
    const lockKey = consulNames(settings.serviceName).masterLock
    const lost = yield* keepAlive(session, timings.lockRenewEvery)
    const plan = restorePlan({
      founding: true,
      localData: yield* hasLocalData(settings.dataDir),
      manifest: yield* latestBackup,
      storeConfigured: store.kind !== "none"
    })
    if (Option.isSome(plan)) yield* restore(plan.value)
    else yield* Effect.log("no restore: the data directory holds a dataset, or no backup is recorded")
    const renewed = yield* consul.renewSession(session)
    const entry = yield* consul.get(lockKey)
    const holds = renewed && !(yield* Ref.get(lost)) && Option.exists(entry, (e) => Option.contains(e.session, session))
    if (!holds) return yield* new BootstrapLockLost({ reason: `session ${session} no longer holds ${lockKey}` })
    // The agent renews the session from here until Consul shows this node passing.
    yield* writeAtomic(bootstrapSessionFile(settings), session, 0o600)
  })

export const preStart = Effect.gen(function*() {
  const settings = yield* Settings
  const fs = yield* FileSystem.FileSystem
  const lockKey = consulNames(settings.serviceName).masterLock
  yield* Effect.all([settings.configDir, settings.dataDir].map((dir) => fs.makeDirectory(dir, { recursive: true })))

  const { decision, session, holder } = yield* chooseRole
  yield* Effect.log(decision.reason)
  const tuning = yield* sentinelTuning

  if (decision._tag === "StartAsMaster" && decision.founding && Option.isSome(session)) {
    yield* found(session.value).pipe(Effect.onError(() => giveUpLock(lockKey, holder, session.value)))
  } else {
    if (Option.isSome(session)) yield* giveUpLock(lockKey, holder, session.value)
    yield* removeIfPresent(bootstrapSessionFile(settings))
  }

  const master = decision._tag === "StartAsReplica" ? decision.master : selfRedis(settings)
  yield* writeAtomic(`${settings.configDir}/redis.conf`, renderRedisConf(settings, decision._tag === "StartAsReplica" ? { _tag: "Replica", master } : { _tag: "Master" }), 0o600)
  yield* writeAtomic(`${settings.configDir}/sentinel.conf`, renderSentinelConf(settings, master, tuning, yield* knownPeers), 0o600)
  yield* Effect.log(`rendered ${settings.configDir}/redis.conf and sentinel.conf (quorum ${tuning.quorum}, down-after ${formatGoDuration(tuning.downAfter)})`)
}).pipe(Effect.scoped)
