// The Redis service: the commands the handlers send to redis-server, local or a
// peer's, with replies decoded into domain data. Every call is bounded by the
// command timeout and retried on transport failures by one Schedule; a reply Redis
// refuses (`-ERR …`) is a `refused` RedisError, never retried.
import { Context, Duration, Effect, Layer, Option, Redacted, Schedule, Schema } from "effect"
import { type Endpoint, formatEndpoint } from "../domain/Endpoint.ts"
import {
  ConfigMinReplicas,
  ConfigAppendOnly,
  ConfigPriority,
  decodeRole,
  parseInfo,
  PersistenceInfo,
  ReplicationInfo,
  type RoleReply,
  type ReplicaLink,
  replicaLinks,
  ServerInfo
} from "../domain/RedisReplies.ts"
import { loginUser } from "../domain/RedisAcl.ts"
import { Timings } from "../domain/Timings.ts"
import { type Connections, makeConnections, tlsMaterialOf, RedisError } from "./RedisConnections.ts"
import { makeMemoryRedis, type RedisWorld } from "./RedisMemory.ts"
import { Settings } from "./Settings.ts"

export { RedisError } from "./RedisConnections.ts"

export const redisRetry = (base: Duration.Duration, times: number) =>
  Schedule.exponential(base).pipe(
    Schedule.upTo({ times }),
    Schedule.setInputType<RedisError>(),
    Schedule.while(({ input }) => input.retryable)
  )

export type InfoSection = "persistence" | "replication" | "server" | "keyspace"

export class Redis extends Context.Service<Redis, {
  readonly role: (at: Endpoint) => Effect.Effect<RoleReply, RedisError>
  readonly info: (at: Endpoint, section: InfoSection) => Effect.Effect<Readonly<Record<string, string>>, RedisError>
  readonly persistence: (at: Endpoint) => Effect.Effect<PersistenceInfo, RedisError>
  readonly replication: (at: Endpoint) => Effect.Effect<ReplicationInfo, RedisError>
  readonly version: (at: Endpoint) => Effect.Effect<string, RedisError>
  /** Starts a background save; one already running counts as started. */
  readonly bgsave: (at: Endpoint) => Effect.Effect<void, RedisError>
  /** `CLIENT PAUSE <ms> WRITE`: writes block, reads and replication go on. */
  readonly pauseWrites: (at: Endpoint, duration: Duration.Duration) => Effect.Effect<void, RedisError>
  readonly unpause: (at: Endpoint) => Effect.Effect<void, RedisError>
  /** `REPLICAOF host port`: makes `at` replicate from `master`. */
  readonly replicaOf: (at: Endpoint, master: Endpoint) => Effect.Effect<void, RedisError>
  /** `CONFIG GET replica-priority`: 0 means Sentinel never promotes it. */
  readonly replicaPriority: (at: Endpoint) => Effect.Effect<number, RedisError>
  /** `CONFIG SET replica-priority` (run time only: a restart reads redis.conf again). */
  readonly setReplicaPriority: (at: Endpoint, priority: number) => Effect.Effect<void, RedisError>
  /** `CONFIG REWRITE`: what runs now becomes redis.conf (Sentinel does it at every reconfiguration). */
  readonly rewriteConfig: (at: Endpoint) => Effect.Effect<void, RedisError>
  /** A master's replicas from `INFO replication`, with the seconds since each one's last acknowledgement. */
  readonly replicaLinks: (at: Endpoint) => Effect.Effect<ReadonlyArray<ReplicaLink>, RedisError>
  /** `CONFIG GET min-replicas-to-write`: the write fence (Fence.ts). */
  readonly minReplicasToWrite: (at: Endpoint) => Effect.Effect<number, RedisError>
  /** `CONFIG SET min-replicas-to-write` (run time only). */
  readonly setMinReplicasToWrite: (at: Endpoint, replicas: number) => Effect.Effect<void, RedisError>
  /** `CONFIG GET appendonly`: whether the AOF is on (or being written, after `turnAofOn`). */
  readonly aofOn: (at: Endpoint) => Effect.Effect<boolean, RedisError>
  /** `CONFIG SET appendonly yes`: Redis rewrites the AOF from memory in the background, then appends to it. */
  readonly turnAofOn: (at: Endpoint) => Effect.Effect<void, RedisError>
  /**
   * `SHUTDOWN [SAVE]`: Redis's own graceful stop (it waits for lagging replicas up to
   * its shutdown-timeout, flushes the AOF; with `save`, then writes an RDB) and exit.
   * Succeeds when the server closes the connection; a refusal (it could not shut down,
   * e.g. the save failed) is an error.
   */
  readonly shutdown: (at: Endpoint, options: { readonly save: boolean }) => Effect.Effect<void, RedisError>
}>()("autopilot-redis/Redis") {
  static readonly layer: Layer.Layer<Redis, never, Settings> = Layer.effect(Redis, Effect.gen(function*() {
    const settings = yield* Settings
    const timings = yield* Timings
    const connections = yield* makeConnections({
      server: "Redis",
      password: Option.map(settings.redis.password, Redacted.value),
      username: loginUser(settings),
      timeout: timings.redisCommand,
      tls: tlsMaterialOf(settings.tls)
    })
    return makeRedis(connections, redisRetry(timings.retryBase, timings.redisRetries))
  }))

  /** In memory: what each simulated server answers. */
  static readonly layerTest = (world: RedisWorld): Layer.Layer<Redis> => Layer.succeed(Redis, makeMemoryRedis(world))
}

