// Choosing a role at start (DESIGN.md §5), as a pure function over what pre-start
// observed. Two invariants hold for every input (see the property tests):
// - a node without local data never starts as master while another node answers as
//   a replica (its replicas would copy the empty dataset and wipe themselves);
// - a node never founds a cluster (master with no master observed) without holding
//   the bootstrap lock, and never starts as master while another node answers as one;
// - it founds only when the founding rules let it (Founding.ts): never empty over
//   data that a starting node announced.
// Waiting is bounded by the caller (MASTER_WAIT_TIMEOUT); this module has no clock:
// how long this node has watched for data holders is an observation.
import { Option } from "effect"
import { type Endpoint, formatEndpoint, sameEndpoint, uniqueEndpoints } from "./Endpoint.ts"
import { type Candidate, decideFounding, type FoundingView } from "./Founding.ts"

/** What a node answered to ROLE when pre-start asked it directly. */
export type ProbedRole =
  | { readonly _tag: "Master" }
  | { readonly _tag: "Replica"; readonly master: Endpoint }
  | { readonly _tag: "Unreachable" }

export type LockState =
  | { readonly _tag: "Free" }
  | { readonly _tag: "HeldBySelf" }
  /**
   * Held by a session of this node's previous start (its value names this node, at
   * this address): that start is over, since pre-start runs only while nothing else
   * of the node does, but the session outlives it until Consul invalidates it (up to
   * 2×TTL), e.g. when the node stopped before its agent released the lock.
   */
  | { readonly _tag: "HeldByEarlierSelf"; readonly session: string }
  | { readonly _tag: "HeldByOther"; readonly holder: string }

export interface RoleObservation {
  readonly self: Endpoint
  /**
   * One entry per sentinel registered as passing in Consul: the master it reports
   * for MASTER_NAME, or None when it did not answer or does not know the name.
   */
  readonly sentinelReports: ReadonlyArray<Option.Option<Endpoint>>
  /** Passing `redis` service instances in Consul. */
  readonly registeredMasters: ReadonlyArray<Endpoint>
  /** ROLE answers of other nodes that might be master or hold data. */
  readonly probes: ReadonlyArray<{ readonly endpoint: Endpoint; readonly role: ProbedRole }>
  readonly lock: LockState
  /** The data directory holds `appendonlydir/`, `appendonly.aof` or `dump.rdb`. */
  readonly localData: boolean
  /** What founding depends on: the starting nodes, the cluster's past, the watch so far. */
  readonly founding: FoundingView
}

export type RoleDecision =
  | { readonly _tag: "StartAsMaster"; readonly founding: boolean; readonly reason: string }
  | { readonly _tag: "StartAsReplica"; readonly master: Endpoint; readonly reason: string }
  | { readonly _tag: "AcquireLock"; readonly reason: string }
  /** This node holds the bootstrap lock but another node must found: give the lock back, then wait. */
  | { readonly _tag: "YieldLock"; readonly reason: string }
  /** Release the lock a session of this node's previous start still holds, then look again. */
  | { readonly _tag: "ReleaseStaleLock"; readonly session: string; readonly reason: string }
  | { readonly _tag: "Wait"; readonly reason: string }

export interface SentinelMajority {
  readonly master: Endpoint
  readonly votes: number
  readonly of: number
}

/** The master named by more than half of the passing sentinels, if any. */
export const sentinelMajority = (reports: ReadonlyArray<Option.Option<Endpoint>>): Option.Option<SentinelMajority> => {
  const votes = new Map<string, { master: Endpoint; votes: number }>()
  for (const report of reports) {
    if (Option.isNone(report)) continue
    const key = formatEndpoint(report.value)
    const entry = votes.get(key) ?? { master: report.value, votes: 0 }
    votes.set(key, { ...entry, votes: entry.votes + 1 })
  }
  for (const { master, votes: n } of votes.values()) {
    if (n * 2 > reports.length) return Option.some({ master, votes: n, of: reports.length })
  }
  return Option.none()
}

const list = (endpoints: ReadonlyArray<Endpoint>): string => endpoints.map(formatEndpoint).join(", ")

