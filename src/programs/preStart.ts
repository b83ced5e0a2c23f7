// `manage pre-start`: announce this node as starting, choose its role (DESIGN.md §5),
// restore when founding an empty cluster (§7), record the founding, choose what Redis
// loads (its AOF, or the RDB its last stop saved, for a partial resync), and render
// redis.conf and sentinel.conf (§6). Fails, so ContainerPilot never starts Redis, when
// no safe role is found within MASTER_WAIT_TIMEOUT or when the bootstrap lock is lost
// before Redis starts.
import { Data, DateTime, Effect, FileSystem, Option, Path, Ref, Schedule, Schema } from "effect"
import { restorePlan } from "../domain/Backup.ts"
import { recordFounding } from "../domain/ClusterRecord.ts"
import { consulNames } from "../domain/ConsulNames.ts"
import { type Candidate, type FoundingView, type History, withoutCountdown } from "../domain/Founding.ts"
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
import { Dns } from "../layers/Dns.ts"
import { Redis } from "../layers/Redis.ts"
import { Sentinel } from "../layers/Sentinel.ts"
import { Settings } from "../layers/Settings.ts"
import { announce } from "./announce.ts"
import { updateClusterRecord } from "./clusterRecord.ts"
import { removeIfPresent, writeAtomic } from "./files.ts"
import { latestBackup } from "./lastBackup.ts"
import { makeWatch, observeFounding } from "./observeFounding.ts"
import { datasetLastWrite, hasLocalData, observeRole } from "./observeRole.ts"
import { restore } from "./restore.ts"
import { prepareStart } from "./restartResync.ts"
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
  const lastUnresolved = yield* Ref.make("")
  const lastFounding = yield* Ref.make(Option.none<FoundingView>())

  const me: Candidate = {
    node: settings.node.name,
    endpoint: self,
    data: (yield* hasLocalData(settings.dataDir)) ? { _tag: "Held", lastWrite: yield* datasetLastWrite(settings.dataDir) } : { _tag: "Empty" }
  }
  const announcer = yield* announce(me)
  const watch = yield* makeWatch

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

  /** Announce first, then look: nodes starting at once then see each other at the latest on their second look. */
  const observe = Effect.gen(function*() {
    const since = yield* announcer.ensure
    if (Option.isNone(since)) return yield* new Waiting({ reason: `another session holds this node's announcement under ${consulNames(settings.serviceName).starting}${me.node}` })
    const { unresolvedPeers, ...sighting } = yield* observeRole(yield* Ref.get(session))
    const unresolved = unresolvedPeers.join("; ")
    if ((yield* Ref.getAndSet(lastUnresolved, unresolved)) !== unresolved && unresolved !== "") yield* Effect.logWarning(`PEERS: ${unresolved}`)
    const founding = yield* observeFounding(watch, me, since.value)
    yield* Ref.set(lastFounding, Option.some(founding))
    return { ...sighting, founding }
  }).pipe(Effect.catchTag("ConsulError", (e) => Effect.fail(unavailable(e))))

  const attempt: Effect.Effect<Final, Waiting, Settings | Consul | Redis | Sentinel | Dns | BackupStore | FileSystem.FileSystem | Path.Path> = Effect.suspend(() =>
    Effect.gen(function*() {
      const decision = decideRole(yield* observe)
      switch (decision._tag) {
        case "StartAsMaster":
        case "StartAsReplica":
          return decision
        case "Wait":
          return yield* new Waiting({ reason: decision.reason })
        case "ReleaseStaleLock": {
          yield* giveUpLock(lockKey, holder, decision.session)
          yield* Effect.log(decision.reason)
          return yield* attempt
        }
        case "YieldLock": {
          const id = yield* Ref.get(session)
          if (Option.isSome(id)) yield* consul.release(lockKey, holder, id.value).pipe(Effect.mapError(unavailable))
          return yield* new Waiting({ reason: decision.reason })
        }
        case "AcquireLock": {
          const won = yield* ensureSession.pipe(Effect.flatMap((id) => consul.acquire(lockKey, holder, id)), Effect.mapError(unavailable))
          if (!won) return yield* new Waiting({ reason: "another node took the bootstrap lock first" })
          yield* Effect.log(`took the bootstrap lock: ${decision.reason}`)
          // Double-checked: a master or a data holder may have appeared between observing and winning.
          return yield* attempt
        }
      }
    })
  )

  const decision = yield* attempt.pipe(
    Effect.tapError((w) =>
      Ref.getAndSet(lastReason, w.reason).pipe(Effect.flatMap((prev) => (withoutCountdown(prev) === withoutCountdown(w.reason) ? Effect.void : Effect.log(w.reason))))
    ),
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
  return { decision, session: yield* Ref.get(session), holder, founding: yield* Ref.get(lastFounding) }
}).pipe(Effect.scoped)

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

