// The Sentinel service: questions to the local or a peer's redis-sentinel about
// MASTER_NAME, the two commands that change its state (FAILOVER, RESET), and its
// Pub/Sub event stream. Replies are decoded into domain data; an unknown master name
// is None, not an error.
import { Context, Effect, Layer, Option, Redacted, Schema, Stream } from "effect"
import { type Endpoint, formatEndpoint } from "../domain/Endpoint.ts"
import {
  decodeMasterAddress,
  decodePeers,
  decodePeriods,
  decodeSentinelMaster,
  type SentinelMasterState,
  type SentinelPeer
} from "../domain/RedisReplies.ts"
import { loginUser } from "../domain/RedisAcl.ts"
import { Timings } from "../domain/Timings.ts"
import { redisRetry } from "./Redis.ts"
import { type Connections, makeConnections, tlsMaterialOf, type PubSubMessage, RedisError } from "./RedisConnections.ts"
import { makeMemorySentinel, type RedisWorld } from "./RedisMemory.ts"
import { Settings } from "./Settings.ts"

export class Sentinel extends Context.Service<Sentinel, {
  readonly masterAddress: (at: Endpoint, name: string) => Effect.Effect<Option.Option<Endpoint>, RedisError>
  readonly master: (at: Endpoint, name: string) => Effect.Effect<Option.Option<SentinelMasterState>, RedisError>
  readonly replicas: (at: Endpoint, name: string) => Effect.Effect<ReadonlyArray<SentinelPeer>, RedisError>
  readonly sentinels: (at: Endpoint, name: string) => Effect.Effect<ReadonlyArray<SentinelPeer>, RedisError>
  /** Promotes a replica now, as if the master were down. */
  readonly failover: (at: Endpoint, name: string) => Effect.Effect<void, RedisError>
  /** Forgets the replicas and sentinels it knows for `name`; they are rediscovered through the master. */
  readonly reset: (at: Endpoint, name: string) => Effect.Effect<void, RedisError>
  /**
   * Every event the sentinel publishes (`+switch-master`, `+sdown`, `+odown`, …) as
   * `{ channel, message }`; fails when the subscription's connection is lost.
   */
  readonly events: (at: Endpoint) => Stream.Stream<SentinelEvent, RedisError>
  /** `SENTINEL DEBUG`: its internal periods (INFO-PERIOD, PING-PERIOD, …) in milliseconds. */
  readonly periods: (at: Endpoint) => Effect.Effect<Readonly<Record<string, number>>, RedisError>
  /** `SENTINEL DEBUG <name> <ms> …`: run time only, gone with a restart. */
  readonly setPeriods: (at: Endpoint, periods: ReadonlyArray<readonly [string, number]>) => Effect.Effect<void, RedisError>
}>()("autopilot-redis/Sentinel") {
  static readonly layer: Layer.Layer<Sentinel, never, Settings> = Layer.effect(Sentinel, Effect.gen(function*() {
    const settings = yield* Settings
    const timings = yield* Timings
    // Every sentinel requires REDIS_PASSWORD when it is set (RedisConf), the local one
    // and every peer's alike, since every node has the same.
    const connections = yield* makeConnections({
      server: "Sentinel",
      password: Option.map(settings.redis.password, Redacted.value),
      username: loginUser(settings),
      timeout: timings.redisCommand,
      tls: tlsMaterialOf(settings.tls)
    })
    return makeSentinel(connections, redisRetry(timings.retryBase, timings.redisRetries))
  }))

  /** In memory: what each simulated Sentinel reports. */
  static readonly layerTest = (world: RedisWorld): Layer.Layer<Sentinel> => Layer.succeed(Sentinel, makeMemorySentinel(world))
}

export type SentinelEvent = PubSubMessage

const unknownMaster = (e: RedisError) => e.reason === "refused" && /no such master/i.test(e.detail)

export const makeSentinel = (connections: Connections, retry: ReturnType<typeof redisRetry>): Sentinel["Service"] => {
  const ask = <A>(at: Endpoint, decode: (raw: unknown) => import("effect").Result.Result<A, Schema.SchemaError>, ...args: ReadonlyArray<string>) =>
    connections.run(at, "SENTINEL", args).pipe(
      Effect.retry(retry),
      Effect.flatMap((raw) =>
        Effect.fromResult(decode(raw)).pipe(
          Effect.mapError((e) =>
            new RedisError({
              server: "Sentinel",
              endpoint: formatEndpoint(at),
              command: `SENTINEL ${args[0] ?? ""}`.toUpperCase(),
              reason: "unexpected-reply",
              detail: e.message.split("\n")[0] ?? ""
            })
          )
        )
      )
    )
  const anything = (raw: unknown) => Schema.decodeUnknownResult(Schema.Unknown)(raw)

  return Sentinel.of({
    masterAddress: (at, name) =>
      ask(at, decodeMasterAddress, "get-master-addr-by-name", name).pipe(Effect.map(Option.fromNullishOr)),
    master: (at, name) =>
      ask(at, decodeSentinelMaster, "master", name).pipe(
        Effect.map(Option.some),
        Effect.catchIf(unknownMaster, () => Effect.succeed(Option.none()))
      ),
    replicas: (at, name) => ask(at, decodePeers, "replicas", name),
    sentinels: (at, name) => ask(at, decodePeers, "sentinels", name),
    failover: (at, name) => ask(at, anything, "failover", name).pipe(Effect.asVoid),
    reset: (at, name) => ask(at, anything, "reset", name).pipe(Effect.asVoid),
    events: (at) => connections.subscribe(at, "*"),
    periods: (at) => ask(at, decodePeriods, "debug"),
    setPeriods: (at, periods) => ask(at, anything, "debug", ...periods.flatMap(([name, ms]) => [name, String(ms)])).pipe(Effect.asVoid)
  })
}
