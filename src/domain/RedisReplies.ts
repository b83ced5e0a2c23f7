// Typed views of the Redis and Sentinel replies the handlers read: ROLE, INFO sections
// and Sentinel's flat key/value arrays. Each decoder takes the raw reply (unknown)
// and either yields plain data or a Schema error; nothing here talks to Redis.
import { Result, Schema, SchemaGetter } from "effect"
import { type Endpoint } from "./Endpoint.ts"

export type ReplicaLinkState = "connect" | "connecting" | "handshake" | "sync" | "connected" | "unknown"

export type RoleReply =
  | {
    readonly _tag: "Master"
    readonly offset: number
    readonly replicas: ReadonlyArray<{ readonly endpoint: Endpoint; readonly offset: number }>
  }
  | { readonly _tag: "Replica"; readonly master: Endpoint; readonly state: ReplicaLinkState; readonly offset: number }
  | { readonly _tag: "Sentinel"; readonly masters: ReadonlyArray<string> }

const IntString = Schema.String.pipe(
  Schema.check(Schema.isPattern(/^-?\d+$/)),
  Schema.decodeTo(Schema.Int, { decode: SchemaGetter.transform(Number), encode: SchemaGetter.transform(String) })
)

const MasterRole = Schema.Tuple([
  Schema.Literal("master"),
  Schema.Int,
  Schema.Array(Schema.Tuple([Schema.String, IntString, IntString]))
])
const ReplicaRole = Schema.Tuple([
  Schema.Literal("slave"),
  Schema.String,
  Schema.Int,
  Schema.String,
  Schema.Int
])
const SentinelRole = Schema.Tuple([Schema.Literal("sentinel"), Schema.Array(Schema.String)])
const RoleWire = Schema.Union([MasterRole, ReplicaRole, SentinelRole])

const linkStates: ReadonlyArray<ReplicaLinkState> = ["connect", "connecting", "handshake", "sync", "connected"]

export const decodeRole = (reply: unknown): Result.Result<RoleReply, Schema.SchemaError> =>
  Result.map(Schema.decodeUnknownResult(RoleWire)(reply), (wire): RoleReply => {
    switch (wire[0]) {
      case "master":
        return {
          _tag: "Master",
          offset: wire[1],
          replicas: wire[2].map(([host, port, offset]) => ({ endpoint: { host, port }, offset }))
        }
      case "slave":
        return {
          _tag: "Replica",
          master: { host: wire[1], port: wire[2] },
          state: linkStates.find((s) => s === wire[3]) ?? "unknown",
          offset: wire[4]
        }
      case "sentinel":
        return { _tag: "Sentinel", masters: wire[1] }
    }
  })

/** `INFO <section>` text into its `key:value` fields. */
export const parseInfo = (text: string): Readonly<Record<string, string>> => {
  const fields: Record<string, string> = {}
  for (const line of text.split(/\r?\n/)) {
    if (line === "" || line.startsWith("#")) continue
    const colon = line.indexOf(":")
    if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1)
  }
  return fields
}

export const PersistenceInfo = Schema.Struct({
  /** Completed RDB saves since start (Redis 7): exact where rdb_last_save_time has one-second resolution. */
  rdb_saves: IntString,
  rdb_bgsave_in_progress: IntString,
  rdb_last_bgsave_status: Schema.String,
  rdb_last_save_time: IntString,
  aof_rewrite_in_progress: IntString,
  aof_rewrite_scheduled: IntString,
  aof_last_bgrewrite_status: Schema.String
})
export type PersistenceInfo = typeof PersistenceInfo.Type

export const ReplicationInfo = Schema.Struct({
  role: Schema.Literals(["master", "slave"]),
  master_repl_offset: IntString,
  connected_slaves: Schema.optionalKey(IntString),
  master_link_status: Schema.optionalKey(Schema.Literals(["up", "down"]))
})
export type ReplicationInfo = typeof ReplicationInfo.Type

/** `CONFIG GET replica-priority`: `["replica-priority", "<n>"]`. */
export const ConfigPriority = Schema.Tuple([Schema.Literal("replica-priority"), IntString])

/** `CONFIG GET appendonly`: `["appendonly", "yes" | "no"]`. */
export const ConfigAppendOnly = Schema.Tuple([Schema.Literal("appendonly"), Schema.Literals(["yes", "no"])])

/** `CONFIG GET min-replicas-to-write`: `["min-replicas-to-write", "<n>"]`. */
export const ConfigMinReplicas = Schema.Tuple([Schema.Literal("min-replicas-to-write"), IntString])

/** One replica as its master's `INFO replication` lists it (`slave0:ip=…,port=…,state=online,offset=…,lag=…`). */
export interface ReplicaLink {
  readonly endpoint: Endpoint
  readonly state: string
  readonly offset: number
  /** Seconds since its last acknowledgement, as Redis counts them for min-replicas-max-lag. */
  readonly lag: number
}

