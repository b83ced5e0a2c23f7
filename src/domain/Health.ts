// Health verdicts: does this node's real role match the Consul service whose check is
// running (role reconciliation), does the local Sentinel monitor the master, and what
// the bootstrap lock needs from a founding master's health check. Pure decisions.
import { type Endpoint, formatEndpoint } from "./Endpoint.ts"
import { type RoleReply, type SentinelMasterState } from "./RedisReplies.ts"

export type ExpectedRole = "master" | "replica"

export interface Verdict {
  readonly pass: boolean
  readonly reason: string
}

/**
 * `redis` passes only on a master; `redis-replica` only on a replica whose link to
 * its master is up, so a replica still syncing never counts as a copy of the data.
 */
export const roleVerdict = (expected: ExpectedRole, role: RoleReply): Verdict => {
  switch (role._tag) {
    case "Master":
      return expected === "master"
        ? { pass: true, reason: `master with ${role.replicas.length} connected replica(s)` }
        : { pass: false, reason: "this node is master, not a replica" }
    case "Replica": {
      const of = formatEndpoint(role.master)
      if (expected === "master") return { pass: false, reason: `this node is a replica of ${of}, not master` }
      return role.state === "connected"
        ? { pass: true, reason: `replica of ${of}, link up` }
        : { pass: false, reason: `replica of ${of}, link ${role.state}` }
    }
    case "Sentinel":
      return { pass: false, reason: "a Sentinel answered on the Redis port" }
  }
}

/** A sentinel passes when it monitors MASTER_NAME; a master being down is Sentinel's job, not a reason to hide the sentinel from clients. */
export const sentinelVerdict = (masterName: string, state: SentinelMasterState | null): Verdict =>
  state === null
    ? { pass: false, reason: `Sentinel does not monitor ${masterName}` }
    : {
      pass: true,
      reason: `monitors ${masterName} at ${formatEndpoint(state.endpoint)} (${state.flags.join(",")}), ${state.replicas} replica(s), ${state.otherSentinels} other sentinel(s)`
    }

export type LockCare =
  | { readonly _tag: "Renew"; readonly reason: string }
  | { readonly _tag: "Release"; readonly reason: string }
  | { readonly _tag: "Forget"; readonly reason: string }
  | { readonly _tag: "LetLapse"; readonly reason: string }

/**
 * What the founding master's health check does with the bootstrap lock it inherited
 * from pre-start: keep it until Consul shows this node passing as `redis`, so no other
 * node founds a second cluster in between (DESIGN.md §5).
 */
export const bootstrapLockCare = (input: {
  readonly verdict: Verdict
  /** The lock key's Session is the one pre-start recorded. */
  readonly stillHeld: boolean
  readonly registeredPassing: boolean
  readonly self: Endpoint
}): LockCare => {
  if (!input.stillHeld) return { _tag: "Forget", reason: "the bootstrap lock is no longer held by this node's session" }
  if (!input.verdict.pass) {
    return { _tag: "LetLapse", reason: `not master yet (${input.verdict.reason}): not renewing, the session lapses unless this node becomes master` }
  }
  return input.registeredPassing
    ? { _tag: "Release", reason: `Consul shows ${formatEndpoint(input.self)} passing as master: releasing the bootstrap lock` }
    : { _tag: "Renew", reason: "master, but not yet passing in Consul: keeping the bootstrap lock" }
}
