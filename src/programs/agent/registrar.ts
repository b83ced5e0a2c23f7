// The agent's Consul side: make Consul show this node's verdicts (pass or fail its
// checks through the agent API, re-register what Consul lost, fail another node's
// stale master check once this node is the master), care for the bootstrap lock a
// founding pre-start left, and, at rest, refresh what the other loops read from
// Consul (peer sentinels, the last backup). Runs when a verdict
// changes and every few seconds; a Consul that does not answer is logged once and
// retried on the next run, it never affects a verdict.
import { Clock, Effect, FileSystem, Option, Ref, Schema } from "effect"
import { ManifestFromJson } from "../../domain/Backup.ts"
import { consulNames } from "../../domain/ConsulNames.ts"
import { formatEndpoint, sameEndpoint } from "../../domain/Endpoint.ts"
import { bootstrapLockCare, type CheckName, masterFinding } from "../../domain/Health.ts"
import { bootstrapSessionFile } from "../../domain/RedisConf.ts"
import { decideRegistry, type OwnService, ownServices } from "../../domain/Registry.ts"
import { selfRedis, selfSentinel, type Settings as SettingsData } from "../../domain/Settings.ts"
import { type AgentCheck, Consul, endpointOf, type ServiceInstance } from "../../layers/Consul.ts"
import { Settings } from "../../layers/Settings.ts"
import { recordThisMaster } from "../clusterRecord.ts"
import { readOptional, removeIfPresent } from "../files.ts"
import { observeNode } from "../observeNode.ts"
import { type AgentState, peersOf } from "./AgentState.ts"
import { currentVerdicts } from "./report.ts"

export const ownServicesOf = (settings: SettingsData): Readonly<Record<CheckName, OwnService>> => {
  const names = consulNames(settings.serviceName)
  return ownServices({
    masterService: names.masterService,
    replicaService: names.replicaService,
    sentinelService: names.sentinelService,
    hostname: settings.node.name,
    redisPort: settings.redis.port,
    sentinelPort: settings.sentinel.port
  })
}

/** Pass, fail and re-register this node's checks; fail a stale master elsewhere. */
const syncChecks = (state: Ref.Ref<AgentState>, masters: ReadonlyArray<ServiceInstance>, checks: ReadonlyArray<AgentCheck>) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const consul = yield* Consul
    const own = ownServicesOf(settings)
    const self = selfRedis(settings)
    const s = yield* Ref.get(state)
    const verdicts = currentVerdicts(settings, s, yield* Clock.currentTimeMillis)
    if (Option.isNone(verdicts)) return
    const agentChecks = new Map(checks.map((c) => [c.checkId, c.status] as const))
    const present = (Object.values(own) as ReadonlyArray<OwnService>).filter((o) => agentChecks.has(o.checkId)).map((o) => o.check)
    const otherPassingMasters = masters
      .filter((m) => m.passing && m.id !== own.master.serviceId && !sameEndpoint(endpointOf(m), self))
      .flatMap((m) => m.checks.filter((c) => c.checkId.startsWith("service:")).map((c) => ({ checkId: c.checkId, at: formatEndpoint(endpointOf(m)) })))
    const everRegistered = new Set([...s.consul.everRegistered, ...present])
    const actions = decideRegistry(own, { verdicts: verdicts.value, agentChecks, everRegistered, otherPassingMasters })

    // Failing another node rests on a verdict up to a second old: confirm it first, so
    // a master that has just been replaced never fails its successor. The old master's
    // sentinel is likely the silent one: it gets the short bound the observer gives it.
    const silentBefore = Option.match(s.observation, { onNone: () => [], onSome: (o) => o.sentinels.silent ?? [] })
    const confirmed = actions.some((a) => a._tag === "FailOther")
      ? masterFinding(yield* observeNode(peersOf(s), silentBefore))._tag === "Pass"
      : true
    for (const action of actions) {
      switch (action._tag) {
        case "FailOther": {
          if (!confirmed) break
          if (yield* consul.setCheck(action.checkId, "critical", action.reason)) {
            yield* Effect.log(`failed ${action.checkId} in Consul: ${action.reason}`)
            break
          }
          // Not on this node's agent: the other node talks to an agent of its own.
          const holder = masters.find((m) => m.checks.some((c) => c.checkId === action.checkId))
          if (holder === undefined) break
          // Refused (an ACL without the right, the node gone meanwhile) or unanswered:
          // this node's own checks come first, and gossip retires a dead node anyway.
          yield* consul.failInCatalog(holder, action.checkId, action.reason).pipe(
            Effect.flatMap(() => Effect.log(`failed ${action.checkId} in Consul's catalog (node ${holder.node}, whose own agent holds it): ${action.reason}`)),
            Effect.catchTag("ConsulError", (e) => Effect.logWarning(`could not fail ${action.checkId} in Consul's catalog: ${e.message}`))
          )
          break
        }
        case "Set": {
          const id = own[action.check].checkId
          if (yield* consul.setCheck(id, action.status, action.reason)) yield* Effect.log(`${id} set ${action.status} in Consul: ${action.reason}`)
          break
        }
        case "Register": {
          const o = own[action.check]
          yield* consul.register({ id: o.serviceId, name: o.service, address: self.host, port: o.port, ttl: settings.health.ttl, status: action.status })
          everRegistered.add(action.check)
          yield* Effect.log(`registered ${o.serviceId} (${action.status}), missing from Consul: ${action.reason}`)
          break
        }
      }
    }
    yield* Ref.update(state, (x) => ({ ...x, consul: { ...x.consul, everRegistered } }))
  })

