// In-memory Redis servers and Sentinels for unit tests of the programs. A world maps
// endpoints to what each server answers; an endpoint missing from the world refuses
// connections. Silent or garbage-answering servers are tested with real sockets.
import { Cause, Duration, Effect, Option, Queue, Stream } from "effect"
import { type Endpoint, formatEndpoint, sameEndpoint } from "../domain/Endpoint.ts"
import { type PersistenceInfo, type RoleReply, type SentinelMasterState, type SentinelPeer } from "../domain/RedisReplies.ts"
import { type Redis } from "./Redis.ts"
import { RedisError } from "./RedisConnections.ts"
import { type Sentinel, type SentinelEvent } from "./Sentinel.ts"

export interface MemoryRedis {
  role: RoleReply
  keys: number
  persistence: PersistenceInfo
  version: string
  pausedFor: number | undefined
  priority: number
  /** `min-replicas-to-write`: writes are refused (NOREPLICAS) with fewer replicas in sync. */
  minReplicas: number
  /** Seconds since each replica's last acknowledgement, by `host:port` (0 unless a test says otherwise). */
  replicaLag: Map<string, number>
  /** `appendonly` as CONFIG GET reports it. */
  appendonly: boolean
}

export interface MemorySentinel {
  /** MASTER_NAME → the master it monitors. */
  readonly masters: Map<string, SentinelMasterState>
  readonly replicas: Array<SentinelPeer>
  readonly sentinels: Array<SentinelPeer>
  resets: number
  /** `SENTINEL DEBUG`'s periods, by upper-case name. */
  periods: Record<string, number>
}

/** A Pub/Sub connection to a sentinel: events arrive until the sentinel drops it. */
interface Subscriber {
  readonly deliver: (event: SentinelEvent) => void
  readonly drop: () => void
}

const idlePersistence: PersistenceInfo = {
  rdb_saves: 0,
  rdb_bgsave_in_progress: 0,
  rdb_last_bgsave_status: "ok",
  rdb_last_save_time: 1,
  aof_rewrite_in_progress: 0,
  aof_rewrite_scheduled: 0,
  aof_last_bgrewrite_status: "ok"
}

export class RedisWorld {
  readonly servers = new Map<string, MemoryRedis>()
  readonly sentinels = new Map<string, MemorySentinel>()
  readonly calls: Array<string> = []
  /** Commands that fail alone, by call (`"10.0.0.13:6379 CONFIG SET replica-priority 50"`), as `calls` records them: a server that answers some commands and not others. */
  readonly failing = new Map<string, RedisError["reason"]>()
  /**
   * Servers whose clients are being closed until the given time (epoch ms), as
   * Sentinel's reconfiguration of a replica does (its transaction ends with CLIENT KILL
   * TYPE normal): every command to one fails as on a connection closed under it.
   */
  readonly closingClients = new Map<string, number>()
  /** Servers cut off without a reset (a partition, a frozen host): every command to one waits for good, as a client's would until its own bound. */
  readonly hanging = new Set<string>()
  /** Servers that answer, but only after the given delay (a busy host, a long link). */
  readonly slow = new Map<string, Duration.Duration>()
  /** What BGSAVE does besides bumping the save time, e.g. write a dump.rdb. */
  onBgsave: (at: Endpoint) => Effect.Effect<void> = () => Effect.void
  /** How long a BGSAVE runs (in progress meanwhile; at its end `onBgsave` runs, then the save is counted); 0: at once. */
  bgsaveTakes: Duration.Duration = Duration.zero
  /** What SHUTDOWN SAVE does besides stopping the server, e.g. write a dump.rdb. */
  onShutdownSave: (at: Endpoint) => Effect.Effect<void> = () => Effect.void
  /** How long the AOF rewrite that `CONFIG SET appendonly yes` starts runs (in progress meanwhile); 0: at once. */
  aofRewriteTakes: Duration.Duration = Duration.zero
  /** What SENTINEL FAILOVER does, e.g. move the master role. */
  onFailover: (at: Endpoint, name: string) => void = () => {}
  /** How long a failover takes after Sentinel acknowledged it (a real one: a second or more); 0: at once. */
  failoverTakes: Duration.Duration = Duration.zero
  /** How long a replica takes to receive what its master accepted (a link under load:
   * milliseconds; after a break, a resync: seconds); 0: at once. */
  replicationTakes: Duration.Duration = Duration.zero
  /** Subscribers to each sentinel's events. */
  readonly subscribers = new Map<string, Set<Subscriber>>()

  /** The sentinel at `at` publishes an event to its subscribers. */
  publish(at: Endpoint, channel: string, message: string): void {
    for (const s of this.subscribers.get(formatEndpoint(at)) ?? []) s.deliver({ channel, message })
  }

