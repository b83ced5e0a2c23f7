// `manage list`: one row per node, as `patronictl list` shows a PostgreSQL cluster
// (node, address, role, state, lag in bytes, priority, last check), and whether the
// cluster is paused. Pure rendering of rows the program gathered; unknowns show as "-"
// in the table and null in JSON.
import { Option } from "effect"
import { compareEndpoints, type Endpoint, formatEndpoint } from "./Endpoint.ts"

export interface ListRow {
  readonly node: Option.Option<string>
  readonly endpoint: Endpoint
  /** master, replica, or unknown when neither its agent nor its Redis answered. */
  readonly role: "master" | "replica" | "unknown"
  /** running (master), streaming / the link state (replica), or why it is unknown. */
  readonly state: string
  readonly lagBytes: Option.Option<number>
  /** replica-priority it runs with now, and REPLICA_PRIORITY when they differ (paused, switchover). */
  readonly priority: Option.Option<{ readonly current: number; readonly configured: Option.Option<number> }>
  /** When its agent last observed it (ISO 8601); None when the agent did not answer. */
  readonly lastCheck: Option.Option<string>
  /** Why its Redis refuses writes (the write fence), when it does; the state then says `fenced`. */
  readonly fenced: Option.Option<string>
}

export interface ClusterList {
  readonly serviceName: string
  readonly masterName: string
  readonly paused: boolean
  readonly rows: ReadonlyArray<ListRow>
}

const order = (a: ListRow, b: ListRow): number =>
  (a.role === "master" ? 0 : 1) - (b.role === "master" ? 0 : 1) || compareEndpoints(a.endpoint, b.endpoint)

const priorityText = (p: ListRow["priority"]): string =>
  Option.match(p, {
    onNone: () => "-",
    onSome: ({ current, configured }) =>
      Option.match(configured, { onNone: () => String(current), onSome: (c) => (c === current ? String(current) : `${current} (configured ${c})`) })
  })

export const renderList = (l: ClusterList): string => {
  const header = ["Node", "Address", "Role", "State", "Lag in B", "Priority", "Last check"]
  const rows = [...l.rows].sort(order).map((r) => [
    Option.getOrElse(r.node, () => "-"),
    formatEndpoint(r.endpoint),
    r.role,
    r.state,
    Option.match(r.lagBytes, { onNone: () => "-", onSome: String }),
    priorityText(r.priority),
    Option.getOrElse(r.lastCheck, () => "-")
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)))
  const line = (cells: ReadonlyArray<string>) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`
  const rule = `+${widths.map((w) => "-".repeat(w + 2)).join("+")}+`
  const title = `Cluster: ${l.serviceName} (${l.masterName})${l.paused ? " - maintenance mode: paused, no automatic failover" : ""}`
  const fenced = [...l.rows].sort(order).flatMap((r) =>
    Option.match(r.fenced, { onNone: () => [], onSome: (why) => [`${Option.getOrElse(r.node, () => formatEndpoint(r.endpoint))} refuses writes: ${why}`] }))
  return [title, rule, line(header), rule, ...rows.map(line), rule, ...fenced].join("\n") + "\n"
}

export const listJson = (l: ClusterList) => ({
  service: l.serviceName,
  masterName: l.masterName,
  paused: l.paused,
  nodes: [...l.rows].sort(order).map((r) => ({
    node: Option.getOrNull(r.node),
    address: formatEndpoint(r.endpoint),
    role: r.role,
    state: r.state,
    lagBytes: Option.getOrNull(r.lagBytes),
    priority: Option.getOrNull(Option.map(r.priority, (p) => p.current)),
    configuredPriority: Option.getOrNull(Option.flatMap(r.priority, (p) => p.configured)),
    lastCheck: Option.getOrNull(r.lastCheck),
    fenced: Option.getOrNull(r.fenced)
  }))
})
