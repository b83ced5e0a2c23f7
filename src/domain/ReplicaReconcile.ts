// A replica following the wrong master (DESIGN.md §5's picture, kept true after
// start). Sentinel moves only the replicas it knows; a replica it never learned about
// (it learns them from the master every 10 s) keeps following a dead master, or
// chains to it once that node returns as a replica. The cure is to follow the master
// the sentinels name, once that master answers as one and the replica has stayed
// behind longer than Sentinel's own reconfiguration takes.
import { Duration, Option } from "effect"
import { type Endpoint, formatEndpoint, sameEndpoint } from "./Endpoint.ts"
import { type Observed, type SentinelsSay } from "./Health.ts"
import { type RoleReply } from "./RedisReplies.ts"

export type ReplicaAction =
  | { readonly _tag: "Follow"; readonly master: Endpoint; readonly reason: string }
  | { readonly _tag: "Leave"; readonly reason: string }

/** The master this replica should follow instead of its own, if the sentinels name one. */
const wrongMaster = (self: Endpoint, role: RoleReply, say: SentinelsSay): Option.Option<Endpoint> =>
  role._tag === "Replica" && say._tag === "Named" && !sameEndpoint(say.master, role.master) && !sameEndpoint(say.master, self)
    ? Option.some(say.master)
    : Option.none()

/** Since when the replica has followed another master than the sentinels name (None: it does not). */
export const strandedSince = (input: {
  readonly previous: Option.Option<number>
  readonly self: Endpoint
  readonly role: Observed<RoleReply>
  readonly say: SentinelsSay
  readonly now: number
}): Option.Option<number> => {
  // Without an answer from Redis nothing changed that we know of.
  if (input.role._tag === "Unseen") return input.previous
  return Option.isSome(wrongMaster(input.self, input.role.value, input.say))
    ? Option.some(Option.getOrElse(input.previous, () => input.now))
    : Option.none()
}

export const decideReplicaTarget = (input: {
  readonly self: Endpoint
  readonly role: RoleReply
  readonly say: SentinelsSay
  /** How long it has followed another master than the sentinels name. */
  readonly strandedFor: Duration.Duration
  readonly grace: Duration.Duration
  /** The sentinels' master answered ROLE master just now. */
  readonly namedAnswersMaster: boolean
}): ReplicaAction => {
  const { role, say } = input
  if (role._tag !== "Replica") return { _tag: "Leave", reason: "not a replica" }
  if (say._tag === "Undecided") return { _tag: "Leave", reason: `the sentinels name no master: ${say.reason}` }
  if (sameEndpoint(say.master, role.master)) return { _tag: "Leave", reason: `follows ${formatEndpoint(say.master)}, the sentinels' master` }
  if (sameEndpoint(say.master, input.self)) return { _tag: "Leave", reason: "the sentinels name this node master: a failover is in progress" }
  if (Duration.isLessThan(input.strandedFor, input.grace)) {
    return { _tag: "Leave", reason: `follows ${formatEndpoint(role.master)}, not ${formatEndpoint(say.master)}, for ${Duration.format(input.strandedFor)}: giving Sentinel ${Duration.format(input.grace)} to move it` }
  }
  if (!input.namedAnswersMaster) return { _tag: "Leave", reason: `the sentinels name ${formatEndpoint(say.master)} master but it does not answer as one yet` }
  return {
    _tag: "Follow",
    master: say.master,
    reason: `replica of ${formatEndpoint(role.master)}, but ${say.votes} of ${say.of} sentinels have named ${formatEndpoint(say.master)} master for ${Duration.format(input.strandedFor)}: following it`
  }
}
