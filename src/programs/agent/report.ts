// The agent's state as the API shows it: the `/status` report, the one-line answers
// of `/master`, `/replica`, `/sentinel` and `/health`, and the Prometheus metrics.
// Reads only; nothing here triggers work.
import { DateTime, Duration, Effect, Metric, Option } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { type AgentReport } from "../../domain/AgentReport.ts"
import { formatEndpoint } from "../../domain/Endpoint.ts"
import { minReplicasOf } from "../../domain/Fence.ts"
import { asOf, type CheckName, checkNames, type CheckState, holdsOf, sentinelsSay } from "../../domain/Health.ts"
import { type Settings } from "../../domain/Settings.ts"
import { type Timings } from "../../domain/Timings.ts"
import { type AgentState } from "./AgentState.ts"

const iso = (millis: number): string => DateTime.formatIso(DateTime.makeUnsafe(millis))

/**
 * The verdicts as of `now`: a pass not confirmed within its hold has lapsed, also
 * when the loop that would have noticed was held up or the whole agent was frozen.
 */
export const currentVerdicts = (settings: Settings, s: AgentState, now: number): Option.Option<Readonly<Record<CheckName, CheckState>>> => {
  const holds = holdsOf(Duration.toMillis(settings.health.interval), Option.map(settings.redis.fenceAfter, Duration.toMillis))
  return Option.map(s.verdicts, (v) => ({
    master: asOf(v.master, now, holds.master, `not confirmed by the sentinels for ${Duration.format(Duration.millis(holds.master))}: ${v.master.reason}`),
    replica: asOf(v.replica, now, holds.replica, `not confirmed for ${Duration.format(Duration.millis(holds.replica))}: ${v.replica.reason}`),
    sentinel: asOf(v.sentinel, now, holds.sentinel, `not confirmed for ${Duration.format(Duration.millis(holds.sentinel))}: ${v.sentinel.reason}`)
  }))
}

export const report = (settings: Settings, s: AgentState, now: number): AgentReport => {
  const observation = Option.getOrUndefined(s.observation)
  const role = observation?.role._tag === "Seen" ? observation.role.value : undefined
  const say = observation === undefined ? undefined : sentinelsSay(observation.sentinels)
  const verdicts = Option.getOrUndefined(currentVerdicts(settings, s, now))
  const fence = Option.getOrUndefined(s.fence.decision)
  return {
    node: settings.node.name,
    redis: `${settings.node.address}:${settings.redis.port}`,
    role: role === undefined ? "unknown" : role._tag === "Master" ? "master" : role._tag === "Replica" ? "replica" : "sentinel",
    following: role?._tag === "Replica" ? formatEndpoint(role.master) : null,
    link: role?._tag === "Replica" ? role.state : null,
    offset: role === undefined || role._tag === "Sentinel" ? null : role.offset,
    replicas: role?._tag === "Master"
      ? role.replicas.map((r) => ({ redis: formatEndpoint(r.endpoint), offset: r.offset, lagBytes: Math.max(0, role.offset - r.offset) }))
      : [],
    priority: { configured: settings.redis.replicaPriority, current: Option.getOrNull(s.priority.current) },
    sentinels: {
      known: observation?.sentinels.known ?? 0,
      answered: observation?.sentinels.answers.length ?? 0,
      master: say?._tag === "Named" ? formatEndpoint(say.master) : null,
      votes: say?._tag === "Named" ? say.votes : 0
    },
    verdicts: verdicts === undefined ? null : {
      master: { pass: verdicts.master.pass, reason: verdicts.master.reason, since: iso(verdicts.master.since) },
      replica: { pass: verdicts.replica.pass, reason: verdicts.replica.reason, since: iso(verdicts.replica.since) },
      sentinel: { pass: verdicts.sentinel.pass, reason: verdicts.sentinel.reason, since: iso(verdicts.sentinel.since) }
    },
    consul: {
      lastSync: Option.match(s.consul.lastSync, { onNone: () => null, onSome: (l) => iso(l.at) }),
      problem: Option.match(s.consul.lastSync, { onNone: () => null, onSome: (l) => Option.getOrNull(l.problem) }),
      paused: s.consul.paused
    },
    failovers: {
      seen: s.failovers.seen,
      last: Option.match(s.failovers.last, { onNone: () => null, onSome: (l) => ({ from: formatEndpoint(l.from), to: formatEndpoint(l.to), at: iso(l.at) }) })
    },
    lastBackup: Option.getOrNull(s.consul.lastBackup),
    fence: fence === undefined ? null : {
      fenced: fence.fence._tag === "Fenced",
      reason: fence.fence.reason,
      since: iso(fence.since),
      minReplicasToWrite: minReplicasOf(fence.fence),
      applied: Option.getOrNull(s.fence.applied)
    },
    agent: { startedAt: iso(s.startedAt), cycles: s.cycles, lastCycleAt: Option.match(s.lastCycle, { onNone: () => null, onSome: (c) => iso(c.at) }) }
  }
}

