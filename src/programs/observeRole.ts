// Gathers what the role decision needs, once per attempt: Consul's registrations and
// bootstrap lock, what each passing sentinel reports, what every candidate node
// answers to ROLE, and whether the data directory holds a dataset. Peers that do not
// answer become observations ("unreachable"), not failures; only Consul being
// unreachable fails, because then nothing can be known.
import { Effect, FileSystem, Option, Path, Schema } from "effect"
import { consulNames, LockHolderFromJson } from "../domain/ConsulNames.ts"
import { type Endpoint, formatEndpoint, sameEndpoint, uniqueEndpoints } from "../domain/Endpoint.ts"
import { type LockState, type ProbedRole, type RoleObservation } from "../domain/RoleDecision.ts"
import { selfRedis } from "../domain/Settings.ts"
import { Consul, type ConsulError, endpointOf } from "../layers/Consul.ts"
import { Redis } from "../layers/Redis.ts"
import { type Sentinel } from "../layers/Sentinel.ts"
import { Settings } from "../layers/Settings.ts"
import { askSentinels } from "./askSentinels.ts"

/** Files Redis 7 loads a dataset from (an AOF directory, a single AOF, or an RDB). */
export const datasetFiles = ["appendonlydir", "appendonly.aof", "dump.rdb"] as const

export const hasLocalData = (dataDir: string): Effect.Effect<boolean, never, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const present = yield* Effect.forEach(datasetFiles, (name) => fs.exists(path.join(dataDir, name)).pipe(Effect.orElseSucceed(() => false)))
    return present.some((p) => p)
  })

export const observeRole = (session: Option.Option<string>): Effect.Effect<
  RoleObservation,
  ConsulError,
  Settings | Consul | Redis | Sentinel | FileSystem.FileSystem | Path.Path
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

    const asked = yield* askSentinels(sentinels.filter((s) => s.passing), { withReplicas: true })
    const sentinelReports = asked.map((a) => a.master)
    const knownToSentinels = asked.flatMap((a) => a.replicas)

    const holder = Option.flatMap(lock, (entry) => Schema.decodeUnknownOption(LockHolderFromJson)(entry.value ?? ""))
    const lockState: LockState = Option.match(Option.flatMap(lock, (entry) => entry.session), {
      onNone: () => ({ _tag: "Free" }),
      onSome: (held) =>
        Option.contains(session, held)
          ? { _tag: "HeldBySelf" }
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
    // registered in either role whatever its check says (a replica's check fails
    // exactly when its master is dead, and it still holds the data), every replica a
    // sentinel knows, and the last bootstrapper.
    const candidates = uniqueEndpoints([
      ...sentinelReports.flatMap(Option.toArray),
      ...masters.map(endpointOf),
      ...replicas.map(endpointOf),
      ...knownToSentinels,
      ...Option.toArray(Option.map(holder, (h) => ({ host: h.address, port: h.port })))
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
      localData: yield* hasLocalData(settings.dataDir)
    }
  })
