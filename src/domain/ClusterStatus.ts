// The cluster as an operator sees it (`manage status`): a plain snapshot and its
// rendering as a table. Unknown parts stay visible as unknown rather than omitted.
import { Option } from "effect"
import { type Manifest } from "./Backup.ts"
import { type Endpoint, formatEndpoint } from "./Endpoint.ts"

export type Registration = "passing" | "warning" | "critical" | "absent"

export interface NodeStatus {
  readonly endpoint: Endpoint
  readonly consul: { readonly master: Registration; readonly replica: Registration }
  /** `master`, `replica of …`, or why it could not be read. */
  readonly role: string
  /** Bytes of replication stream a replica is behind its master, when known. */
  readonly lag: Option.Option<number>
  /** The replica-priority it runs with (0 while paused, or REPLICA_PRIORITY=0), when known. */
  readonly priority: Option.Option<number>
  /** Why its Redis refuses writes (the write fence, FENCE_AFTER), when it does. */
  readonly fenced: Option.Option<string>
}

export interface SentinelStatus {
  readonly endpoint: Endpoint
  readonly consul: Registration
  readonly reports: string
}

export interface ClusterStatus {
  readonly masterName: string
  /** `service/<name>/paused` is set: no automatic failover. */
  readonly paused: boolean
  readonly sentinelMaster: Option.Option<{ readonly master: Endpoint; readonly votes: number; readonly of: number }>
  readonly nodes: ReadonlyArray<NodeStatus>
  readonly sentinels: ReadonlyArray<SentinelStatus>
  readonly lastBackup: Option.Option<Manifest>
  readonly problems: ReadonlyArray<string>
}

const table = (rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = rows.reduce<Array<number>>((w, row) => row.map((cell, i) => Math.max(w[i] ?? 0, cell.length)), [])
  return rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ").trimEnd()).join("\n")
}

export const renderStatus = (s: ClusterStatus): string => {
  const master = Option.match(s.sentinelMaster, {
    onNone: () => `master of ${s.masterName}: no sentinel majority`,
    onSome: (m) => `master of ${s.masterName}: ${formatEndpoint(m.master)} (${m.votes} of ${m.of} sentinels agree)`
  })
  const nodes = table([
    ["REDIS", "ROLE", "LAG", "PRIORITY", "CONSUL master", "CONSUL replica"],
    ...s.nodes.map((n) => [
      formatEndpoint(n.endpoint),
      n.role,
      Option.match(n.lag, { onNone: () => "-", onSome: (b) => `${b} B` }),
      Option.match(n.priority, { onNone: () => "-", onSome: String }),
      n.consul.master,
      n.consul.replica
    ])
  ])
  const sentinels = table([
    ["SENTINEL", "CONSUL", "REPORTS MASTER"],
    ...s.sentinels.map((x) => [formatEndpoint(x.endpoint), x.consul, x.reports])
  ])
  const backup = Option.match(s.lastBackup, {
    onNone: () => "last backup: none recorded",
    onSome: (b) => `last backup: ${b.id} at ${b.createdAt}, ${b.bytes} bytes, sha256 ${b.sha256.slice(0, 12)}…, ${b.store} ${b.path}`
  })
  const pause = s.paused ? ["maintenance: paused (manage resume ends it): no automatic failover, every replica at priority 0"] : []
  const fenced = s.nodes.flatMap((n) => Option.match(n.fenced, { onNone: () => [], onSome: (why) => [`fenced: ${formatEndpoint(n.endpoint)} refuses writes: ${why}`] }))
  return [master, ...pause, ...fenced, "", nodes, "", sentinels, "", backup, ...s.problems.map((p) => `problem: ${p}`)].join("\n") + "\n"
}

/**
 * Why the snapshot does not show the cluster, if it does not: Consul could not be
 * read (what it shows may be stale or empty), nothing is registered, or no registered
 * Redis answered. `status` then still prints what it saw, and exits non-zero so a
 * script cannot mistake "nothing reachable" for a healthy cluster.
 */
export const unseen = (s: ClusterStatus): Option.Option<string> => {
  const [first, ...more] = s.problems
  if (first !== undefined) return Option.some(`Consul could not be read (${first}${more.length > 0 ? ` and ${more.length} more` : ""})`)
  if (s.nodes.length === 0) return Option.some("no Redis node is registered in Consul")
  if (s.nodes.every((n) => n.role === notAnswering)) return Option.some("no registered Redis node answered")
  return Option.none()
}

/** The role shown for a node whose Redis did not answer. */
export const notAnswering = "not answering"

/** The snapshot as plain JSON for `status --json`: unknowns are null, endpoints `host:port`. */
export const statusJson = (s: ClusterStatus) => ({
  masterName: s.masterName,
  paused: s.paused,
  sentinelMaster: Option.getOrNull(Option.map(s.sentinelMaster, (m) => ({ master: formatEndpoint(m.master), votes: m.votes, of: m.of }))),
  nodes: s.nodes.map((n) => ({
    redis: formatEndpoint(n.endpoint),
    role: n.role,
    lagBytes: Option.getOrNull(n.lag),
    priority: Option.getOrNull(n.priority),
    fenced: Option.getOrNull(n.fenced),
    consul: n.consul
  })),
  sentinels: s.sentinels.map((x) => ({ sentinel: formatEndpoint(x.endpoint), consul: x.consul, reports: x.reports })),
  lastBackup: Option.getOrNull(s.lastBackup),
  problems: s.problems
})