  master(at: Endpoint, replicas: ReadonlyArray<Endpoint> = [], offset = 1000): this {
    this.servers.set(formatEndpoint(at), {
      role: { _tag: "Master", offset, replicas: replicas.map((endpoint) => ({ endpoint, offset })) },
      keys: 10,
      persistence: { ...idlePersistence },
      version: "7.0.15",
      pausedFor: undefined,
      priority: 100,
      minReplicas: 0,
      replicaLag: new Map(),
      appendonly: true
    })
    return this
  }

  replica(at: Endpoint, of: Endpoint, state: "connected" | "sync" | "connect" = "connected", offset = 1000): this {
    this.servers.set(formatEndpoint(at), {
      role: { _tag: "Replica", master: of, state, offset },
      keys: 10,
      persistence: { ...idlePersistence },
      version: "7.0.15",
      pausedFor: undefined,
      priority: 100,
      minReplicas: 0,
      replicaLag: new Map(),
      appendonly: true
    })
    return this
  }

  sentinel(at: Endpoint, name: string, master: Endpoint | undefined): this {
    const masters = new Map<string, SentinelMasterState>()
    if (master !== undefined) masters.set(name, { endpoint: master, flags: ["master"], replicas: 0, otherSentinels: 0, quorum: 2 })
    this.sentinels.set(formatEndpoint(at), { masters, replicas: [], sentinels: [], resets: 0, periods: { "INFO-PERIOD": 10_000, "PING-PERIOD": 1000, "PUBLISH-PERIOD": 2000 } })
    return this
  }

  /** Every sentinel that monitors `name` now reports `to`. */
  switchMaster(name: string, to: Endpoint): void {
    for (const s of this.sentinels.values()) {
      const m = s.masters.get(name)
      if (m !== undefined) s.masters.set(name, { ...m, endpoint: to })
    }
  }

  /** The replicas Redis counts for min-replicas-to-write: listed, and acknowledged within `maxLag` seconds. */
  replicasInSync(at: Endpoint, maxLag: number): number {
    const master = this.servers.get(formatEndpoint(at))
    if (master === undefined || master.role._tag !== "Master") return 0
    return master.role.replicas.filter((r) => (master.replicaLag.get(formatEndpoint(r.endpoint)) ?? 0) <= maxLag).length
  }

  /**
   * A client writes `bytes` to the master at `at`. Accepted (acknowledged) unless
   * writes are paused there, as CLIENT PAUSE WRITE holds the client, or refused
   * (NOREPLICAS) with fewer replicas in sync than its min-replicas-to-write: the
   * master's offset moves at once, each connected replica's after `replicationTakes`.
   */
  write(at: Endpoint, bytes: number, maxLag = 2): Effect.Effect<boolean> {
    return Effect.suspend(() => {
      const master = this.servers.get(formatEndpoint(at))
      if (master === undefined || master.role._tag !== "Master" || master.pausedFor !== undefined) return Effect.succeed(false)
      if (master.minReplicas > 0 && this.replicasInSync(at, maxLag) < master.minReplicas) return Effect.succeed(false)
      const offset = master.role.offset + bytes
      master.role = { ...master.role, offset }
      const receive = Effect.sync(() => {
        for (const server of this.servers.values()) {
          const role = server.role
          if (role._tag === "Replica" && role.state === "connected" && sameEndpoint(role.master, at) && role.offset < offset) {
            server.role = { ...role, offset }
          }
        }
        // The master learns its replicas' offsets from their acknowledgements.
        const m = this.servers.get(formatEndpoint(at))
        if (m !== undefined && m.role._tag === "Master") {
          m.role = {
            ...m.role,
            replicas: m.role.replicas.map((r) => {
              const seen = this.servers.get(formatEndpoint(r.endpoint))?.role
              return seen?._tag === "Replica" && sameEndpoint(seen.master, at) ? { ...r, offset: seen.offset } : r
            })
          }
        }
      })
      return (Duration.isZero(this.replicationTakes) ? receive : Effect.forkDetach(Effect.delay(receive, this.replicationTakes))).pipe(Effect.as(true))
    })
  }

  stop(at: Endpoint): void {
    this.servers.delete(formatEndpoint(at))
    this.sentinels.delete(formatEndpoint(at))
    // A stopped server closes its connections: every subscription to it ends with an error.
    for (const s of this.subscribers.get(formatEndpoint(at)) ?? []) s.drop()
  }
}

const refused = (server: "Redis" | "Sentinel", at: Endpoint, command: string) =>
  new RedisError({ server, endpoint: formatEndpoint(at), command, reason: "unreachable", detail: "connect ECONNREFUSED (simulated)" })

