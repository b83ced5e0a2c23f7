// `manage status [--json]`: the cluster as the operator sees it. Reads everything once,
// at the same time: each node from its agent's `/status` (from memory, so a healthy
// cluster answers in one round of small HTTP calls) and from its Redis directly where
// the agent does not answer. Tolerates any part being down (shown as a problem),
// prints to stdout, and exits 1 when what it printed is not a view of the cluster
// (ClusterStatus.unseen).
import { Console, Effect, Option, Schema } from "effect"
import { type AgentReport } from "../domain/AgentReport.ts"
import { type NodeStatus, notAnswering, type Registration, renderStatus, type SentinelStatus, statusJson, unseen } from "../domain/ClusterStatus.ts"
import { consulNames } from "../domain/ConsulNames.ts"
import { fencedMinReplicas } from "../domain/Fence.ts"
import { type Endpoint, formatEndpoint, parseEndpoint, sameEndpoint, uniqueEndpoints } from "../domain/Endpoint.ts"
import { type ReplicaLinkState, type RoleReply } from "../domain/RedisReplies.ts"
import { sentinelMajority } from "../domain/RoleDecision.ts"
import { Consul, endpointOf, type ServiceInstance } from "../layers/Consul.ts"
import { Redis } from "../layers/Redis.ts"
import { Settings } from "../layers/Settings.ts"
import { askAgents } from "./agentReports.ts"
import { askSentinels } from "./askSentinels.ts"
import { recordedBackup } from "./lastBackup.ts"

export class ClusterUnseen extends Schema.TaggedError<ClusterUnseen>()("ClusterUnseen", { reason: Schema.String }) {
  override get message(): string {
    return `status: could not see the cluster: ${this.reason}`
  }
}

const linkStates: ReadonlyArray<ReplicaLinkState> = ["connect", "connecting", "handshake", "sync", "connected"]

/** What ROLE would answer, from the node's agent report (up to one observation old). */
const roleFromReport = (r: AgentReport): Option.Option<RoleReply> => {
  if (r.offset === null) return Option.none()
  const offset = r.offset
  if (r.role === "master") {
    return Option.some({
      _tag: "Master",
      offset,
      replicas: r.replicas.flatMap((x) => {
        const endpoint = parseEndpoint(x.redis)
        return endpoint === undefined ? [] : [{ endpoint, offset: x.offset }]
      })
    })
  }
  const master = r.following === null ? undefined : parseEndpoint(r.following)
  if (r.role !== "replica" || master === undefined) return Option.none()
  return Option.some({ _tag: "Replica", master, state: linkStates.find((l) => l === r.link) ?? "unknown", offset })
}

const registration = (instances: ReadonlyArray<ServiceInstance>, at: Endpoint): Registration => {
  const found = instances.find((i) => sameEndpoint(endpointOf(i), at))
  if (found === undefined) return "absent"
  const statuses = found.checks.map((c) => c.status)
  return statuses.includes("critical") ? "critical" : statuses.includes("warning") ? "warning" : "passing"
}