/** The replicas a master's `INFO replication` fields list; lines it cannot read are left out. */
export const replicaLinks = (fields: Readonly<Record<string, string>>): ReadonlyArray<ReplicaLink> =>
  Object.entries(fields)
    .filter(([k]) => /^slave\d+$/.test(k))
    .flatMap(([, v]) => {
      const f = Object.fromEntries(v.split(",").map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)] as const))
      const port = Number(f["port"])
      const offset = Number(f["offset"])
      const lag = Number(f["lag"])
      const ip = f["ip"]
      return ip === undefined || ip === "" || !Number.isInteger(port) || !Number.isInteger(offset) || !Number.isInteger(lag) || f["state"] === undefined
        ? []
        : [{ endpoint: { host: ip, port }, state: f["state"], offset, lag }]
    })

export const ServerInfo = Schema.Struct({ redis_version: Schema.String })

/** Keys over every database, from `INFO keyspace` (`db0:keys=12,expires=0,…`). */
export const keyspaceKeys = (fields: Readonly<Record<string, string>>): number =>
  Object.entries(fields)
    .filter(([k]) => /^db\d+$/.test(k))
    .reduce((sum, [, v]) => sum + Number(/keys=(\d+)/.exec(v)?.[1] ?? 0), 0)

/** Sentinel answers `[k1, v1, k2, v2, …]`; the shape is checked before pairing. */
const FlatPairs = Schema.Array(Schema.String).check(Schema.makeFilter((a: ReadonlyArray<string>) => a.length % 2 === 0))
const pairs = (flat: ReadonlyArray<string>): Record<string, string> => {
  const out: Record<string, string> = {}
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i] as string] = flat[i + 1] as string
  return out
}

export interface SentinelPeer {
  readonly endpoint: Endpoint
  readonly runId: string
  readonly flags: ReadonlyArray<string>
  /** A replica's `slave-priority` as the sentinel last read it from the replica's INFO (every 10 s). */
  readonly priority?: number
}

const PeerFields = Schema.Struct({
  ip: Schema.String,
  port: IntString,
  runid: Schema.String,
  flags: Schema.String,
  "slave-priority": Schema.optionalKey(IntString)
})

/** `SENTINEL replicas|sentinels <name>`: one flat array per peer. */
export const decodePeers = (reply: unknown): Result.Result<ReadonlyArray<SentinelPeer>, Schema.SchemaError> =>
  Result.flatMap(Schema.decodeUnknownResult(Schema.Array(FlatPairs))(reply), (rows) =>
    Result.map(
      Schema.decodeUnknownResult(Schema.Array(PeerFields))(rows.map(pairs)),
      (peers) =>
        peers.map((p) => ({
          endpoint: { host: p.ip, port: p.port },
          runId: p.runid,
          flags: p.flags.split(","),
          ...(p["slave-priority"] === undefined ? {} : { priority: p["slave-priority"] })
        }))
    ))

export interface SentinelMasterState {
  readonly endpoint: Endpoint
  readonly flags: ReadonlyArray<string>
  readonly replicas: number
  readonly otherSentinels: number
  readonly quorum: number
}

const MasterFields = Schema.Struct({
  ip: Schema.String,
  port: IntString,
  flags: Schema.String,
  "num-slaves": IntString,
  "num-other-sentinels": IntString,
  quorum: IntString
})

/** `SENTINEL master <name>`. */
export const decodeSentinelMaster = (reply: unknown): Result.Result<SentinelMasterState, Schema.SchemaError> =>
  Result.flatMap(Schema.decodeUnknownResult(FlatPairs)(reply), (flat) =>
    Result.map(Schema.decodeUnknownResult(MasterFields)(pairs(flat)), (m) => ({
      endpoint: { host: m.ip, port: m.port },
      flags: m.flags.split(","),
      replicas: m["num-slaves"],
      otherSentinels: m["num-other-sentinels"],
      quorum: m.quorum
    })))

/** `SENTINEL get-master-addr-by-name`: `[ip, port]`, or null for an unknown name. */
export const decodeMasterAddress = (reply: unknown): Result.Result<Endpoint | null, Schema.SchemaError> =>
  Result.map(
    Schema.decodeUnknownResult(Schema.NullOr(Schema.Tuple([Schema.String, IntString])))(reply),
    (r) => (r === null ? null : { host: r[0], port: r[1] })
  )

/** `SENTINEL DEBUG`: `["INFO-PERIOD", "1000", …]`, names and milliseconds as bulk strings (RESP2's flattened map). */
export const decodePeriods = (reply: unknown): Result.Result<Readonly<Record<string, number>>, Schema.SchemaError> =>
  Result.map(Schema.decodeUnknownResult(FlatPairs)(reply), (flat) => {
    const out: Record<string, number> = {}
    for (const [name, ms] of Object.entries(pairs(flat))) if (/^\d+$/.test(ms)) out[name] = Number(ms)
    return out
  })
