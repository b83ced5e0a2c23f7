// Maintenance mode (DESIGN.md §3, `service/<name>/paused`): what a node's agent does
// with its own Redis's `replica-priority`. While paused every node runs at 0, so
// Sentinel has no replica it may promote and no automatic failover happens; once
// resumed the node's configured REPLICA_PRIORITY comes back. Outside a pause the agent
// leaves the priority alone while a switchover may be holding it, and puts
// REPLICA_PRIORITY back once it has been away for longer than any switchover holds it
// (a switchover that could not restore it: 0 would mean never promoted). A node started
// from the RDB its last stop saved runs at 0 too until its AOF is on and written
// (RestartResync.ts): promoted before, a crash of its Redis would bring the cluster
// back to that stop.

export type PriorityAction =
  | { readonly _tag: "Keep"; readonly reason: string }
  | { readonly _tag: "Set"; readonly priority: number; readonly reason: string }

export interface PriorityObservation {
  readonly paused: boolean
  /** Its AOF is off after a start from the RDB its last stop saved: never promoted until it is written. */
  readonly aofPending: boolean
  /** REPLICA_PRIORITY of this node. */
  readonly configured: number
  /** What its Redis answers to `CONFIG GET replica-priority` now. */
  readonly current: number
  /** The configured value is still to be put back: the agent just started, or the cluster was paused since. */
  readonly restorePending: boolean
  /** Outside a pause: how long `current` has been seen away from `configured`, and how long a switchover may hold it. */
  readonly stray?: { readonly forMs: number; readonly limitMs: number }
}

export const decidePriority = (o: PriorityObservation): PriorityAction => {
  if (o.paused || o.aofPending) {
    const why = o.paused ? "paused" : "its AOF not yet written after a start from the RDB of its last stop"
    return o.current === 0
      ? { _tag: "Keep", reason: `${why}: replica-priority is already 0` }
      : { _tag: "Set", priority: 0, reason: `${why}: replica-priority ${o.current} → 0, so Sentinel cannot promote this node` }
  }
  if (!o.restorePending) {
    if (o.stray === undefined || o.current === o.configured || o.stray.forMs < o.stray.limitMs) {
      return { _tag: "Keep", reason: "not paused: replica-priority left as it is" }
    }
    return {
      _tag: "Set",
      priority: o.configured,
      reason: `not paused: replica-priority ${o.current} for ${Math.round(o.stray.forMs / 1000)} s, longer than a switchover holds it (${Math.round(o.stray.limitMs / 1000)} s): → REPLICA_PRIORITY (${o.configured})`
    }
  }
  return o.current === o.configured
    ? { _tag: "Keep", reason: `not paused: replica-priority is REPLICA_PRIORITY (${o.configured})` }
    : { _tag: "Set", priority: o.configured, reason: `not paused: replica-priority ${o.current} → REPLICA_PRIORITY (${o.configured})` }
}

/** The value of `service/<name>/paused` that `manage pause` writes: who paused, and when. */
export const pauseNote = (node: string, at: string): string => JSON.stringify({ pausedBy: node, at })
