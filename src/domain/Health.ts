// Health verdicts (DESIGN.md §3): whether this node passes as `redis` (master),
// `redis-replica` and `redis-sentinel`, decided from one observation of its Redis and
// of the sentinels, plus how long a verdict may outlive the observations behind it,
// and what the founding master does with the bootstrap lock. Pure decisions: the
// agent, its API and `manage health` all call these, so they cannot disagree.
import { Option } from "effect"
import { type Endpoint, formatEndpoint, sameEndpoint } from "./Endpoint.ts"
import { type RoleReply, type SentinelMasterState } from "./RedisReplies.ts"
import { sentinelMajority } from "./RoleDecision.ts"

export type CheckName = "master" | "replica" | "sentinel"
export const checkNames: ReadonlyArray<CheckName> = ["master", "replica", "sentinel"]

/** What one observation says about one check. Unknown: the evidence is missing, not against. */
export type Finding =
  | { readonly _tag: "Pass"; readonly reason: string }
  | { readonly _tag: "Fail"; readonly reason: string }
  | { readonly _tag: "Unknown"; readonly reason: string }

/** An answer from a dependency, or why there is none. */
export type Observed<A> =
  | { readonly _tag: "Seen"; readonly value: A }
  | { readonly _tag: "Unseen"; readonly reason: string }

export interface SentinelsView {
  /** Sentinels this node knows of: its own, the peers it knows, those registered in Consul. */
  readonly known: number
  /** For each sentinel that answered: the master it names for MASTER_NAME (None: it does not monitor it). */
  readonly answers: ReadonlyArray<Option.Option<Endpoint>>
  /** The sentinels asked that did not answer (the next look gives them less time). */
  readonly silent?: ReadonlyArray<Endpoint>
}

export interface NodeObservation {
  readonly self: Endpoint
  readonly masterName: string
  /** The local Redis's ROLE. */
  readonly role: Observed<RoleReply>
  /** The local Sentinel's `SENTINEL master MASTER_NAME` (None: it does not monitor it). */
  readonly localSentinel: Observed<Option.Option<SentinelMasterState>>
  readonly sentinels: SentinelsView
}

export type SentinelsSay =
  | { readonly _tag: "Named"; readonly master: Endpoint; readonly votes: number; readonly of: number }
  | { readonly _tag: "Undecided"; readonly reason: string }

/**
 * The master the sentinels name. Only a majority of the sentinels that answered
 * counts, and only when those are themselves a majority of the sentinels known: a
 * node cut off with its own sentinel cannot confirm itself (Sentinel could not fail
 * over from there either). Half is not enough, even with the other half silent: a
 * failover may have finished just before the silence (two nodes: a partition right
 * after the promotion), and each side would confirm its own master.
 */
export const sentinelsSay = (view: SentinelsView): SentinelsSay => {
  const answered = view.answers.length
  const known = Math.max(view.known, answered)
  if (answered * 2 <= known) return { _tag: "Undecided", reason: `only ${answered} of ${known} sentinels answered` }
  return Option.match(sentinelMajority(view.answers), {
    onNone: () => ({ _tag: "Undecided", reason: `the ${answered} sentinels that answered do not agree on a master` }),
    onSome: ({ master, votes, of }) => ({ _tag: "Named", master, votes, of })
  })
}

/**
 * Whether answers so far already decide what `sentinelsSay` will say however the
 * rest answer: one master named by more than half of the sentinels known. The
 * observation stops waiting then, so a silent peer cannot delay a verdict.
 */
export const decidedEarly = (answers: ReadonlyArray<Option.Option<Endpoint>>, known: number): boolean =>
  Option.exists(sentinelMajority(answers), ({ votes }) => votes * 2 > known)

const tally = (s: Extract<SentinelsSay, { _tag: "Named" }>): string => `${s.votes} of ${s.of} sentinels`

/** `redis` passes only on a master that a majority of the sentinels name: a demoted, woken or cut-off master fails at once. */
export const masterFinding = (o: NodeObservation): Finding => {
  if (o.role._tag === "Unseen") return { _tag: "Unknown", reason: `Redis did not answer: ${o.role.reason}` }
  const role = o.role.value
  if (role._tag === "Replica") return { _tag: "Fail", reason: `a replica of ${formatEndpoint(role.master)}, not master` }
  if (role._tag === "Sentinel") return { _tag: "Fail", reason: "a Sentinel answered on the Redis port" }
  const say = sentinelsSay(o.sentinels)
  if (say._tag === "Undecided") return { _tag: "Unknown", reason: `Redis says master, but ${say.reason}` }
  return sameEndpoint(say.master, o.self)
    ? { _tag: "Pass", reason: `master with ${role.replicas.length} connected replica(s); ${tally(say)} name it` }
    : { _tag: "Fail", reason: `Redis says master, but ${tally(say)} name ${formatEndpoint(say.master)}: demoted or cut off` }
}