/** Keep the founding session until Consul shows this node passing as master, then release it. */
const careForBootstrapLock = (state: Ref.Ref<AgentState>, masters: ReadonlyArray<ServiceInstance>) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const consul = yield* Consul
    const marker = bootstrapSessionFile(settings)
    const recorded = yield* readOptional(marker)
    const s = yield* Ref.get(state)
    if (Option.isNone(recorded) || Option.isNone(s.verdicts)) return
    const session = recorded.value.trim()
    const names = consulNames(settings.serviceName)
    const self = selfRedis(settings)
    const lock = yield* consul.get(names.masterLock)
    const care = bootstrapLockCare({
      verdict: s.verdicts.value.master,
      stillHeld: Option.exists(lock, (entry) => Option.contains(entry.session, session)),
      registeredPassing: masters.some((m) => m.passing && sameEndpoint(endpointOf(m), self)),
      self
    })
    switch (care._tag) {
      case "Renew":
        if (!(yield* consul.renewSession(session))) yield* removeIfPresent(marker)
        return
      case "Release":
        yield* consul.release(names.masterLock, Option.match(lock, { onNone: () => "", onSome: (e) => e.value ?? "" }), session)
        yield* consul.destroySession(session)
        yield* removeIfPresent(marker)
        return yield* Effect.log(care.reason)
      case "Forget":
        yield* removeIfPresent(marker)
        return yield* Effect.log(care.reason)
      case "LetLapse":
        return
    }
  })

/** What the other loops read from Consul, refreshed at rest. */
const refreshViews = (state: Ref.Ref<AgentState>) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const consul = yield* Consul
    const names = consulNames(settings.serviceName)
    const local = selfSentinel(settings)
    // The paused flag is read every second by the pause care (agent/pause.ts).
    const [registered, backup] = yield* Effect.all([
      consul.instances(names.sentinelService).pipe(Effect.map((list) => list.map(endpointOf))),
      consul.get(names.lastBackup).pipe(Effect.map((e) => Option.flatMap(e, (x) => Schema.decodeUnknownOption(ManifestFromJson)(x.value ?? ""))))
    ], { concurrency: "unbounded" })
    const fromConsul = registered.filter((p) => !sameEndpoint(p, local))
    yield* Ref.update(state, (s) => ({ ...s, peers: { ...s.peers, fromConsul }, consul: { ...s.consul, lastBackup: backup } }))
  })

/**
 * On the node whose master check passes, the cluster's record names it the last
 * master seen and says the cluster held data once its dataset has keys (DESIGN.md §5):
 * what a whole-cluster restart ranks data holders by. Writes only on a change.
 */
const recordLastMaster = (state: Ref.Ref<AgentState>) =>
  Effect.gen(function*() {
    if (!Option.exists((yield* Ref.get(state)).verdicts, (v) => v.master.pass)) return
    const written = yield* recordThisMaster
    if (Option.isSome(written)) yield* Effect.log(`cluster record: last master seen is this node${written.value.heldData ? ", and the cluster holds data" : ""}`)
  })

export const syncRegistry = (state: Ref.Ref<AgentState>) => (full: boolean) =>
  Effect.gen(function*() {
    const settings = yield* Settings
    const consul = yield* Consul
    const fs = yield* FileSystem.FileSystem
    const names = consulNames(settings.serviceName)
    const run = Effect.gen(function*() {
      const [masters, checks] = yield* Effect.all([consul.instances(names.masterService), consul.agentChecks], { concurrency: 2 })
      yield* syncChecks(state, masters, checks)
      yield* careForBootstrapLock(state, masters).pipe(Effect.provideService(FileSystem.FileSystem, fs))
      if (full) yield* refreshViews(state)
      if (full) yield* recordLastMaster(state)
    })
    const outcome = yield* Effect.result(run)
    const now = yield* Clock.currentTimeMillis
    const problem = outcome._tag === "Failure" ? Option.some(outcome.failure.message) : Option.none<string>()
    const before = yield* Ref.getAndUpdate(state, (s) => ({ ...s, consul: { ...s.consul, lastSync: Option.some({ at: now, problem }) } }))
    const hadProblem = Option.exists(before.consul.lastSync, (l) => Option.isSome(l.problem))
    if (Option.isSome(problem) && !hadProblem) yield* Effect.logWarning(`Consul: ${problem.value}; verdicts go on, Consul is updated once it answers`)
    if (Option.isNone(problem) && hadProblem) yield* Effect.log("Consul answers again")
  })
