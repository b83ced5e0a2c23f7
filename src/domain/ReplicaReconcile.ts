// A replica following the wrong master (DESIGN.md §5's picture, kept true after
// start). Sentinel moves only the replicas it knows; a replica it never learned about
// (it learns them from the master every 10 s) keeps following a dead master, or
// chains to it once that node returns as a replica. The cure is to follow the master
// a majority of sentinels names, once that master answers as one.
import { Option } from "effect"
import { type Endpoint, formatEndpoint, sameEndpoint } from "./Endpoint.ts"
import { type RoleReply } from "./RedisReplies.ts"
import { type SentinelMajority } from "./RoleDecision.ts"

export type ReplicaAction =
  | { readonly _tag: "Follow"; readonly master: Endpoint; readonly reason: string }
  | { readonly _tag: "Leave"; readonly reason: string }

export const decideReplicaTarget = (input: {
  readonly self: Endpoint
  readonly role: RoleReply
  readonly majority: Option.Option<SentinelMajority>
  /** The majority's master answered ROLE master just now. */
  readonly majorityAnswersMaster: boolean
}): ReplicaAction => {
  if (input.role._tag !== "Replica") return { _tag: "Leave", reason: "not a replica" }
  if (Option.isNone(input.majority)) return { _tag: "Leave", reason: "no sentinel majority names a master" }
  const { master, votes, of } = input.majority.value
  if (sameEndpoint(master, input.role.master)) return { _tag: "Leave", reason: `follows ${formatEndpoint(master)}, the sentinels' master` }
  if (sameEndpoint(master, input.self)) return { _tag: "Leave", reason: "the sentinels name this node master: a failover is in progress" }
  if (!input.majorityAnswersMaster) return { _tag: "Leave", reason: `the sentinels name ${formatEndpoint(master)} master but it does not answer as one yet` }
  return {
    _tag: "Follow",
    master,
    reason: `replica of ${formatEndpoint(input.role.master)}, but ${votes} of ${of} sentinels name ${formatEndpoint(master)} master: following it`
  }
}