/**
 * One command to the server at `at` (found in `servers`): recorded in `calls`, refused
 * when nothing runs there, failed when `failing` names the call, else answered by `f`.
 */
const memoryCommand = <S>(world: RedisWorld, kind: "Redis" | "Sentinel", servers: ReadonlyMap<string, S>) =>
  <A>(at: Endpoint, command: string, f: (server: S) => A): Effect.Effect<A, RedisError> =>
    Effect.suspend(() => {
      const call = `${formatEndpoint(at)} ${command}`
      world.calls.push(call)
      const server = servers.get(formatEndpoint(at))
      if (world.hanging.has(formatEndpoint(at))) return Effect.never
      if (server === undefined) return Effect.fail(refused(kind, at, command))
      if (kind === "Redis" && Date.now() < (world.closingClients.get(formatEndpoint(at)) ?? 0)) {
        return Effect.fail(new RedisError({ server: kind, endpoint: formatEndpoint(at), command, reason: "unreachable", detail: "Connection is closed. (simulated: Sentinel reconfiguring it)" }))
      }
      const reason = world.failing.get(call)
      const answer = reason === undefined
        ? Effect.sync(() => f(server))
        : Effect.fail(new RedisError({ server: kind, endpoint: formatEndpoint(at), command, reason, detail: "simulated" }))
      const delay = world.slow.get(formatEndpoint(at))
      return delay === undefined ? answer : Effect.delay(answer, delay)
    })

export const makeMemoryRedis = (world: RedisWorld): Redis["Service"] => {
  const on = memoryCommand(world, "Redis", world.servers)
  return {
    role: (at) => on(at, "ROLE", (s) => s.role),
    info: (at, section) =>
      on(at, `INFO ${section}`, (s): Readonly<Record<string, string>> =>
        section === "server" ? { redis_version: s.version } : section === "keyspace" && s.keys > 0 ? { db0: `keys=${s.keys},expires=0,avg_ttl=0` } : {}),
    persistence: (at) => on(at, "INFO persistence", (s) => s.persistence),
    replication: (at) =>
      on(at, "INFO replication", (s) => ({
        role: s.role._tag === "Master" ? "master" as const : "slave" as const,
        master_repl_offset: s.role._tag === "Sentinel" ? 0 : s.role.offset,
        ...(s.role._tag === "Replica" && { master_link_status: s.role.state === "connected" ? "up" as const : "down" as const })
      })),
    version: (at) => on(at, "INFO server", (s) => s.version),
    bgsave: (at) => {
      // As Redis: the RDB is in place (written and renamed) before the save is counted.
      const finish = (s: MemoryRedis) =>
        world.onBgsave(at).pipe(Effect.andThen(Effect.sync(() => {
          s.persistence = { ...s.persistence, rdb_bgsave_in_progress: 0, rdb_saves: s.persistence.rdb_saves + 1, rdb_last_save_time: s.persistence.rdb_last_save_time + 1 }
        })))
      return Duration.isZero(world.bgsaveTakes)
        ? on(at, "BGSAVE", (s) => s).pipe(Effect.flatMap(finish))
        : on(at, "BGSAVE", (s) => {
          s.persistence = { ...s.persistence, rdb_bgsave_in_progress: 1 }
          return s
        }).pipe(Effect.tap((s) => Effect.forkDetach(Effect.delay(finish(s), world.bgsaveTakes))), Effect.asVoid)
    },
    pauseWrites: (at, duration) => on(at, "CLIENT PAUSE", (s) => void (s.pausedFor = Duration.toMillis(duration))),
    unpause: (at) => on(at, "CLIENT UNPAUSE", (s) => void (s.pausedFor = undefined)),
    replicaOf: (at, master) =>
      on(at, "REPLICAOF", (s) => {
        s.role = { _tag: "Replica", master, state: "connected", offset: s.role._tag === "Sentinel" ? 0 : s.role.offset }
      }),
    replicaPriority: (at) => on(at, "CONFIG GET replica-priority", (s) => s.priority),
    setReplicaPriority: (at, priority) => on(at, `CONFIG SET replica-priority ${priority}`, (s) => void (s.priority = priority)),
    rewriteConfig: (at) => on(at, "CONFIG REWRITE", () => undefined),
    replicaLinks: (at) =>
      on(at, "INFO replication", (s) =>
        s.role._tag === "Master"
          ? s.role.replicas.map((r) => ({ endpoint: r.endpoint, state: "online", offset: r.offset, lag: s.replicaLag.get(formatEndpoint(r.endpoint)) ?? 0 }))
          : []),
    minReplicasToWrite: (at) => on(at, "CONFIG GET min-replicas-to-write", (s) => s.minReplicas),
    setMinReplicasToWrite: (at, replicas) => on(at, `CONFIG SET min-replicas-to-write ${replicas}`, (s) => void (s.minReplicas = replicas)),
    aofOn: (at) => on(at, "CONFIG GET appendonly", (s) => s.appendonly),
    turnAofOn: (at) => {
      const done = (s: MemoryRedis) => Effect.sync(() => void (s.persistence = { ...s.persistence, aof_rewrite_in_progress: 0 }))
      return on(at, "CONFIG SET appendonly yes", (s) => {
        s.appendonly = true
        s.persistence = { ...s.persistence, aof_rewrite_in_progress: 1 }
        return s
      }).pipe(Effect.flatMap((s) => (Duration.isZero(world.aofRewriteTakes) ? done(s) : Effect.forkDetach(Effect.delay(done(s), world.aofRewriteTakes)).pipe(Effect.asVoid))))
    },
    shutdown: (at, { save }) =>
      on(at, save ? "SHUTDOWN SAVE" : "SHUTDOWN", () => void world.servers.delete(formatEndpoint(at))).pipe(
        Effect.tap(() => (save ? world.onShutdownSave(at) : Effect.void))
      )
  }
}

