// The founding rules (DESIGN.md §5, "Never found over data that exists somewhere"):
// whether this node may take the bootstrap lock when no master exists, judged from
// the nodes that announced themselves while starting, whether the cluster ever held
// data, and how long this node has watched. Which data holder founds is one total
// order (Patroni's "healthiest node"), so every node picks the same one from the same
// view. Pure: the caller measures the watch from the moment its own announcement was
// visible, and remembers the data holders it saw during this start.
import { DateTime, Duration, Option, Schema } from "effect"
import { compareEndpoints, type Endpoint, formatEndpoint, sameEndpoint } from "./Endpoint.ts"
import { formatGoDuration } from "./EnvValue.ts"

/** What a node's data directory holds; `lastWrite` is when the dataset's files last changed (epoch ms). */
export type DataState =
  | { readonly _tag: "Empty" }
  | { readonly _tag: "Held"; readonly lastWrite: Option.Option<number> }

/** A node whose pre-start announced itself (its announcement lives as long as that pre-start). */
export interface Candidate {
  readonly node: string
  readonly endpoint: Endpoint
  readonly data: DataState
}

/** A node as the cluster's record names it. */
export interface NodeRef {
  readonly node: string
  readonly endpoint: Endpoint
}

/** Whether the cluster ever held data, and what says so (for the reason sentence). */
export type History =
  | { readonly _tag: "NeverHeldData"; readonly evidence: string }
  | { readonly _tag: "HeldData"; readonly evidence: string }

export interface FoundingView {
  /** This node's name (its endpoint and whether it holds data are in the role observation). */
  readonly node: string
  /** When the local dataset last changed, when it holds one. */
  readonly lastWrite: Option.Option<number>
  /** Every other node announced now. */
  readonly others: ReadonlyArray<Candidate>
  /** Data holders announced at some moment of this start, also those gone since. */
  readonly seenHolders: ReadonlyArray<Candidate>
  readonly history: History
  /** The last master the cluster's record names. */
  readonly lastMaster: Option.Option<NodeRef>
  /** Since this node's own announcement was visible to the others. */
  readonly watchedMs: number
  /** FOUNDING_GRACE. */
  readonly graceMs: number
}

export type FoundingVerdict =
  | { readonly _tag: "MayFound"; readonly why: string }
  | { readonly _tag: "Defer"; readonly why: string }

// ---------------------------------------------------------------------------
// Announcements: the JSON each starting node keeps under `service/<name>/starting/<node>`

const isoTime = Schema.String.check(Schema.isPattern(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/))

export const Announcement = Schema.Struct({
  node: Schema.String,
  address: Schema.String,
  port: Schema.Int,
  /** The data directory holds a dataset. */
  data: Schema.Boolean,
  /** When that dataset's files last changed. */
  lastWrite: Schema.optionalKey(isoTime)
})
export type Announcement = typeof Announcement.Type
export const AnnouncementFromJson = Schema.fromJsonString(Announcement)

const iso = (ms: number): string => DateTime.formatIso(DateTime.makeUnsafe(ms))

export const announcementOf = (c: Candidate): Announcement => {
  const base = { node: c.node, address: c.endpoint.host, port: c.endpoint.port, data: c.data._tag === "Held" }
  return c.data._tag === "Held" && Option.isSome(c.data.lastWrite) ? { ...base, lastWrite: iso(c.data.lastWrite.value) } : base
}

export const candidateOf = (a: Announcement): Candidate => ({
  node: a.node,
  endpoint: { host: a.address, port: a.port },
  data: a.data
    ? { _tag: "Held", lastWrite: Option.map(Option.flatMap(Option.fromUndefinedOr(a.lastWrite), (t) => DateTime.make(t)), DateTime.toEpochMillis) }
    : { _tag: "Empty" }
})

// ---------------------------------------------------------------------------
// Ranking

export const isNode = (c: Candidate, ref: NodeRef): boolean => c.node === ref.node || sameEndpoint(c.endpoint, ref.endpoint)

const holds = (c: Candidate): boolean => c.data._tag === "Held"
const lastWriteOf = (c: Candidate): Option.Option<number> => (c.data._tag === "Held" ? c.data.lastWrite : Option.none())

/**
 * The criteria, most important first: holding data at all; being the last master the
 * record names (the only node sure to hold every acknowledged write, since replication
 * is asynchronous); the newest dataset (Redis keeps its replication offset in memory
 * only, but appends every write it applies, as master or replica, to its AOF, so the
 * files' modification time is when it last applied one); then the lowest address, so
 * the order is total.
 */
const criteria = (lastMaster: Option.Option<NodeRef>): ReadonlyArray<{
  readonly why: (a: Candidate, b: Candidate) => string
  readonly compare: (a: Candidate, b: Candidate) => number
}> => [
  { why: () => "it holds data", compare: (a, b) => Number(holds(a)) - Number(holds(b)) },
  {
    why: () => "it is the last master seen",
    compare: (a, b) => Number(Option.exists(lastMaster, (m) => isNode(a, m))) - Number(Option.exists(lastMaster, (m) => isNode(b, m)))
  },
  {
    why: (a, b) => `its data is newer (written ${writtenAt(a)}, this node's ${writtenAt(b)})`,
    compare: (a, b) => Option.getOrElse(lastWriteOf(a), () => -1) - Option.getOrElse(lastWriteOf(b), () => -1)
  },
  { why: () => "its data is as recent and its address is lower", compare: (a, b) => compareEndpoints(b.endpoint, a.endpoint) },
  { why: () => "its data is as recent and its name sorts first", compare: (a, b) => (a.node < b.node ? 1 : a.node > b.node ? -1 : 0) }
]

