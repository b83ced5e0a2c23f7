// Everything the node agent remembers between cycles, in one value behind one Ref:
// the last observation and the verdicts settled from it, what the registrar last saw
// of Consul, and the counters the API reports. The loops write it; the HTTP API only
// reads it.
import { Option } from "effect"
import { type Manifest } from "../../domain/Backup.ts"
import { type Endpoint, uniqueEndpoints } from "../../domain/Endpoint.ts"
import { type Fence } from "../../domain/Fence.ts"
import { type CheckName, type CheckState, type NodeObservation } from "../../domain/Health.ts"

export interface Switch {
  readonly from: Endpoint
  readonly to: Endpoint
  readonly at: number
}

export interface AgentState {
  readonly startedAt: number
  /** Completed observation cycles, and the last one. */
  readonly cycles: number
  readonly lastCycle: Option.Option<{ readonly at: number; readonly trigger: string; readonly tookMs: number }>
  readonly observation: Option.Option<NodeObservation>
  readonly verdicts: Option.Option<Readonly<Record<CheckName, CheckState>>>
  /** Sentinels besides the local one: the peers it knows (refreshed by the observer) and those registered in Consul (by the registrar). */
  readonly peers: {
    readonly fromSentinel: ReadonlyArray<Endpoint>
    readonly fromConsul: ReadonlyArray<Endpoint>
    readonly refreshedAt: number
  }
  /** Since when this replica follows another master than the sentinels name. */
  readonly strandedSince: Option.Option<number>
  readonly consul: {
    /** The last sync with Consul: when, and the problem if it failed. */
    readonly lastSync: Option.Option<{ readonly at: number; readonly problem: Option.Option<string> }>
    /** This node's checks registered at some point since the agent started. */
    readonly everRegistered: ReadonlySet<CheckName>
    /** `service/<name>/paused` is present: the agent reports, and changes nothing in Redis or Sentinel. */
    readonly paused: boolean
    readonly lastBackup: Option.Option<Manifest>
  }
  /**
   * Started from the RDB its last stop saved, with the AOF off (RestartResync.ts), and the
   * AOF not yet on and written: its Redis must not be promoted meanwhile (Pause.ts).
   */
  readonly aofPending: boolean
  /** This node's `replica-priority` as the pause care last read or set it (at start, while paused, on resume), and whether REPLICA_PRIORITY is still to be put back (Pause.ts). */
  readonly priority: { readonly current: Option.Option<number>; readonly restorePending: boolean }
  /** At rest, when the priority was last read, and since when it has been away from REPLICA_PRIORITY. */
  readonly stray: { readonly checkedAt: number; readonly since: Option.Option<number> }
  /** `+switch-master` events seen (each failover once, whichever sentinels told of it). */
  readonly failovers: { readonly seen: number; readonly last: Option.Option<Switch> }
  /** The write fence (Fence.ts): the decision and since when, and what Redis was last seen to run with. */
  readonly fence: {
    readonly decision: Option.Option<{ readonly fence: Fence; readonly since: number }>
    /** The observation cycle the decision was last made on. */
    readonly cycle: number
    /** When Redis's min-replicas-to-write and its replicas' lag were last read from Redis itself. */
    readonly verifiedAt: number
    /** The role Redis last answered, for a Redis that stopped answering. */
    readonly lastKnownRole: "master" | "replica" | "unknown"
    readonly replicasInSync: number
    /** `min-replicas-to-write` as last read from or written to Redis; None when unknown. */
    readonly applied: Option.Option<number>
  }
}

/** Every sentinel to ask besides the local one. */
export const peersOf = (s: AgentState): ReadonlyArray<Endpoint> => uniqueEndpoints([...s.peers.fromSentinel, ...s.peers.fromConsul])

export const initialState = (now: number, aofPending = false): AgentState => ({
  startedAt: now,
  aofPending,
  cycles: 0,
  lastCycle: Option.none(),
  observation: Option.none(),
  verdicts: Option.none(),
  peers: { fromSentinel: [], fromConsul: [], refreshedAt: 0 },
  strandedSince: Option.none(),
  consul: { lastSync: Option.none(), everRegistered: new Set(), paused: false, lastBackup: Option.none() },
  priority: { current: Option.none(), restorePending: true },
  stray: { checkedAt: now, since: Option.none() },
  failovers: { seen: 0, last: Option.none() },
  fence: { decision: Option.none(), cycle: 0, verifiedAt: 0, lastKnownRole: "unknown", replicasInSync: 0, applied: Option.none() }
})
