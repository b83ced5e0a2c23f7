// `manage switchover [--to NODE]`: whether a planned handover may start, and to which
// replica. The handover itself (pause writes, wait for the target, SENTINEL FAILOVER)
// never gives up an acknowledged write; this decides only that it is worth trying: the
// cluster is not paused, a master exists, and the target is a connected replica close
// behind the master that Sentinel may promote (priority above 0). Without --to the
// target is the replica Sentinel itself would prefer: lowest priority, then least behind.
import { Option } from "effect"
import { type Endpoint, formatEndpoint, sameEndpoint } from "./Endpoint.ts"
import { type ReplicaLinkState } from "./RedisReplies.ts"

/**
 * A replica further behind than this is not "caught up": it would keep writes paused
 * for long, or is stuck. Close replicas catch up within milliseconds once writes pause.
 */
export const caughtUpLagBytes = 1024 * 1024

export interface SwitchoverReplica {
  readonly endpoint: Endpoint
  /** Its name in Consul (HOSTNAME), when registered. */
  readonly node: Option.Option<string>
  /** Its link to the master, from its own ROLE; None when it did not answer. */
  readonly link: Option.Option<ReplicaLinkState>
  /** Bytes behind the master, from the master's ROLE. */
  readonly lagBytes: number
  /** `replica-priority` it runs with; None when it did not answer. */
  readonly priority: Option.Option<number>
}

export interface SwitchoverObservation {
  readonly pausedKey: string
  readonly paused: boolean
  /** The master a majority of the sentinels name, when it answers ROLE master. */
  readonly master: Option.Option<{ readonly endpoint: Endpoint; readonly node: Option.Option<string> }>
  /** Why there is no master, when there is none. */
  readonly noMaster: string
  /** The replicas the master reports. */
  readonly replicas: ReadonlyArray<SwitchoverReplica>
  /** `--to`: a node name, an address, or `address:port`. */
  readonly requested: Option.Option<string>
}

export type SwitchoverDecision =
  | { readonly _tag: "Refuse"; readonly reason: string }
  | {
    readonly _tag: "Proceed"
    readonly master: Endpoint
    readonly target: SwitchoverReplica
    /** Every other replica: held at priority 0 until the failover is over, so Sentinel can only pick the target. */
    readonly others: ReadonlyArray<Endpoint>
    readonly reason: string
  }

const refuse = (reason: string): SwitchoverDecision => ({ _tag: "Refuse", reason })

const named = (r: { readonly endpoint: Endpoint; readonly node: Option.Option<string> }): string =>
  Option.match(r.node, { onNone: () => formatEndpoint(r.endpoint), onSome: (n) => `${n} (${formatEndpoint(r.endpoint)})` })

/** `--to` names this node: its Consul name, its address, or its address and port. */
export const matches = (wanted: string, r: { readonly endpoint: Endpoint; readonly node: Option.Option<string> }): boolean =>
  Option.contains(r.node, wanted) || wanted === r.endpoint.host || wanted === formatEndpoint(r.endpoint)

/** Why this replica cannot take over now, if it cannot. */
export const unfit = (r: SwitchoverReplica): Option.Option<string> => {
  if (r.lagBytes > caughtUpLagBytes) return Option.some(`it is ${r.lagBytes} bytes behind the master (at most ${caughtUpLagBytes} to count as caught up)`)
  if (Option.isNone(r.link)) return Option.some("it does not answer")
  if (r.link.value !== "connected") return Option.some(`its link to the master is ${r.link.value}`)
  if (Option.isNone(r.priority)) return Option.some("its replica-priority could not be read")
  if (r.priority.value === 0) return Option.some("its replica-priority is 0 (REPLICA_PRIORITY=0: never promoted)")
  return Option.none()
}

export const decideSwitchover = (o: SwitchoverObservation): SwitchoverDecision => {
  if (o.paused) return refuse(`the cluster is paused (${o.pausedKey} is set): \`manage resume\` first`)
  if (Option.isNone(o.master)) return refuse(`no master to hand over from: ${o.noMaster}`)
  const master = o.master.value
  if (o.replicas.length === 0) return refuse(`the master ${named(master)} has no connected replica to hand over to`)
  const proceed = (target: SwitchoverReplica, why: string): SwitchoverDecision => ({
    _tag: "Proceed",
    master: master.endpoint,
    target,
    others: o.replicas.filter((r) => !sameEndpoint(r.endpoint, target.endpoint)).map((r) => r.endpoint),
    reason: `handing ${named(master)}'s role to ${named(target)}: ${why}`
  })
  if (Option.isSome(o.requested)) {
    const wanted = o.requested.value
    if (matches(wanted, master)) return refuse(`${named(master)} is already the master`)
    const target = o.replicas.find((r) => matches(wanted, r))
    if (target === undefined) {
      return refuse(`unknown node ${JSON.stringify(wanted)}: not a replica of the master ${named(master)} (its replicas: ${o.replicas.map(named).join(", ")})`)
    }
    const why = unfit(target)
    if (Option.isSome(why)) return refuse(`${named(target)} is not a caught-up replica that may be promoted: ${why.value}`)
    return proceed(target, `asked for, ${target.lagBytes} bytes behind`)
  }
  const fit = o.replicas
    .filter((r) => Option.isNone(unfit(r)))
    .sort((a, b) => Option.getOrElse(a.priority, () => 0) - Option.getOrElse(b.priority, () => 0) || a.lagBytes - b.lagBytes)
  const [best] = fit
  if (best === undefined) {
    return refuse(`no replica is caught up and may be promoted: ${o.replicas.map((r) => `${named(r)}: ${Option.getOrElse(unfit(r), () => "")}`).join("; ")}`)
  }
  return proceed(best, `the replica Sentinel would prefer (priority ${Option.getOrElse(best.priority, () => 0)}, ${best.lagBytes} bytes behind)`)
}