/** Positive when `a` founds rather than `b`; zero only for the same node. */
export const compareCandidates = (lastMaster: Option.Option<NodeRef>) => (a: Candidate, b: Candidate): number => {
  for (const c of criteria(lastMaster)) {
    const d = c.compare(a, b)
    if (d !== 0) return d
  }
  return 0
}

/** Why `a` founds rather than `b` (a ranks first). */
const whyFirst = (lastMaster: Option.Option<NodeRef>, a: Candidate, b: Candidate): string =>
  criteria(lastMaster).find((c) => c.compare(a, b) !== 0)?.why(a, b) ?? "it is the same node"

// ---------------------------------------------------------------------------
// Sentences

const writtenAt = (c: Candidate): string => Option.match(lastWriteOf(c), { onNone: () => "at an unknown time", onSome: iso })

const describe = (c: Candidate): string =>
  `${c.node} (${formatEndpoint(c.endpoint)}, ${holds(c) ? `holds data written ${writtenAt(c)}` : "empty"})`

const announced = (others: ReadonlyArray<Candidate>): string =>
  others.length === 0 ? "no other node has announced itself" : `announced: ${others.map(describe).join(", ")}`

const seconds = (ms: number): string => formatGoDuration(Duration.millis(Math.max(0, Math.ceil(ms / 1000) * 1000)))

const graceLeft = (v: FoundingView): string => `${seconds(v.graceMs - v.watchedMs)} more of FOUNDING_GRACE (${formatGoDuration(Duration.millis(v.graceMs))})`

/**
 * A reason with its grace countdown blanked: a wait that only counts down is the same
 * wait, so a caller logging reasons on change logs it once, not every second.
 */
export const withoutCountdown = (reason: string): string => reason.replace(/\d+[hms]+ more of FOUNDING_GRACE/g, "… more of FOUNDING_GRACE")

// ---------------------------------------------------------------------------
// The rules

/**
 * May this node found (take the bootstrap lock and start as master) now that no
 * master exists? `self` is this node as the others see its announcement.
 * - A data holder founds unless a better-ranked node announced itself, or the last
 *   master seen has not announced itself yet and the grace is not over (it may hold
 *   newer data).
 * - An empty node never founds while a data holder is announced, nor after seeing one
 *   during this start; it founds at once only when the cluster never held data, else
 *   once the grace has passed with no data holder in sight.
 */
export const decideFounding = (self: Candidate, v: FoundingView): FoundingVerdict => {
  const order = compareCandidates(v.lastMaster)
  const others = v.others.filter((c) => c.node !== self.node)
  const peers = announced(others)
  const inGrace = v.watchedMs < v.graceMs

  if (holds(self)) {
    const best = [...others].sort((a, b) => order(b, a))[0]
    if (best !== undefined && order(best, self) > 0) {
      return { _tag: "Defer", why: `this node holds data written ${writtenAt(self)}, but ${describe(best)} ranks first: ${whyFirst(v.lastMaster, best, self)}; it founds` }
    }
    const lastMaster = Option.filter(v.lastMaster, (m) => !isNode(self, m) && !others.some((c) => isNode(c, m)))
    if (Option.isSome(lastMaster) && inGrace) {
      const m = lastMaster.value
      return {
        _tag: "Defer",
        why: `this node holds data written ${writtenAt(self)}, but the last master seen, ${m.node} (${formatEndpoint(m.endpoint)}), has not announced itself: waiting ${graceLeft(v)} for it to show whether it holds newer data; ${peers}`
      }
    }
    return { _tag: "MayFound", why: `this node holds data written ${writtenAt(self)} and ranks first among the starting nodes; ${peers}` }
  }

  const holders = others.filter(holds)
  if (holders.length > 0) {
    return { _tag: "Defer", why: `this node's data directory is empty and ${holders.map(describe).join(", ")} holds data: a data holder founds, this node joins it` }
  }
  const gone = v.seenHolders.filter((c) => c.node !== self.node)
  if (gone.length > 0) {
    return {
      _tag: "Defer",
      why: `this node's data directory is empty and ${gone.map((c) => c.node).join(", ")} held data when seen earlier in this start: waiting for it rather than founding empty; ${peers}`
    }
  }
  switch (v.history._tag) {
    case "NeverHeldData":
      return { _tag: "MayFound", why: `this node's data directory is empty and the cluster never held data (${v.history.evidence}); ${peers}` }
    case "HeldData":
      return inGrace
        ? {
          _tag: "Defer",
          why: `this node's data directory is empty and the cluster held data (${v.history.evidence}): waiting ${graceLeft(v)} for a node holding data; ${peers}`
        }
        : {
          _tag: "MayFound",
          why: `this node's data directory is empty, the cluster held data (${v.history.evidence}) and no node holding data showed up within FOUNDING_GRACE (${formatGoDuration(Duration.millis(v.graceMs))}); ${peers}: founding from the newest backup, if one exists`
        }
  }
}
