// Rendering of redis.conf, sentinel.conf and Sentinel's client-reconfig script from
// Settings and the role decision (DESIGN.md §6). Every start renders fresh files: no
// known-replica or known-sentinel lines survive, so dead peers never count toward a
// quorum, and the sentinel id is derived from the node's name so a restart does not
// add a phantom sentinel.
import { createHash } from "node:crypto"
import { Duration, Option, Redacted } from "effect"
import { type Endpoint } from "./Endpoint.ts"
import { aclSetup, defaultUserAccepting } from "./RedisAcl.ts"
import { formatGoDuration, parseGoDuration } from "./EnvValue.ts"
import { rdbFile } from "./RestartResync.ts"
import { type Settings } from "./Settings.ts"

/** Redis config strings are double-quoted with C-like escapes. */
const quote = (value: string): string => `"${value.replaceAll("\\", "\\\\").replaceAll("\"", "\\\"")}"`

const lines = (...entries: ReadonlyArray<string | false>): string =>
  entries.filter((e): e is string => e !== false).join("\n") + "\n"

export type RenderRole = { readonly _tag: "Master" } | { readonly _tag: "Replica"; readonly master: Endpoint }

/**
 * The listening port, plaintext or TLS only, and with TLS the files and the rule for
 * clients; `tls-replication yes` makes a replica's link to its master TLS, and a
 * sentinel's every outgoing link (to Redis and to the other sentinels).
 */
const listenLines = (s: Settings, port: number): ReadonlyArray<string> =>
  Option.match(s.tls, {
    onNone: () => [`port ${port}`],
    onSome: (tls) => [
      "port 0",
      `tls-port ${port}`,
      `tls-cert-file ${quote(tls.certFile)}`,
      `tls-key-file ${quote(tls.keyFile)}`,
      `tls-ca-cert-file ${quote(tls.caFile)}`,
      `tls-auth-clients ${tls.authClients}`,
      "tls-replication yes"
    ]
  })

/** What Redis loads at this start (RestartResync.ts): its AOF, or a replica's resync.rdb (as dump.rdb) with the AOF off until the agent turns it on. */
export type RenderStart = "aof" | "resync-rdb"

export const renderRedisConf = (s: Settings, role: RenderRole, start: RenderStart = "aof"): string => {
  const password = Option.map(s.redis.password, Redacted.value)
  return lines(
    "# Rendered by `manage pre-start` at every start; Sentinel may rewrite replicaof at run time.",
    `bind ${s.node.bindAddress}`,
    ...listenLines(s, s.redis.port),
    // Containers reach each other over their own network; REDIS_PASSWORD is the guard.
    "protected-mode no",
    "daemonize no",
    `dir ${quote(s.dataDir)}`,
    // Loading the AOF would drop the replication ID the RDB pre-stop saved carries: the
    // agent turns the AOF on once this replica caught up.
    start === "resync-rdb" ? "appendonly no" : "appendonly yes",
    "appendfsync everysec",
    // The AOF is the persistence; RDB files are written only for backups (BGSAVE) and
    // by pre-stop for the next start. Without save points Redis also skips an RDB save
    // on SIGTERM, which would otherwise eat into the shutdown window.
    "save \"\"",
    `dbfilename ${rdbFile}`,
    // A replica's full sync waits this long for more replicas to share one transfer
    // (Redis's default, 5 s, was a 5 s pause on every join): here replicas come one at
    // a time (a restart, a rolling upgrade) or within moments of each other (founding).
    "repl-diskless-sync-delay 1",
    // A replica back from a restart or a partition copies only what it missed while
    // the master still holds it; every restart otherwise copies the whole dataset.
    `repl-backlog-size ${s.redis.replBacklogSize}`,
    `replica-announce-ip ${s.node.address}`,
    `replica-announce-port ${s.redis.port}`,
    role._tag === "Replica" && `replicaof ${role.master.host} ${role.master.port}`,
    ...Option.match(aclSetup(s), {
      onNone: () => [
        Option.getOrElse(defaultUserAccepting(s), () => Option.isSome(password) && `requirepass ${quote(password.value)}`),
        Option.isSome(password) && `masterauth ${quote(password.value)}`
      ],
      onSome: (acl) => [...acl.redisUsers, `masteruser ${acl.replication.user}`, `masterauth ${Redacted.value(acl.replication.password)}`]
    }),
    `min-replicas-to-write ${s.redis.minReplicasToWrite}`,
    `min-replicas-max-lag ${Duration.toSeconds(s.redis.minReplicasMaxLag)}`,
    // The configured value; while the cluster is paused the agent holds it at 0 at run
    // time. Started from an RDB with the AOF off, 0 from the first moment: promoted
    // before its AOF is written, a crash of this Redis would bring the cluster back to
    // the node's last stop. The agent puts the configured value back then.
    `replica-priority ${start === "resync-rdb" ? 0 : s.redis.replicaPriority}`
  )
}

export interface SentinelTuning {
  readonly quorum: number
  readonly downAfter: Duration.Duration
  readonly failoverTimeout: Duration.Duration
}

/** The same node name always yields the same 40-hex sentinel id. */
export const sentinelMyId = (serviceName: string, nodeName: string): string =>
  createHash("sha1").update(`autopilot-redis/${serviceName}/${nodeName}`).digest("hex")

/**
 * The sentinels and replicas passing in Consul when this node starts. Sentinel would
 * learn them from the master (peers within ~2 s, replicas within ~10 s), but a master
 * that dies inside that window leaves a sentinel that cannot reach quorum or a replica
 * nobody moves: so a new sentinel starts knowing them. Only live ones are listed.
 */
