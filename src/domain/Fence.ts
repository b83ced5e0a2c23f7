// Write fencing (DESIGN.md §6): whether this node's Redis may acknowledge writes.
// A master its agent cannot confirm (its master check not passing: the sentinels'
// majority names another node, or has not named this one for FENCE_AFTER) refuses
// writes at once with NOREPLICAS, through `min-replicas-to-write` set beyond any
// replica count, and accepts them again as soon as it is confirmed. While open, the
// agent arms Redis's own line: `min-replicas-to-write` 1 while a replica is in sync,
// so Redis alone refuses writes once no replica has acknowledged within
// `min-replicas-max-lag`, should the agent itself die. Pure: the agent applies it.
import { type CheckState } from "./Health.ts"

/** Beyond any number of replicas a cluster has: Redis answers every write `-NOREPLICAS`. */
export const fencedMinReplicas = 1_000_000

export type Fence =
  | { readonly _tag: "Open"; readonly minReplicas: number; readonly reason: string }
  | { readonly _tag: "Fenced"; readonly reason: string }

export interface FenceInput {
  /** What the local Redis last answered to ROLE; `unknown` when it did not answer. */
  readonly role: "master" | "replica" | "unknown"
  /** The role before that, for a Redis that stopped answering. */
  readonly lastKnownRole: "master" | "replica" | "unknown"
  /** The master check's verdict as of now. */
  readonly master: CheckState
  /** No other sentinel known and no replica: nothing could take this master's place. */
  readonly alone: boolean
  /** Replicas online whose last acknowledgement is within min-replicas-max-lag. */
  readonly replicasInSync: number
  /** REDIS_MIN_REPLICAS_TO_WRITE: the operator's floor. */
  readonly floor: number
}

/** The `min-replicas-to-write` a decision puts in Redis. */
export const minReplicasOf = (fence: Fence): number => (fence._tag === "Fenced" ? fencedMinReplicas : fence.minReplicas)

export const decideFence = (input: FenceInput): Fence => {
  const role = input.role === "unknown" ? input.lastKnownRole : input.role
  if (role !== "master") {
    return { _tag: "Open", minReplicas: input.floor, reason: role === "replica" ? "a replica: Redis itself refuses writes" : "not known to be master" }
  }
  const armed = Math.max(input.floor, input.replicasInSync > 0 ? 1 : 0)
  if (input.alone) return { _tag: "Open", minReplicas: armed, reason: "a one-node cluster: no other node could take its place" }
  if (!input.master.pass) return { _tag: "Fenced", reason: input.master.reason }
  return {
    _tag: "Open",
    minReplicas: armed,
    reason: armed > 0 ? `confirmed master; Redis itself refuses writes once no replica is in sync` : "confirmed master, no replica in sync: accepting writes alone"
  }
}