export const decideRole = (o: RoleObservation): RoleDecision => {
  const others = o.probes.filter((p) => !sameEndpoint(p.endpoint, o.self))
  const answersMaster = (e: Endpoint) => others.some((p) => sameEndpoint(p.endpoint, e) && p.role._tag === "Master")
  const liveMasters = uniqueEndpoints(others.filter((p) => p.role._tag === "Master").map((p) => p.endpoint))
  const replicas = uniqueEndpoints(others.filter((p) => p.role._tag === "Replica").map((p) => p.endpoint))

  const found = (why: string): RoleDecision => {
    const self: Candidate = {
      node: o.founding.node,
      endpoint: o.self,
      data: o.localData ? { _tag: "Held", lastWrite: o.founding.lastWrite } : { _tag: "Empty" }
    }
    const rules = decideFounding(self, o.founding)
    const seen = `${why}; ${rules.why}`
    switch (o.lock._tag) {
      case "HeldBySelf":
        return rules._tag === "MayFound"
          ? { _tag: "StartAsMaster", founding: true, reason: `founding the cluster at ${formatEndpoint(o.self)}: ${seen}; this node holds the bootstrap lock` }
          : { _tag: "YieldLock", reason: `${seen}: giving the bootstrap lock back` }
      case "HeldByOther":
        return { _tag: "Wait", reason: `${seen}; node ${o.lock.holder} holds the bootstrap lock: waiting for it to become master` }
      case "HeldByEarlierSelf":
        return {
          _tag: "ReleaseStaleLock",
          session: o.lock.session,
          reason: `${seen}; the bootstrap lock is still held by session ${o.lock.session} of this node's previous start (${formatEndpoint(o.self)}), which is over: releasing it`
        }
      case "Free":
        return rules._tag === "MayFound" ? { _tag: "AcquireLock", reason: `${seen}: taking the bootstrap lock` } : { _tag: "Wait", reason: seen }
    }
  }

  // This node's own address is reported as master: it is the one restarting.
  const selfReported = (why: string): RoleDecision => {
    if (liveMasters.length > 0) {
      return { _tag: "Wait", reason: `${why}, yet ${list(liveMasters)} answers as master: waiting for Sentinel to settle` }
    }
    if (o.localData) {
      return { _tag: "StartAsMaster", founding: false, reason: `resuming as master at ${formatEndpoint(o.self)}: ${why} and its data directory holds a dataset` }
    }
    if (replicas.length > 0) {
      return {
        _tag: "Wait",
        reason: `${why} but its data directory is empty: waiting for Sentinel to promote one of the replicas ${list(replicas)}; an empty master would wipe them`
      }
    }
    return found(`${why}, its data directory is empty and no replica exists`)
  }

  const majority = sentinelMajority(o.sentinelReports)
  if (Option.isSome(majority)) {
    const { master, votes, of } = majority.value
    const tally = `${votes} of ${of} sentinels report`
    if (sameEndpoint(master, o.self)) return selfReported(`${tally} this node master`)
    if (answersMaster(master)) {
      return { _tag: "StartAsReplica", master, reason: `replica of ${formatEndpoint(master)}: ${tally} it master and it answers as master` }
    }
    return {
      _tag: "Wait",
      reason: `${tally} ${formatEndpoint(master)} master but it does not answer as master: waiting for Sentinel to fail over`
    }
  }

  const [onlyMaster, ...moreMasters] = liveMasters
  if (onlyMaster !== undefined && moreMasters.length === 0) {
    return { _tag: "StartAsReplica", master: onlyMaster, reason: `replica of ${formatEndpoint(onlyMaster)}: it answers as master and no sentinel majority names another` }
  }
  if (liveMasters.length > 1) {
    return { _tag: "Wait", reason: `${list(liveMasters)} all answer as master and no sentinel majority decides: waiting for Sentinel to settle` }
  }
  // A registration that outlives its master (TTL not yet lapsed) may be a master in
  // the middle of a restart: founding beside it would make two masters.
  const silentRegistered = uniqueEndpoints(o.registeredMasters.filter((e) => !sameEndpoint(e, o.self) && !answersMaster(e)))
  if (silentRegistered.length > 0) {
    return {
      _tag: "Wait",
      reason: `Consul lists ${list(silentRegistered)} as master but it does not answer: waiting for it to return or for its registration to lapse`
    }
  }
  if (replicas.length > 0) {
    return {
      _tag: "Wait",
      reason: `no master answers, but ${list(replicas)} answer as replicas and may hold data: waiting for Sentinel to promote one rather than founding a new cluster`
    }
  }
  const silentPeers = uniqueEndpoints(others.map((p) => p.endpoint))
  return found(
    silentPeers.length === 0
      ? "no master exists and no peer is known to probe"
      : `no master exists: none of the ${silentPeers.length} peer(s) probed answers (${list(silentPeers)})`
  )
}