const decodeWith = <S extends Schema.Top & { readonly DecodingServices: never }>(
  at: Endpoint,
  command: string,
  schema: S
) =>
(raw: unknown): Effect.Effect<S["Type"], RedisError> =>
  Schema.decodeUnknownEffect(schema)(raw).pipe(
    Effect.mapError((e) =>
      new RedisError({ server: "Redis", endpoint: formatEndpoint(at), command, reason: "unexpected-reply", detail: e.message.split("\n")[0] ?? "" })
    )
  )

export const makeRedis = (connections: Connections, retry: ReturnType<typeof redisRetry>): Redis["Service"] => {
  const send = (at: Endpoint, command: string, ...args: ReadonlyArray<string | number>) =>
    connections.run(at, command, args).pipe(Effect.retry(retry))

  const info = (at: Endpoint, section: InfoSection) =>
    send(at, "INFO", section).pipe(Effect.flatMap(decodeWith(at, `INFO ${section}`, Schema.String)), Effect.map(parseInfo))

  return Redis.of({
    role: (at) =>
      send(at, "ROLE").pipe(
        Effect.flatMap((raw) =>
          Effect.fromResult(decodeRole(raw)).pipe(
            Effect.mapError((e) =>
              new RedisError({ server: "Redis", endpoint: formatEndpoint(at), command: "ROLE", reason: "unexpected-reply", detail: e.message.split("\n")[0] ?? "" })
            )
          )
        )
      ),
    info,
    persistence: (at) => info(at, "persistence").pipe(Effect.flatMap(decodeWith(at, "INFO persistence", PersistenceInfo))),
    replication: (at) => info(at, "replication").pipe(Effect.flatMap(decodeWith(at, "INFO replication", ReplicationInfo))),
    version: (at) => info(at, "server").pipe(Effect.flatMap(decodeWith(at, "INFO server", ServerInfo)), Effect.map((s) => s.redis_version)),
    bgsave: (at) =>
      send(at, "BGSAVE").pipe(
        Effect.asVoid,
        Effect.catchIf((e) => e.reason === "refused" && /already in progress/i.test(e.detail), () => Effect.void)
      ),
    pauseWrites: (at, duration) => send(at, "CLIENT", "PAUSE", Math.ceil(Duration.toMillis(duration)), "WRITE").pipe(Effect.asVoid),
    unpause: (at) => send(at, "CLIENT", "UNPAUSE").pipe(Effect.asVoid),
    replicaOf: (at, master) => send(at, "REPLICAOF", master.host, master.port).pipe(Effect.asVoid),
    replicaPriority: (at) =>
      send(at, "CONFIG", "GET", "replica-priority").pipe(
        Effect.flatMap(decodeWith(at, "CONFIG GET replica-priority", ConfigPriority)),
        Effect.map(([, value]) => value)
      ),
    setReplicaPriority: (at, priority) => send(at, "CONFIG", "SET", "replica-priority", priority).pipe(Effect.asVoid),
    rewriteConfig: (at) => send(at, "CONFIG", "REWRITE").pipe(Effect.asVoid),
    replicaLinks: (at) => info(at, "replication").pipe(Effect.map(replicaLinks)),
    minReplicasToWrite: (at) =>
      send(at, "CONFIG", "GET", "min-replicas-to-write").pipe(
        Effect.flatMap(decodeWith(at, "CONFIG GET min-replicas-to-write", ConfigMinReplicas)),
        Effect.map(([, value]) => value)
      ),
    setMinReplicasToWrite: (at, replicas) => send(at, "CONFIG", "SET", "min-replicas-to-write", replicas).pipe(Effect.asVoid),
    aofOn: (at) =>
      send(at, "CONFIG", "GET", "appendonly").pipe(
        Effect.flatMap(decodeWith(at, "CONFIG GET appendonly", ConfigAppendOnly)),
        Effect.map(([, value]) => value === "yes")
      ),
    turnAofOn: (at) => send(at, "CONFIG", "SET", "appendonly", "yes").pipe(Effect.asVoid),
    // Not retried: a closed connection is the answer it gives when it works.
    shutdown: (at, { save }) =>
      connections.run(at, "SHUTDOWN", save ? ["SAVE"] : []).pipe(
        Effect.asVoid,
        Effect.catchIf((e) => e.reason === "unreachable" && /closed|ECONNRESET|EPIPE/i.test(e.detail), () => Effect.void)
      )
  })
}
