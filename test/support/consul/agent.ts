// The local agent: services and checks registered over /v1/agent, TTL timers, the
// anti-entropy sync to the catalog (status changes at once, output-only changes
// deferred by check_update_interval), maintenance mode and the critical-service
// reaper. Mirrors agent/agent.go, agent/local/state.go and agent/checks/check.go.
import type { Clock, Timer } from "./clock.ts"
import { type Catalog, type CheckDef, isStatus, renderCheckDef, type ServiceDef, type Status } from "./catalog.ts"
import { type CheckSpec, checkRegistration, DEFAULT_OUTPUT_MAX_SIZE, serviceRegistration } from "./definitions.ts"
import { ApiError, formatGoDuration, type JsonObject } from "./go.ts"
import type { Raft, Tx } from "./raft.ts"

/** check_update_interval: an output-only change reaches the catalog within [interval/2, 3·interval/2). */
const CHECK_UPDATE_INTERVAL_MS = 5 * 60_000
/** Consul's check_reap_interval and the floor it puts under DeregisterCriticalServiceAfter. */
const REAP_INTERVAL_MS = 30_000
const DEREGISTER_MIN_MS = 60_000
const SERVICE_MAINT_REASON = "Maintenance mode is enabled for this service, but no reason was provided. This is a default message."
const NODE_MAINT_REASON = "Maintenance mode is enabled for this node, but no reason was provided. This is a default message."
const NODE_MAINT_CHECK = "_node_maintenance"

interface AgentCheck {
  def: CheckDef
  /** The output the catalog has (differs from def.output while an output-only change is deferred). */
  syncedOutput: string
  readonly ttlMs: number | undefined
  readonly outputMaxSize: number
  readonly reapAfterMs: number | undefined
  lastOutput: string
  criticalSince: number | undefined
  ttlTimer: Timer | undefined
  deferTimer: Timer | undefined
}

const truncateOutput = (output: string, max: number): string => {
  const bytes = Buffer.from(output, "utf8")
  return bytes.length > max ? `${bytes.subarray(0, max).toString("utf8")} ... (captured ${max} of ${bytes.length} bytes)` : output
}

const expiredOutput = (last: string): string => (last === "" ? "TTL expired" : `TTL expired (last output before timeout follows): ${last}`)

export interface ServiceView {
  readonly id: string
  readonly name: string
  readonly address: string
  readonly port: number
  readonly checks: ReadonlyArray<{ readonly checkId: string; readonly status: Status; readonly output: string }>
}

export class Agent {
  private readonly raft: Raft
  private readonly clock: Clock
  private readonly catalog: Catalog
  private readonly services = new Map<string, ServiceDef>()
  private readonly checks = new Map<string, AgentCheck>()
  private reaper: Timer | undefined

  constructor(raft: Raft, clock: Clock, catalog: Catalog) {
    this.raft = raft
    this.clock = clock
    this.catalog = catalog
    this.scheduleReap()
  }

  private get node(): string {
    return this.catalog.node.name
  }

  // --- reads ---

  view(): ReadonlyArray<ServiceView> {
    return [...this.services.values()].map((s) => ({
      id: s.id,
      name: s.name,
      address: s.address,
      port: s.port,
      checks: [...this.checks.values()]
        .filter((c) => c.def.serviceId === s.id)
        .map((c) => ({ checkId: c.def.checkId, status: c.def.status, output: c.def.output }))
    }))
  }

