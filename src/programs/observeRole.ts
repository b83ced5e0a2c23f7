// Gathers what the role decision needs, once per attempt: Consul's registrations and
// bootstrap lock, what each passing sentinel reports, what every candidate node
// answers to ROLE, and whether the data directory holds a dataset. Candidates are
// every node Consul lists in any state, every node a sentinel knows, and every
// address PEERS resolves to (so a node started while Consul is empty still finds the
// live cluster). Peers that do not answer become observations ("unreachable"), not
// failures; only Consul being unreachable fails, because then nothing can be known.
// What founding needs besides (announcements, the cluster's past) is observeFounding's.
import { Effect, FileSystem, Option, Path, Schema } from "effect"
import { consulNames, LockHolderFromJson } from "../domain/ConsulNames.ts"
import { type Endpoint, formatEndpoint, sameEndpoint, uniqueEndpoints } from "../domain/Endpoint.ts"
import { resyncRdbFile } from "../domain/RestartResync.ts"
import { type LockState, type ProbedRole, type RoleObservation } from "../domain/RoleDecision.ts"
import { selfRedis } from "../domain/Settings.ts"
import { Consul, type ConsulError, endpointOf } from "../layers/Consul.ts"
import { Dns } from "../layers/Dns.ts"
import { Redis } from "../layers/Redis.ts"
import { type Sentinel } from "../layers/Sentinel.ts"
import { Settings } from "../layers/Settings.ts"
import { askSentinelAt, askSentinels } from "./askSentinels.ts"

/** Files Redis 7 loads a dataset from (an AOF directory, a single AOF, or an RDB), and pre-stop's RDB for a partial resync. */
export const datasetFiles = ["appendonlydir", "appendonly.aof", "dump.rdb", resyncRdbFile] as const

export const hasLocalData = (dataDir: string): Effect.Effect<boolean, never, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const present = yield* Effect.forEach(datasetFiles, (name) => fs.exists(path.join(dataDir, name)).pipe(Effect.orElseSucceed(() => false)))
    return present.some((p) => p)
  })

/** The newest modification time (epoch ms) among `names` in `dataDir`, each of them a file or a directory whose files count. */
const lastWrite = (dataDir: string, names: ReadonlyArray<string>): Effect.Effect<Option.Option<number>, never, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const aofDir = path.join(dataDir, datasetFiles[0])
    const inAofDir = names.includes(datasetFiles[0]) ? yield* fs.readDirectory(aofDir).pipe(Effect.orElseSucceed((): ReadonlyArray<string> => [])) : []
    const files = [...inAofDir.map((f) => path.join(aofDir, f)), ...names.filter((n) => n !== datasetFiles[0]).map((f) => path.join(dataDir, f))]
    const times = yield* Effect.forEach(files, (f) =>
      fs.stat(f).pipe(
        Effect.map((info) => Option.map(info.mtime, (d) => d.getTime())),
        Effect.orElseSucceed(() => Option.none<number>())
      ))
    const known = times.flatMap(Option.toArray)
    return known.length === 0 ? Option.none() : Option.some(Math.max(...known))
  })

/** When the dataset's files last changed (epoch ms): the newest modification time among them. */
export const datasetLastWrite = (dataDir: string) => lastWrite(dataDir, datasetFiles)

/** When the AOF last changed (epoch ms): its directory's files, or a single AOF of before Redis 7. */
export const aofLastWrite = (dataDir: string) => lastWrite(dataDir, [datasetFiles[0], datasetFiles[1]])

/** Every IPv4 address the PEERS names resolve to; the names that did not resolve, with why. */
export const resolvePeers: Effect.Effect<{ readonly addresses: ReadonlyArray<string>; readonly unresolved: ReadonlyArray<string> }, never, Settings | Dns> =
  Effect.gen(function*() {
    const settings = yield* Settings
    const dns = yield* Dns
    const found = yield* Effect.forEach(settings.peers, (name) => Effect.result(dns.resolve(name)), { concurrency: "unbounded" })
    return {
      addresses: [...new Set(found.flatMap((r) => (r._tag === "Success" ? r.success : [])))],
      unresolved: found.flatMap((r) => (r._tag === "Failure" ? [r.failure.message] : []))
    }
  })

export type RoleSighting = Omit<RoleObservation, "founding"> & {
  /** PEERS names that did not resolve, with why (for the operator). */
  readonly unresolvedPeers: ReadonlyArray<string>
}

export const observeRole = (session: Option.Option<string>): Effect.Effect<
  RoleSighting,
  ConsulError,
  Settings | Consul | Redis | Sentinel | Dns | FileSystem.FileSystem | Path.Path