/** `redis-replica` passes only on a replica with its link up to the master the sentinels name. */
export const replicaFinding = (o: NodeObservation): Finding => {
  if (o.role._tag === "Unseen") return { _tag: "Unknown", reason: `Redis did not answer: ${o.role.reason}` }
  const role = o.role.value
  if (role._tag === "Master") return { _tag: "Fail", reason: "this node is master, not a replica" }
  if (role._tag === "Sentinel") return { _tag: "Fail", reason: "a Sentinel answered on the Redis port" }
  const of = formatEndpoint(role.master)
  if (role.state !== "connected") return { _tag: "Fail", reason: `replica of ${of}, link ${role.state}` }
  const say = sentinelsSay(o.sentinels)
  if (say._tag === "Undecided") return { _tag: "Unknown", reason: `replica of ${of}, link up, but ${say.reason}` }
  return sameEndpoint(say.master, role.master)
    ? { _tag: "Pass", reason: `replica of ${of}, link up; ${tally(say)} name it master` }
    : { _tag: "Fail", reason: `replica of ${of}, but ${tally(say)} name ${formatEndpoint(say.master)} master` }
}

/** A sentinel passes while it monitors MASTER_NAME; a master being down is Sentinel's job, not a reason to hide it from clients. */
export const sentinelFinding = (o: NodeObservation): Finding => {
  if (o.localSentinel._tag === "Unseen") return { _tag: "Unknown", reason: `Sentinel did not answer: ${o.localSentinel.reason}` }
  return Option.match(o.localSentinel.value, {
    onNone: () => ({ _tag: "Fail", reason: `Sentinel does not monitor ${o.masterName}` }),
    onSome: (state) => ({
      _tag: "Pass",
      reason: `monitors ${o.masterName} at ${formatEndpoint(state.endpoint)} (${state.flags.join(",")}), ${state.replicas} replica(s), ${state.otherSentinels} other sentinel(s)`
    })
  })
}

export const findings = (o: NodeObservation): Readonly<Record<CheckName, Finding>> => ({
  master: masterFinding(o),
  replica: replicaFinding(o),
  sentinel: sentinelFinding(o)
})

export interface Verdict {
  readonly pass: boolean
  readonly reason: string
}

export interface CheckState extends Verdict {
  /** When `pass` last changed (epoch milliseconds). */
  readonly since: number
  /** When a finding last confirmed or refuted it (Unknown findings do not count). */
  readonly confirmedAt: number
}

/**
 * The verdict after a new finding. A missing answer keeps a passing verdict for at
 * most `hold` after it was last confirmed (one health interval: a blip must not flap
 * the registry, a dead dependency must not keep a node passing); with no history, or
 * past that, it fails.
 */
export const settle = (previous: Option.Option<CheckState>, finding: Finding, now: number, hold: number): CheckState => {
  if (finding._tag === "Unknown") {
    if (Option.isSome(previous) && previous.value.pass && now - previous.value.confirmedAt <= hold) {
      return { ...previous.value, reason: `${previous.value.reason} (unconfirmed: ${finding.reason})` }
    }
    const since = Option.isSome(previous) && !previous.value.pass ? previous.value.since : now
    const confirmedAt = Option.match(previous, { onNone: () => now, onSome: (p) => p.confirmedAt })
    return { pass: false, reason: finding.reason, since, confirmedAt }
  }
  const pass = finding._tag === "Pass"
  const since = Option.isSome(previous) && previous.value.pass === pass ? previous.value.since : now
  return { pass, reason: finding.reason, since, confirmedAt: now }
}

/**
 * A verdict as of `now`: a pass not confirmed within `hold` has lapsed. Whoever reads
 * a verdict (the API, the registrar, the fence) reads it through this, so a verdict
 * cannot outlive its evidence, also when the agent was frozen and wakes up.
 */
export const asOf = (verdict: CheckState, now: number, hold: number, lapsed: string): CheckState =>
  verdict.pass && now - verdict.confirmedAt > hold ? settle(Option.some(verdict), { _tag: "Unknown", reason: lapsed }, now, hold) : verdict

/**
 * How long each check's pass holds without a confirming observation: the master's is
 * the fence's lease (FENCE_AFTER), so Consul and Redis drop a master that cannot be
 * confirmed at the same moment; the others one HEALTH_INTERVAL.
 */
export const holdsOf = (healthIntervalMs: number, fenceAfterMs: Option.Option<number>): Readonly<Record<CheckName, number>> => ({
  master: Option.getOrElse(fenceAfterMs, () => healthIntervalMs),
  replica: healthIntervalMs,
  sentinel: healthIntervalMs
})

export type LockCare =
  | { readonly _tag: "Renew"; readonly reason: string }
  | { readonly _tag: "Release"; readonly reason: string }
  | { readonly _tag: "Forget"; readonly reason: string }
  | { readonly _tag: "LetLapse"; readonly reason: string }

/**
 * What the founding master's agent does with the bootstrap lock it inherited from
 * pre-start: keep it until Consul shows this node passing as `redis`, so no other
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
