// `manage status [--json]`: the cluster as the operator sees it. Reads everything once,
// tolerates any part being down (shown as a problem), prints to stdout, and exits 1
// when what it printed is not a view of the cluster (ClusterStatus.unseen).
import { Console, Effect, Option, Schema } from "effect"
import { type NodeStatus, notAnswering, type Registration, renderStatus, type SentinelStatus, statusJson, unseen } from "../domain/ClusterStatus.ts"
import { consulNames } from "../domain/ConsulNames.ts"
import { type Endpoint, formatEndpoint, sameEndpoint, uniqueEndpoints } from "../domain/Endpoint.ts"
import { sentinelMajority } from "../domain/RoleDecision.ts"
import { Consul, endpointOf, type ServiceInstance } from "../layers/Consul.ts"
import { Redis } from "../layers/Redis.ts"
import { Settings } from "../layers/Settings.ts"
import { askSentinels } from "./askSentinels.ts"
import { recordedBackup } from "./lastBackup.ts"

export class ClusterUnseen extends Schema.TaggedError<ClusterUnseen>()("ClusterUnseen", { reason: Schema.String }) {
  override get message(): string {
    return `status: could not see the cluster: ${this.reason}`
  }
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
    const [masters, replicas, sentinels] = yield* Effect.all([listed(names.masterService), listed(names.replicaService), listed(names.sentinelService)], { concurrency: 3 })

    const reports = yield* askSentinels(sentinels, { withReplicas: false })
    const sentinelMaster = sentinelMajority(reports.filter((r) => r.instance.passing).map((r) => r.master))

    // Registered nodes, plus replicas a master reports that are not (yet) passing anywhere.
    const registered = uniqueEndpoints([...masters, ...replicas].map(endpointOf))
    const registeredRoles = yield* Effect.forEach(registered, (at) => redis.role(at).pipe(Effect.option), { concurrency: "unbounded" })
    const reportedReplicas = uniqueEndpoints(
      registeredRoles.flatMap((r) => (Option.isSome(r) && r.value._tag === "Master" ? r.value.replicas.map((x) => x.endpoint) : []))
    ).filter((e) => !registered.some((x) => sameEndpoint(x, e)))
    const reportedRoles = yield* Effect.forEach(reportedReplicas, (at) => redis.role(at).pipe(Effect.option), { concurrency: "unbounded" })
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
      return { endpoint: at, consul: { master: registration(masters, at), replica: registration(replicas, at) }, role: described, lag }
    })
    const sentinelRows: ReadonlyArray<SentinelStatus> = reports.map((r) => ({
      endpoint: endpointOf(r.instance),
      consul: registration(sentinels, endpointOf(r.instance)),
      reports: r.answered ? Option.match(r.master, { onNone: () => `does not know ${settings.masterName}`, onSome: formatEndpoint }) : "not answering"
    }))
    const backup = yield* recordedBackup.pipe(Effect.catch((e) => Effect.sync(() => problems.push(e.message)).pipe(Effect.as(Option.none()))))

    const snapshot = { masterName: settings.masterName, sentinelMaster, nodes, sentinels: sentinelRows, lastBackup: backup, problems }
    yield* Console.log(json ? JSON.stringify(statusJson(snapshot), null, 2) : renderStatus(snapshot))
    const blind = unseen(snapshot)
    if (Option.isSome(blind)) return yield* new ClusterUnseen({ reason: blind.value })
  })