/** Founding: restore if §7 says so, then prove the lock is still ours before Redis starts, and record the founding. */
const found = (session: string, history: Option.Option<History>) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const consul = yield* Consul
    const store = yield* BackupStore
    const timings = yield* Timings
    const lockKey = consulNames(settings.serviceName).masterLock
    const lost = yield* keepAlive(session, timings.lockRenewEvery)
    const localData = yield* hasLocalData(settings.dataDir)
    const plan = restorePlan({ founding: true, localData, manifest: yield* latestBackup, storeConfigured: store.kind !== "none" })
    if (Option.isSome(plan)) yield* restore(plan.value)
    else if (localData) yield* Effect.log("no restore: the data directory holds a dataset")
    else if (Option.exists(history, (h) => h._tag === "HeldData")) {
      yield* Effect.logWarning(
        `founding an EMPTY cluster, and the data is gone: the cluster held data (${Option.match(history, { onNone: () => "", onSome: (h) => h.evidence })}), no node holding it showed up within FOUNDING_GRACE and no backup is recorded`
      )
    } else yield* Effect.log("no restore: the cluster never held data and no backup is recorded; founding it empty")
    const renewed = yield* consul.renewSession(session)
    const entry = yield* consul.get(lockKey)
    const holds = renewed && !(yield* Ref.get(lost)) && Option.exists(entry, (e) => Option.contains(e.session, session))
    if (!holds) return yield* new BootstrapLockLost({ reason: `session ${session} no longer holds ${lockKey}` })
    // The agent renews the session from here until Consul shows this node passing.
    yield* writeAtomic(bootstrapSessionFile(settings), session, 0o600)
    const at = DateTime.formatIso(yield* DateTime.now)
    const holdsData = yield* hasLocalData(settings.dataDir)
    yield* updateClusterRecord((prev) => Effect.succeed(Option.some(recordFounding(prev, { node: settings.node.name, endpoint: selfRedis(settings) }, at, holdsData)))).pipe(
      Effect.catch((e) => Effect.logWarning(`could not record the founding in ${consulNames(settings.serviceName).cluster}: ${e.message}; the agent records the master once it passes`))
    )
  })

export const preStart = Effect.gen(function*() {
  const settings = yield* Settings
  const fs = yield* FileSystem.FileSystem
  const lockKey = consulNames(settings.serviceName).masterLock
  yield* Effect.all([settings.configDir, settings.dataDir].map((dir) => fs.makeDirectory(dir, { recursive: true })))

  const { decision, session, holder, founding } = yield* chooseRole
  yield* Effect.log(decision.reason)
  const tuning = yield* sentinelTuning

  if (decision._tag === "StartAsMaster" && decision.founding && Option.isSome(session)) {
    yield* found(session.value, Option.map(founding, (f) => f.history)).pipe(Effect.onError(() => giveUpLock(lockKey, holder, session.value)))
  } else {
    if (Option.isSome(session)) yield* giveUpLock(lockKey, holder, session.value)
    yield* removeIfPresent(bootstrapSessionFile(settings))
  }

  const master = decision._tag === "StartAsReplica" ? decision.master : selfRedis(settings)
  const start = yield* prepareStart(decision._tag === "StartAsReplica")
  yield* writeAtomic(`${settings.configDir}/redis.conf`, renderRedisConf(settings, decision._tag === "StartAsReplica" ? { _tag: "Replica", master } : { _tag: "Master" }, start), 0o600)
  yield* writeAtomic(`${settings.configDir}/sentinel.conf`, renderSentinelConf(settings, master, tuning, yield* knownPeers), 0o600)
  yield* Effect.log(`rendered ${settings.configDir}/redis.conf and sentinel.conf (quorum ${tuning.quorum}, down-after ${formatGoDuration(tuning.downAfter)})`)
}).pipe(Effect.scoped)