export const makeMemorySentinel = (world: RedisWorld): Sentinel["Service"] => {
  const on = memoryCommand(world, "Sentinel", world.sentinels)
  // Sentinels find each other through the master they monitor: unless a test says
  // otherwise, each knows every other sentinel of the world that monitors `name`.
  const peers = (at: Endpoint, s: MemorySentinel, name: string): ReadonlyArray<SentinelPeer> =>
    s.sentinels.length > 0
      ? s.sentinels
      : [...world.sentinels].filter(([key, other]) => key !== formatEndpoint(at) && other.masters.has(name)).map(([key]) => {
        const [host = "", port = "0"] = key.split(":")
        return { endpoint: { host, port: Number(port) }, runId: key, flags: ["sentinel"] }
      })
  return {
    masterAddress: (at, name) => on(at, "SENTINEL GET-MASTER-ADDR-BY-NAME", (s) => Option.map(Option.fromUndefinedOr(s.masters.get(name)), (m) => m.endpoint)),
    master: (at, name) =>
      on(at, "SENTINEL MASTER", (s) => Option.map(Option.fromUndefinedOr(s.masters.get(name)), (m) => ({ ...m, otherSentinels: peers(at, s, name).length }))),
    // A replica's priority as its server has it now (a real Sentinel learns it within 10 s).
    replicas: (at) =>
      on(at, "SENTINEL REPLICAS", (s) =>
        s.replicas.map((r) => {
          const priority = r.priority ?? world.servers.get(formatEndpoint(r.endpoint))?.priority
          return priority === undefined ? r : { ...r, priority }
        })),
    sentinels: (at, name) => on(at, "SENTINEL SENTINELS", (s) => peers(at, s, name)),
    failover: (at, name) =>
      Duration.isZero(world.failoverTakes)
        ? on(at, "SENTINEL FAILOVER", () => world.onFailover(at, name))
        : on(at, "SENTINEL FAILOVER", () => undefined).pipe(
          Effect.tap(() => Effect.forkDetach(Effect.delay(Effect.sync(() => world.onFailover(at, name)), world.failoverTakes)))
        ),
    reset: (at) => on(at, "SENTINEL RESET", (s) => void (s.resets += 1)),
    periods: (at) => on(at, "SENTINEL DEBUG", (s) => ({ ...s.periods })),
    setPeriods: (at, periods) =>
      on(at, `SENTINEL DEBUG ${periods.map(([n, v]) => `${n} ${v}`).join(" ")}`, (s) => {
        for (const [name, ms] of periods) s.periods[name.toUpperCase()] = ms
      }),
    events: (at) =>
      Stream.unwrap(on(at, "PSUBSCRIBE *", () =>
        Stream.callback<SentinelEvent, RedisError>((queue) =>
          Effect.acquireRelease(
            Effect.sync(() => {
              const subscriber: Subscriber = {
                deliver: (event) => void Queue.offerUnsafe(queue, event),
                drop: () => void Queue.failCauseUnsafe(queue, Cause.fail(refused("Sentinel", at, "PSUBSCRIBE *")))
              }
              const key = formatEndpoint(at)
              const set = world.subscribers.get(key) ?? new Set()
              set.add(subscriber)
              world.subscribers.set(key, set)
              return subscriber
            }),
            (subscriber) => Effect.sync(() => void world.subscribers.get(formatEndpoint(at))?.delete(subscriber))
          )
        )))
  }
}