  renderServices(): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    for (const s of [...this.services.values()].sort((a, b) => (a.id < b.id ? -1 : 1))) out[s.id] = this.renderService(s)
    return out
  }

  renderService(s: ServiceDef): Record<string, unknown> {
    return {
      ...(s.kind !== "" ? { Kind: s.kind } : {}),
      ID: s.id,
      Service: s.name,
      Tags: [...s.tags],
      Meta: s.meta,
      Port: s.port,
      Address: s.address,
      ...(Object.keys(s.taggedAddresses).length > 0 ? { TaggedAddresses: s.taggedAddresses } : {}),
      Weights: s.weights,
      EnableTagOverride: s.enableTagOverride,
      Datacenter: "dc1"
    }
  }

  service(id: string): ServiceDef | undefined {
    return this.services.get(id)
  }

  renderChecks(): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    for (const c of [...this.checks.values()].sort((a, b) => (a.def.checkId < b.def.checkId ? -1 : 1))) {
      out[c.def.checkId] = { ...renderCheckDef(this.node, c.def), CreateIndex: 0, ModifyIndex: 0 }
    }
    return out
  }

  // --- sync to the catalog ---

  private synced(c: AgentCheck): CheckDef {
    return { ...c.def, output: c.syncedOutput }
  }

  private syncService(tx: Tx, id: string): void {
    const service = this.services.get(id)
    if (service === undefined) return
    this.catalog.upsertService(tx, service)
    for (const c of this.checks.values()) if (c.def.serviceId === id) this.catalog.upsertCheck(tx, this.synced(c))
  }

  private syncCheck(c: AgentCheck): void {
    const tx = this.raft.begin()
    this.catalog.upsertCheck(tx, this.synced(c))
    tx.commit()
  }

  // --- check state (local.State.UpdateCheck) ---

  private setStatus(c: AgentCheck, status: Status, output: string): void {
    if (status === "critical") c.criticalSince ??= this.clock.now()
    else c.criticalSince = undefined
    if (c.def.status === status && c.def.output === output) return
    if (c.def.status === status) {
      c.def = { ...c.def, output }
      c.deferTimer ??= this.clock.after(CHECK_UPDATE_INTERVAL_MS / 2 + Math.random() * CHECK_UPDATE_INTERVAL_MS, () => {
        c.deferTimer = undefined
        if (this.checks.get(c.def.checkId) !== c) return
        c.syncedOutput = c.def.output
        this.syncCheck(c)
      })
      return
    }
    c.def = { ...c.def, status, output }
    c.syncedOutput = output
    this.syncCheck(c)
  }

  private armTtl(c: AgentCheck): void {
    c.ttlTimer?.cancel()
    c.ttlTimer = undefined
    if (c.ttlMs === undefined) return
    c.ttlTimer = this.clock.after(c.ttlMs, () => {
      c.ttlTimer = undefined
      if (this.checks.get(c.def.checkId) === c) this.setStatus(c, "critical", expiredOutput(c.lastOutput))
    })
  }

  private stop(c: AgentCheck): void {
    c.ttlTimer?.cancel()
    c.deferTimer?.cancel()
    c.ttlTimer = undefined
    c.deferTimer = undefined
  }

  private addCheck(def: CheckDef, spec: CheckSpec | undefined, criticalSince: number | undefined): AgentCheck {
    const previous = this.checks.get(def.checkId)
    if (previous !== undefined) this.stop(previous)
    const check: AgentCheck = {
      def,
      syncedOutput: def.output,
      ttlMs: spec !== undefined && spec.type === "ttl" ? spec.ttlNs / 1e6 : undefined,
      outputMaxSize: spec?.outputMaxSize ?? DEFAULT_OUTPUT_MAX_SIZE,
      reapAfterMs: spec !== undefined && spec.reapAfterNs > 0 ? Math.max(DEREGISTER_MIN_MS, spec.reapAfterNs / 1e6) : undefined,
      lastOutput: "",
      criticalSince: def.status === "critical" ? criticalSince ?? this.clock.now() : undefined,
      ttlTimer: undefined,
      deferTimer: undefined
    }
    this.checks.set(def.checkId, check)
    this.armTtl(check)
    return check
  }

  private knownCheck(id: string): AgentCheck {
    const c = this.checks.get(id)
    if (c === undefined) {
      throw new ApiError(404, `Unknown check ID ${JSON.stringify(id)}. Ensure that the check ID is passed, not the check name.`)
    }
    return c
  }

  private knownService(id: string): ServiceDef {
    const s = this.services.get(id)
    if (s === undefined) {
      throw new ApiError(404, `Unknown service ID ${JSON.stringify(id)}. Ensure that the service ID is passed, not the service name.`)
    }
    return s
  }

  // --- endpoints ---

  /** PUT /v1/agent/service/register */
  registerService(body: JsonObject, replaceExistingChecks: boolean): void {
    const { service, specs } = serviceRegistration(body)

    // Re-registering keeps the status and output of checks that already exist.
    const snapshot = new Map([...this.checks].map(([cid, c]) => [cid, { status: c.def.status, output: c.def.output, since: c.criticalSince }]))
    this.services.set(service.id, service)
    const kept = new Set<string>()
    specs.forEach((spec, i) => {
      const checkId = spec.checkId !== "" ? spec.checkId : specs.length > 1 ? `service:${service.id}:${i + 1}` : `service:${service.id}`
      const prev = snapshot.get(checkId)
      const status: Status = prev?.status ?? (isStatus(spec.status) ? spec.status : "critical")
      kept.add(checkId)
      this.addCheck({
        checkId,
        name: spec.name !== "" ? spec.name : `Service '${service.name}' check`,
        status,
        notes: spec.notes,
        output: prev?.output ?? "",
        serviceId: service.id,
        serviceName: service.name,
        serviceTags: service.tags,
        type: spec.type,
        interval: spec.intervalNs > 0 ? formatGoDuration(spec.intervalNs) : "",
        timeout: spec.timeoutNs > 0 ? formatGoDuration(spec.timeoutNs) : ""
      }, spec, prev?.since)
    })
    const tx = this.raft.begin()
    for (const c of [...this.checks.values()]) {
      if (c.def.serviceId !== service.id || kept.has(c.def.checkId)) continue
      if (replaceExistingChecks) this.removeCheck(tx, c.def.checkId)
      else c.def = { ...c.def, serviceName: service.name, serviceTags: service.tags }
    }
    this.syncService(tx, service.id)
    tx.commit()
  }

  private removeCheck(tx: Tx, checkId: string): void {
    const c = this.checks.get(checkId)
    if (c === undefined) return
    this.stop(c)
    this.checks.delete(checkId)
    this.catalog.removeCheck(tx, checkId)
  }

  /** PUT /v1/agent/service/deregister/:id */
  deregisterService(id: string): void {
    this.knownService(id)
    const tx = this.raft.begin()
    for (const c of [...this.checks.values()]) if (c.def.serviceId === id) this.removeCheck(tx, c.def.checkId)
    this.services.delete(id)
    this.catalog.removeService(tx, id)
    tx.commit()
  }

  /** PUT /v1/agent/check/register */
  registerCheck(body: JsonObject): void {
    const { name, status, spec, serviceId } = checkRegistration(body)
    const service = serviceId === "" ? undefined : this.services.get(serviceId)
    if (serviceId !== "" && service === undefined) throw new ApiError(404, `ServiceID ${JSON.stringify(serviceId)} does not exist`)
    const checkId = spec.checkId !== "" ? spec.checkId : name
    const check = this.addCheck({
      checkId,
      name,
      status,
      notes: spec.notes,
      output: "",
      serviceId,
      serviceName: service?.name ?? "",
      serviceTags: service?.tags ?? [],
      type: spec.type,
      interval: spec.intervalNs > 0 ? formatGoDuration(spec.intervalNs) : "",
      timeout: spec.timeoutNs > 0 ? formatGoDuration(spec.timeoutNs) : ""
    }, spec, undefined)
    this.syncCheck(check)
  }

  /** PUT /v1/agent/check/deregister/:id */
  deregisterCheck(id: string): void {
    this.knownCheck(id)
    const tx = this.raft.begin()
    this.removeCheck(tx, id)
    tx.commit()
  }

  /** PUT /v1/agent/check/{pass,warn,fail,update}/:id */
  updateTtl(id: string, status: Status, output: string): void {
    const c = this.knownCheck(id)
    if (c.ttlMs === undefined) throw new ApiError(500, `CheckID ${JSON.stringify(id)} does not have associated TTL`)
    const capped = truncateOutput(output, c.outputMaxSize)
    this.setStatus(c, status, capped)
    c.lastOutput = capped
    this.armTtl(c)
  }

  /** PUT /v1/agent/service/maintenance/:id */
  serviceMaintenance(id: string, enable: boolean, reason: string): void {
    const service = this.knownService(id)
    const checkId = `_service_maintenance:${id}`
    if (!enable) return this.deregisterIfPresent(checkId)
    if (this.checks.has(checkId)) return
    this.syncCheck(this.addCheck({
      checkId,
      name: "Service Maintenance Mode",
      status: "critical",
      notes: reason !== "" ? reason : SERVICE_MAINT_REASON,
      output: "",
      serviceId: service.id,
      serviceName: service.name,
      serviceTags: service.tags,
      type: "maintenance",
      interval: "",
      timeout: ""
    }, undefined, undefined))
  }

  /** PUT /v1/agent/maintenance */
  nodeMaintenance(enable: boolean, reason: string): void {
    if (!enable) return this.deregisterIfPresent(NODE_MAINT_CHECK)
    if (this.checks.has(NODE_MAINT_CHECK)) return
    this.syncCheck(this.addCheck({
      checkId: NODE_MAINT_CHECK,
      name: "Node Maintenance Mode",
      status: "critical",
      notes: reason !== "" ? reason : NODE_MAINT_REASON,
      output: "",
      serviceId: "",
      serviceName: "",
      serviceTags: [],
      type: "maintenance",
      interval: "",
      timeout: ""
    }, undefined, undefined))
  }

  private deregisterIfPresent(checkId: string): void {
    const tx = this.raft.begin()
    this.removeCheck(tx, checkId)
    tx.commit()
  }

  // --- DeregisterCriticalServiceAfter ---

  private scheduleReap(): void {
    this.reaper = this.clock.after(REAP_INTERVAL_MS, () => {
      this.reap()
      this.scheduleReap()
    })
  }

  private reap(): void {
    const now = this.clock.now()
    const doomed = new Set<string>()
    for (const c of this.checks.values()) {
      if (c.def.serviceId === "" || c.reapAfterMs === undefined || c.criticalSince === undefined) continue
      if (now - c.criticalSince > c.reapAfterMs) doomed.add(c.def.serviceId)
    }
    for (const id of doomed) if (this.services.has(id)) this.deregisterService(id)
  }

  stopTimers(): void {
    this.reaper?.cancel()
    for (const c of this.checks.values()) this.stop(c)
  }
}