/** `/master`, `/replica`, `/sentinel`: pass or fail as of `now`, with the reason in one line. */
export const verdictLine = (settings: Settings, s: AgentState, check: CheckName, now: number): { readonly pass: boolean; readonly line: string } =>
  Option.match(currentVerdicts(settings, s, now), {
    onNone: () => ({ pass: false, line: "fail: the agent has not observed this node yet" }),
    onSome: (v) => ({ pass: v[check].pass, line: `${v[check].pass ? "pass" : "fail"}: ${v[check].reason}` })
  })

/** The observation loop made progress recently enough to be trusted. */
export const loopAlive = (s: AgentState, timings: Timings, now: number): boolean =>
  now - Option.match(s.lastCycle, { onNone: () => s.startedAt, onSome: (c) => c.at }) <=
    Duration.toMillis(Duration.sum(Duration.times(timings.observeEvery, 3), timings.observation))

/** `/health`: the agent runs and reaches Redis, its Sentinel and Consul. */
export const healthLine = (s: AgentState, timings: Timings, now: number): { readonly pass: boolean; readonly line: string } => {
  if (!loopAlive(s, timings, now)) return { pass: false, line: "fail: the observation loop has stalled" }
  const problems = [
    ...Option.match(s.observation, {
      onNone: () => ["not observed yet"],
      onSome: (o) => [
        ...(o.role._tag === "Unseen" ? [`Redis: ${o.role.reason}`] : []),
        ...(o.localSentinel._tag === "Unseen" ? [`Sentinel: ${o.localSentinel.reason}`] : [])
      ]
    }),
    ...Option.match(s.consul.lastSync, {
      onNone: () => ["Consul: not synced yet"],
      onSome: (l) => Option.match(l.problem, { onNone: () => [], onSome: (p) => [`Consul: ${p}`] })
    })
  ]
  return problems.length === 0
    ? { pass: true, line: `ok: ${s.cycles} observations, Redis, Sentinel and Consul answer` }
    : { pass: false, line: `fail: ${problems.join("; ")}` }
}

const gauge = (name: string, description: string) => Metric.gauge(`autopilot_redis_${name}`, { description })

const gauges = {
  master: gauge("is_master", "1 when this node's Redis answers ROLE master"),
  replicas: gauge("connected_replicas", "Replicas connected to this node's Redis, when it is master"),
  offset: gauge("replication_offset", "This node's replication offset"),
  lag: gauge("replica_lag_bytes", "On a master: bytes each connected replica is behind"),
  link: gauge("master_link_up", "On a replica: 1 while its link to the master is up"),
  check: gauge("check_passing", "1 while the check passes (master, replica, sentinel)"),
  paused: gauge("paused", "1 while the cluster is paused (service/<name>/paused)"),
  priority: gauge("replica_priority", "The replica-priority this node's Redis runs with (0: never promoted; 0 on every node while paused)"),
  failovers: gauge("failovers_seen", "Failovers (+switch-master) seen since the agent started"),
  fenced: gauge("fenced", "1 while this node's Redis refuses writes because its agent cannot confirm it as the master (FENCE_AFTER)"),
  backupAge: gauge("last_backup_age_seconds", "Age of the newest verified backup recorded in Consul"),
  backupBytes: gauge("last_backup_bytes", "Size of the newest verified backup recorded in Consul")
}

/** `/metrics`: the gauges set from the state at scrape time, with the call metrics the layers keep. */
export const metricsText = (settings: Settings, s: AgentState, now: number): Effect.Effect<string> =>
  Effect.gen(function*() {
    const set = (m: Metric.Gauge<number>, value: number, attributes: Metric.Metric.Attributes = {}) =>
      Metric.update(Metric.withAttributes(m, attributes), value)
    const observation = Option.getOrUndefined(s.observation)
    const role = observation?.role._tag === "Seen" ? observation.role.value : undefined
    yield* set(gauges.master, role?._tag === "Master" ? 1 : 0)
    yield* set(gauges.replicas, role?._tag === "Master" ? role.replicas.length : 0)
    if (role !== undefined && role._tag !== "Sentinel") yield* set(gauges.offset, role.offset)
    if (role?._tag === "Master") {
      for (const r of role.replicas) yield* set(gauges.lag, Math.max(0, role.offset - r.offset), { replica: formatEndpoint(r.endpoint) })
    }
    yield* set(gauges.link, role?._tag === "Replica" && role.state === "connected" ? 1 : 0)
    const verdicts = currentVerdicts(settings, s, now)
    for (const check of checkNames) {
      yield* set(gauges.check, Option.exists(verdicts, (v) => v[check].pass) ? 1 : 0, { check })
    }
    yield* set(gauges.fenced, Option.exists(s.fence.decision, (d) => d.fence._tag === "Fenced") ? 1 : 0)
    yield* set(gauges.paused, s.consul.paused ? 1 : 0)
    if (Option.isSome(s.priority.current)) yield* set(gauges.priority, s.priority.current.value)
    yield* set(gauges.failovers, s.failovers.seen)
    if (Option.isSome(s.consul.lastBackup)) {
      const taken = Date.parse(s.consul.lastBackup.value.createdAt)
      yield* set(gauges.backupAge, Math.max(0, Math.round((now - taken) / 1000)))
      yield* set(gauges.backupBytes, s.consul.lastBackup.value.bytes)
    }
    return yield* PrometheusMetrics.format()
  })
