// When a sentinel should forget what it knows (DESIGN.md §6, field-lessons P3).
// Sentinels never forget a replica or a peer; dead ones keep counting toward the
// failover majority until SENTINEL RESET. A reset empties a sentinel's view, which it
// rebuilds from the master (replicas within ~10 s, peers within ~2 s), so it is safe
// only while the master is healthy, only on one sentinel at a time, and 30 s apart
// cluster-wide: resetting all at once just before the master dies leaves no replica
// to promote (the original image's failure).
import { Duration, Option, Schema } from "effect"
import { type Endpoint, formatEndpoint, sameEndpoint } from "./Endpoint.ts"
import { type SentinelMasterState, type SentinelPeer } from "./RedisReplies.ts"

export type ResetDecision =
  | { readonly _tag: "Reset"; readonly reason: string }
  | { readonly _tag: "Keep"; readonly reason: string }

const down = (flags: ReadonlyArray<string>) => flags.some((f) => f === "s_down" || f === "o_down" || f === "disconnected")

/** Peers this sentinel still counts that are down and not alive in Consul either. */
export const stalePeers = (known: ReadonlyArray<SentinelPeer>, alive: ReadonlyArray<Endpoint>): ReadonlyArray<Endpoint> =>
  known.filter((p) => down(p.flags) && !alive.some((a) => sameEndpoint(a, p.endpoint))).map((p) => p.endpoint)

export const decideSentinelReset = (input: {
  readonly master: SentinelMasterState
  readonly replicas: ReadonlyArray<SentinelPeer>
  readonly sentinels: ReadonlyArray<SentinelPeer>
  /** Replicas and sentinels passing in Consul. */
  readonly aliveReplicas: ReadonlyArray<Endpoint>
  readonly aliveSentinels: ReadonlyArray<Endpoint>
  /** Time since any sentinel of the cluster was last reset. */
  readonly sinceLastReset: Option.Option<Duration.Duration>
  readonly spacing: Duration.Duration
}): ResetDecision => {
  const staleReplicas = stalePeers(input.replicas, input.aliveReplicas)
  const staleSentinels = stalePeers(input.sentinels, input.aliveSentinels)
  if (staleReplicas.length === 0 && staleSentinels.length === 0) return { _tag: "Keep", reason: "no stale replica or sentinel" }
  const stale = [...staleReplicas.map((e) => `replica ${formatEndpoint(e)}`), ...staleSentinels.map((e) => `sentinel ${formatEndpoint(e)}`)].join(", ")
  if (down(input.master.flags)) return { _tag: "Keep", reason: `${stale} stale, but the master is ${input.master.flags.join(",")}: never reset then` }
  if (!input.replicas.some((r) => !down(r.flags))) {
    return { _tag: "Keep", reason: `${stale} stale, but no replica is up: a reset now could leave nothing to promote` }
  }
  if (Option.isSome(input.sinceLastReset) && Duration.isLessThan(input.sinceLastReset.value, input.spacing)) {
    return { _tag: "Keep", reason: `${stale} stale; a sentinel was reset ${Duration.format(input.sinceLastReset.value)} ago, waiting ${Duration.format(input.spacing)} between resets` }
  }
  return { _tag: "Reset", reason: `forgetting ${stale} (down and not registered in Consul) while the master is healthy` }
}

/** Consul's record of the last reset anywhere in the cluster, claimed by compare-and-set. */
export const LastReset = Schema.Struct({ node: Schema.String, at: Schema.Number })
export const LastResetFromJson = Schema.fromJsonString(LastReset)