> =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const consul = yield* Consul
    const redis = yield* Redis
    const names = consulNames(settings.serviceName)
    const self = selfRedis(settings)

    const [sentinels, masters, replicas, lock] = yield* Effect.all([
      consul.instances(names.sentinelService),
      consul.instances(names.masterService),
      consul.instances(names.replicaService),
      consul.get(names.masterLock)
    ], { concurrency: "unbounded" })

    const peers = yield* resolvePeers
    const redisAt = (host: string): Endpoint => ({ host, port: settings.redis.port })
    const sentinelAt = (host: string): Endpoint => ({ host, port: settings.sentinel.port })
    const passingSentinels = sentinels.filter((s) => s.passing)
    const asked = yield* askSentinels(passingSentinels, { withReplicas: true, withSentinels: true })
    // A PEERS sentinel that Consul does not list counts only when it answers: an address
    // that is no node (yet) must not dilute the majority of those Consul lists.
    const listed = new Set(passingSentinels.map((s) => formatEndpoint(endpointOf(s))))
    const peerSentinels = peers.addresses.map(sentinelAt).filter((e) => !sameEndpoint(e, { host: self.host, port: settings.sentinel.port }) && !listed.has(formatEndpoint(e)))
    const askedPeers = yield* Effect.forEach(peerSentinels, (at) => askSentinelAt(at, { withReplicas: true, withSentinels: true }), { concurrency: "unbounded" })
    const views = [...asked, ...askedPeers]
    const sentinelReports = [...asked.map((a) => a.master), ...askedPeers.filter((a) => Option.isSome(a.master)).map((a) => a.master)]
    const knownToSentinels = [...views.flatMap((a) => a.replicas), ...views.flatMap((a) => a.sentinels).map((e) => redisAt(e.host))]

    const holder = Option.flatMap(lock, (entry) => Schema.decodeUnknownOption(LockHolderFromJson)(entry.value ?? ""))
    const earlierSelf = Option.exists(holder, (h) => h.node === settings.node.name && sameEndpoint({ host: h.address, port: h.port }, self))
    const lockState: LockState = Option.match(Option.flatMap(lock, (entry) => entry.session), {
      onNone: () => ({ _tag: "Free" }),
      onSome: (held): LockState =>
        Option.contains(session, held)
          ? { _tag: "HeldBySelf" }
          : earlierSelf
          ? { _tag: "HeldByEarlierSelf", session: held }
          : { _tag: "HeldByOther", holder: Option.match(holder, { onNone: () => `with session ${held}`, onSome: (h) => h.node }) }
    })

    const probe = (endpoint: Endpoint): Effect.Effect<{ readonly endpoint: Endpoint; readonly role: ProbedRole }> =>
      redis.role(endpoint).pipe(
        Effect.map((role): ProbedRole =>
          role._tag === "Master"
            ? { _tag: "Master" }
            : role._tag === "Replica"
            ? { _tag: "Replica", master: role.master }
            : { _tag: "Unreachable" }
        ),
        Effect.orElseSucceed((): ProbedRole => ({ _tag: "Unreachable" })),
        Effect.map((role) => ({ endpoint, role }))
      )
    const notSelf = (e: Endpoint) => !sameEndpoint(e, self)

    // Everything that may be a master or hold data: reported masters, every node
    // registered in any role whatever its check says (a replica's check fails
    // exactly when its master is dead, and it still holds the data), every replica
    // and sentinel a sentinel knows, the last bootstrapper, and PEERS.
    const candidates = uniqueEndpoints([
      ...sentinelReports.flatMap(Option.toArray),
      ...masters.map(endpointOf),
      ...replicas.map(endpointOf),
      ...sentinels.map((s) => redisAt(s.address)),
      ...knownToSentinels,
      ...Option.toArray(Option.map(holder, (h) => ({ host: h.address, port: h.port }))),
      ...peers.addresses.map(redisAt)
    ]).filter(notSelf)
    const firstRound = yield* Effect.forEach(candidates, probe, { concurrency: "unbounded" })
    // A replica's master may be registered nowhere yet (its registration lapsed).
    const known = new Set(candidates.map(formatEndpoint))
    const theirMasters = uniqueEndpoints(
      firstRound.flatMap((p) => (p.role._tag === "Replica" ? [p.role.master] : []))
    ).filter((e) => notSelf(e) && !known.has(formatEndpoint(e)))
    const secondRound = yield* Effect.forEach(theirMasters, probe, { concurrency: "unbounded" })

    return {
      self,
      sentinelReports,
      registeredMasters: masters.filter((m) => m.passing).map(endpointOf),
      probes: [...firstRound, ...secondRound],
      lock: lockState,
      localData: yield* hasLocalData(settings.dataDir),
      unresolvedPeers: peers.unresolved
    }
  })