export const status = (json: boolean) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const consul = yield* Consul
    const redis = yield* Redis
    const names = consulNames(settings.serviceName)
    const problems: Array<string> = []
    const listed = (service: string) =>
      consul.instances(service).pipe(
        Effect.catch((e) => Effect.sync(() => problems.push(e.message)).pipe(Effect.as<ReadonlyArray<ServiceInstance>>([])))
      )
    const [masters, replicas, sentinels, paused] = yield* Effect.all([
      listed(names.masterService),
      listed(names.replicaService),
      listed(names.sentinelService),
      consul.get(names.paused).pipe(Effect.map(Option.isSome), Effect.catch((e) => Effect.sync(() => problems.push(e.message)).pipe(Effect.as(false))))
    ], { concurrency: 4 })

    // Registered nodes, plus replicas a master reports that are not (yet) passing anywhere.
    const registered = uniqueEndpoints([...masters, ...replicas].map(endpointOf))
    const [reports, agents, backup] = yield* Effect.all([
      askSentinels(sentinels, { withReplicas: false }),
      askAgents(registered),
      recordedBackup.pipe(Effect.catch((e) => Effect.sync(() => problems.push(e.message)).pipe(Effect.as(Option.none()))))
    ], { concurrency: 3 })
    const sentinelMaster = sentinelMajority(reports.filter((r) => r.instance.passing).map((r) => r.master))
    const reportOf = (at: Endpoint) => Option.flatMap(Option.fromUndefinedOr(agents.find((a) => sameEndpoint(a.redis, at))), (a) => a.report)
    /** Role and priority from the agent where it answered, else from Redis itself. */
    const look = (at: Endpoint) =>
      Option.match(
        Option.map(reportOf(at), (r) => ({
          role: roleFromReport(r),
          priority: Option.fromNullishOr(r.priority?.current),
          fenced: r.fence?.fenced === true ? Option.some(r.fence.reason) : Option.none<string>()
        })),
        {
          onSome: (fromAgent) => Effect.succeed(fromAgent),
          onNone: () =>
            Effect.all({
              role: redis.role(at).pipe(Effect.option),
              priority: redis.replicaPriority(at).pipe(Effect.option),
              fenced: redis.minReplicasToWrite(at).pipe(
                Effect.option,
                Effect.map((n) =>
                  Option.exists(n, (x) => x >= fencedMinReplicas) ? Option.some("min-replicas-to-write is set to fence it (its agent did not answer to say why)") : Option.none<string>()
                )
              )
            }, { concurrency: 3 })
        }
      )
    const registeredLooks = yield* Effect.forEach(registered, look, { concurrency: "unbounded" })
    const registeredRoles = registeredLooks.map((l) => l.role)
    const reportedReplicas = uniqueEndpoints(
      registeredRoles.flatMap((r) => (Option.isSome(r) && r.value._tag === "Master" ? r.value.replicas.map((x) => x.endpoint) : []))
    ).filter((e) => !registered.some((x) => sameEndpoint(x, e)))
    const reportedLooks = yield* Effect.forEach(reportedReplicas, look, { concurrency: "unbounded" })
    const looks = [...registeredLooks, ...reportedLooks]
    const reportedRoles = reportedLooks.map((l) => l.role)
    const nodeEndpoints = [...registered, ...reportedReplicas]
    const roles = [...registeredRoles, ...reportedRoles]
    const masterOffset = (of: Endpoint) => {
      const i = nodeEndpoints.findIndex((e) => sameEndpoint(e, of))
      const r = roles[i]
      return r !== undefined && Option.isSome(r) && r.value._tag === "Master" ? Option.some(r.value.offset) : Option.none<number>()
    }
    const nodes: ReadonlyArray<NodeStatus> = nodeEndpoints.map((at, i) => {
      const role = roles[i] ?? Option.none()
      const described = Option.match(role, {
        onNone: () => notAnswering,
        onSome: (r) => (r._tag === "Master" ? "master" : r._tag === "Replica" ? `replica of ${formatEndpoint(r.master)} (${r.state})` : "sentinel?")
      })
      const lag = Option.flatMap(role, (r) => (r._tag === "Replica" ? Option.map(masterOffset(r.master), (m) => Math.max(0, m - r.offset)) : Option.none()))
      const priority = looks[i]?.priority ?? Option.none()
      const fenced = Option.isSome(role) && role.value._tag === "Master" ? (looks[i]?.fenced ?? Option.none()) : Option.none<string>()
      return { endpoint: at, consul: { master: registration(masters, at), replica: registration(replicas, at) }, role: described, lag, priority, fenced }
    })
    const sentinelRows: ReadonlyArray<SentinelStatus> = reports.map((r) => ({
      endpoint: endpointOf(r.instance),
      consul: registration(sentinels, endpointOf(r.instance)),
      reports: r.answered ? Option.match(r.master, { onNone: () => `does not know ${settings.masterName}`, onSome: formatEndpoint }) : "not answering"
    }))

    const snapshot = { masterName: settings.masterName, paused, sentinelMaster, nodes, sentinels: sentinelRows, lastBackup: backup, problems }
    yield* Console.log(json ? JSON.stringify(statusJson(snapshot), null, 2) : renderStatus(snapshot))
    const blind = unseen(snapshot)
    if (Option.isSome(blind)) return yield* new ClusterUnseen({ reason: blind.value })
  })
