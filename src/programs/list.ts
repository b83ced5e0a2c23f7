// `manage list [--json]`: the cluster as `patronictl list` shows PostgreSQL's, one row
// per node Consul lists, read from each node's agent (`/status`, from memory, so the
// whole command costs one round of small HTTP calls) and, where an agent does not
// answer, from its Redis directly. Exit 1 when no node could be read at all.
import { Console, Effect, Option, Schema } from "effect"
import { type AgentReport } from "../domain/AgentReport.ts"
import { type ClusterList, listJson, type ListRow, renderList } from "../domain/ClusterList.ts"
import { consulNames } from "../domain/ConsulNames.ts"
import { fencedMinReplicas } from "../domain/Fence.ts"
import { type Endpoint, formatEndpoint, uniqueEndpoints } from "../domain/Endpoint.ts"
import { Consul, endpointOf } from "../layers/Consul.ts"
import { Redis } from "../layers/Redis.ts"
import { Settings } from "../layers/Settings.ts"
import { askAgents } from "./agentReports.ts"
import { nodeOf, registeredRedis } from "./registered.ts"

export class NothingListed extends Schema.TaggedError<NothingListed>()("NothingListed", { reason: Schema.String }) {
  override get message(): string {
    return `list: ${this.reason}`
  }
}

/** A row from a node's own report; its lag comes from the master's report, which knows its replicas' offsets. */
const fromReport = (r: AgentReport, node: Option.Option<string>, at: Endpoint, lags: ReadonlyMap<string, number>): ListRow => ({
  node: Option.orElse(node, () => Option.some(r.node)),
  endpoint: at,
  role: r.role === "master" ? "master" : r.role === "replica" ? "replica" : "unknown",
  state: r.fence?.fenced === true
    ? "fenced"
    : r.role === "master" ? "running" : r.role === "replica" ? (r.link === "connected" ? "streaming" : `link ${r.link ?? "unknown"}`) : "Redis not answering",
  lagBytes: r.role === "master" ? Option.some(0) : Option.fromUndefinedOr(lags.get(formatEndpoint(at))),
  priority: Option.flatMap(Option.fromUndefinedOr(r.priority), (p) =>
    p.current === null ? Option.none() : Option.some({ current: p.current, configured: Option.some(p.configured) })),
  lastCheck: Option.fromNullishOr(r.agent.lastCycleAt),
  fenced: r.fence?.fenced === true ? Option.some(r.fence.reason) : Option.none()
})

/** A row from asking Redis itself, for a node whose agent did not answer. */
const direct = (at: Endpoint, node: Option.Option<string>, lags: ReadonlyMap<string, number>) =>
  Effect.gen(function*() {
    const redis = yield* Redis
    const [role, priority, minReplicas] = yield* Effect.all([
      redis.role(at).pipe(Effect.option),
      redis.replicaPriority(at).pipe(Effect.option),
      redis.minReplicasToWrite(at).pipe(Effect.option)
    ], { concurrency: 3 })
    const r = Option.getOrUndefined(role)
    const fenced = r?._tag === "Master" && Option.exists(minReplicas, (n) => n >= fencedMinReplicas)
    const row: ListRow = {
      node,
      endpoint: at,
      role: r?._tag === "Master" ? "master" : r?._tag === "Replica" ? "replica" : "unknown",
      state: `${r === undefined ? "Redis not answering" : r._tag === "Replica" ? (r.state === "connected" ? "streaming" : `link ${r.state}`) : fenced ? "fenced" : "running"}, agent not answering`,
      lagBytes: r?._tag === "Master" ? Option.some(0) : Option.fromUndefinedOr(lags.get(formatEndpoint(at))),
      priority: Option.map(priority, (current) => ({ current, configured: Option.none() })),
      lastCheck: Option.none(),
      fenced: fenced ? Option.some("min-replicas-to-write is set to fence it (its agent did not answer to say why)") : Option.none()
    }
    return { row, role }
  })

export const list = (json: boolean) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const consul = yield* Consul
    const names = consulNames(settings.serviceName)
    const [registered, paused] = yield* Effect.all([registeredRedis, consul.get(names.paused).pipe(Effect.map(Option.isSome))], { concurrency: 2 })
    const nodes = uniqueEndpoints(registered.map(endpointOf))
    const answers = yield* askAgents(nodes)
    const lags = new Map<string, number>()
    for (const a of answers) {
      for (const r of Option.match(a.report, { onNone: () => [], onSome: (x) => (x.role === "master" ? x.replicas : []) })) lags.set(r.redis, r.lagBytes)
    }
    const fallback = yield* Effect.forEach(answers.filter((a) => Option.isNone(a.report)), (a) => direct(a.redis, nodeOf(registered, a.redis), lags), {
      concurrency: "unbounded"
    })
    // A master read directly tells its replicas' lag too.
    for (const f of fallback) {
      const role = Option.getOrUndefined(f.role)
      if (role?._tag === "Master") for (const r of role.replicas) lags.set(formatEndpoint(r.endpoint), Math.max(0, role.offset - r.offset))
    }
    const rows: ReadonlyArray<ListRow> = answers.map((a) =>
      Option.match(a.report, {
        onSome: (r) => fromReport(r, nodeOf(registered, a.redis), a.redis, lags),
        onNone: () => {
          const row = fallback.find((f) => f.row.endpoint === a.redis)?.row
          return row === undefined ? row : { ...row, lagBytes: Option.orElse(row.lagBytes, () => Option.fromUndefinedOr(lags.get(formatEndpoint(a.redis)))) }
        }
      })
    ).filter((r): r is ListRow => r !== undefined)
    const snapshot: ClusterList = { serviceName: settings.serviceName, masterName: settings.masterName, paused, rows }
    yield* Console.log(json ? JSON.stringify(listJson(snapshot), null, 2) : renderList(snapshot).trimEnd())
    if (rows.length === 0) return yield* new NothingListed({ reason: "no Redis node is registered in Consul" })
    if (rows.every((r) => r.role === "unknown")) return yield* new NothingListed({ reason: "no registered node answered" })
  })