export interface KnownPeers {
  readonly sentinels: ReadonlyArray<{ readonly endpoint: Endpoint; readonly node: string }>
  readonly replicas: ReadonlyArray<Endpoint>
}

export const renderSentinelConf = (s: Settings, master: Endpoint, tuning: SentinelTuning, peers: KnownPeers = { sentinels: [], replicas: [] }): string => {
  const name = s.masterName
  const password = Option.map(s.redis.password, Redacted.value)
  const acl = aclSetup(s)
  return lines(
    "# Rendered by `manage pre-start` at every start; Sentinel rewrites it at run time.",
    `bind ${s.node.bindAddress}`,
    ...listenLines(s, s.sentinel.port),
    // REDIS_PASSWORD guards Sentinel too: anyone who reaches it unauthenticated could
    // SENTINEL FAILOVER, SET or REMOVE the cluster.
    "protected-mode no",
    ...Option.match(acl, {
      onNone: () => [
        Option.getOrElse(defaultUserAccepting(s), () => Option.isSome(password) && `requirepass ${quote(password.value)}`),
        // What this sentinel sends to its peers (every node has the same REDIS_PASSWORD).
        // Sentinel would fall back to requirepass; written out so nothing rests on that.
        Option.isSome(password) && `sentinel sentinel-pass ${quote(password.value)}`
      ],
      onSome: (a) => [...a.sentinelUsers, `sentinel sentinel-user ${a.sentinel.user}`, `sentinel sentinel-pass ${Redacted.value(a.sentinel.password)}`]
    }),
    "daemonize no",
    "dir /tmp",
    `sentinel myid ${sentinelMyId(s.serviceName, s.node.name)}`,
    `sentinel announce-ip ${s.node.address}`,
    `sentinel announce-port ${s.sentinel.port}`,
    "sentinel resolve-hostnames no",
    `sentinel monitor ${name} ${master.host} ${master.port} ${tuning.quorum}`,
    `sentinel down-after-milliseconds ${name} ${Duration.toMillis(tuning.downAfter)}`,
    `sentinel failover-timeout ${name} ${Duration.toMillis(tuning.failoverTimeout)}`,
    `sentinel parallel-syncs ${name} ${s.sentinel.parallelSyncs}`,
    ...Option.match(acl, {
      onNone: () => [Option.isSome(password) && `sentinel auth-pass ${name} ${quote(password.value)}`],
      onSome: (a) => [`sentinel auth-user ${name} ${a.sentinel.user}`, `sentinel auth-pass ${name} ${Redacted.value(a.sentinel.password)}`]
    }),
    ...peers.sentinels
      .filter((p) => p.node !== s.node.name)
      .map((p) => `sentinel known-sentinel ${name} ${p.endpoint.host} ${p.endpoint.port} ${sentinelMyId(s.serviceName, p.node)}`),
    ...peers.replicas
      .filter((r) => !(r.host === s.node.address && r.port === s.redis.port) && !(r.host === master.host && r.port === master.port))
      .map((r) => `sentinel known-replica ${name} ${r.host} ${r.port}`)
  )
}

export interface TuningOverrides {
  readonly tuning: SentinelTuning
  /** Keys whose values were ignored, with why. */
  readonly ignored: ReadonlyArray<string>
}

/**
 * Consul KV `service/<name>-sentinel/{quorum,down-after,failover-timeout}` override the
 * environment (DESIGN.md §3). Durations are milliseconds (as the original image wrote
 * them) or Go durations. A bad value is ignored, never fatal: a typo in KV must not
 * stop every node from starting.
 */
export const applyTuningOverrides = (
  defaults: SentinelTuning,
  kv: Readonly<Record<string, string>>
): TuningOverrides => {
  const ignored: Array<string> = []
  // The same bounds as the environment's: Sentinel reads these with atoi, so a value
  // past 2^31 ms would wrap negative and stop it from starting at all.
  const duration = (key: string, fallback: Duration.Duration, min: number, max: number): Duration.Duration => {
    const raw = kv[key]?.trim()
    if (raw === undefined || raw === "") return fallback
    const ms = /^\d+$/.test(raw) ? Option.some(Number(raw)) : parseGoDuration(raw)
    if (Option.isSome(ms) && ms.value >= min && ms.value <= max) return Duration.millis(ms.value)
    ignored.push(`${key}=${JSON.stringify(raw)} (expected milliseconds or a duration from ${formatGoDuration(Duration.millis(min))} to ${formatGoDuration(Duration.millis(max))})`)
    return fallback
  }
  const quorumRaw = kv["quorum"]?.trim()
  let quorum = defaults.quorum
  if (quorumRaw !== undefined && quorumRaw !== "") {
    if (/^\d+$/.test(quorumRaw) && Number(quorumRaw) >= 1 && Number(quorumRaw) <= 100) quorum = Number(quorumRaw)
    else ignored.push(`quorum=${JSON.stringify(quorumRaw)} (expected an integer from 1 to 100)`)
  }
  return {
    tuning: {
      quorum,
      downAfter: duration("down-after", defaults.downAfter, 100, 600_000),
      failoverTimeout: duration("failover-timeout", defaults.failoverTimeout, 1_000, 3_600_000)
    },
    ignored
  }
}

/**
 * Where pre-start records the bootstrap session it founded with, so `health master`
 * can keep it alive without asking Consul on every check. Only a hint: the lock
 * key's own Session field is the truth.
 */
export const bootstrapSessionFile = (s: Settings): string => `${s.configDir}/bootstrap-session`
