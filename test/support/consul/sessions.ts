// Sessions as Consul's session endpoint and state store keep them: defaults,
// validation, TTL timers (invalidation after 2×TTL), invalidation on destroy or on a
// linked check going critical or away, and the Behavior applied to held keys.
import type { Clock, Timer } from "./clock.ts"
import {
  ApiError,
  decodeFailed,
  field,
  hasField,
  isJsonObject,
  type JsonObject,
  optArray,
  optString,
  optStringArray,
  parseGoDuration
} from "./go.ts"
import type { KvStore } from "./kv.ts"
import type { Raft } from "./raft.ts"

export interface ServiceCheckRef {
  readonly ID: string
  readonly Namespace: string
}

export interface Session {
  readonly id: string
  readonly name: string
  readonly node: string
  readonly lockDelayNs: number
  readonly behavior: "release" | "delete"
  readonly ttl: string
  readonly nodeChecks: ReadonlyArray<string> | null
  readonly serviceChecks: ReadonlyArray<ServiceCheckRef> | null
  /** The pre-1.7 field; omitted from JSON when empty. */
  readonly checks: ReadonlyArray<string> | null
  readonly createIndex: number
  readonly modifyIndex: number
}

export interface CheckLookup {
  /** The catalog status of a check on the node, undefined when it is not registered. */
  statusOf(node: string, checkId: string): string | undefined
  nodeExists(node: string): boolean
}

const SERF_HEALTH = "serfHealth"
const DEFAULT_LOCK_DELAY_NS = 15e9
const MAX_LOCK_DELAY_NS = 60e9
const TTL_MIN_NS = 10e9
const TTL_MAX_NS = 24 * 3600e9
/** The server invalidates a session only after this many TTLs without a renew. */
const TTL_MULTIPLIER = 2

/** Session.UnmarshalJSON: a duration string or a number of ns; values under 1000 mean seconds. */
const lockDelayOf = (body: JsonObject): number => {
  const raw = field(body, "LockDelay")
  if (raw === undefined || raw === null) return DEFAULT_LOCK_DELAY_NS
  let ns: number
  if (typeof raw === "string") {
    try {
      ns = parseGoDuration(raw)
    } catch (e) {
      throw decodeFailed(e instanceof Error ? e.message : String(e))
    }
  } else if (typeof raw === "number") {
    ns = Math.trunc(raw)
  } else {
    ns = 0
  }
  return ns < 1000 ? ns * 1e9 : ns
}

const serviceChecksOf = (body: JsonObject): ReadonlyArray<ServiceCheckRef> | undefined =>
  optArray(body, "ServiceChecks")?.map((item) => {
    if (!isJsonObject(item)) throw decodeFailed("json: cannot unmarshal into Go struct field .ServiceChecks of type structs.ServiceCheck")
    return { ID: optString(item, "ID") ?? "", Namespace: optString(item, "Namespace") ?? "" }
  })

export class SessionStore {
  private readonly raft: Raft
  private readonly clock: Clock
  private readonly kv: KvStore
  private readonly checks: CheckLookup
  private readonly nodeName: string
  private readonly sessions = new Map<string, Session>()
  private readonly timers = new Map<string, Timer>()
  private sessionsIndex = 0

  constructor(raft: Raft, clock: Clock, kv: KvStore, checks: CheckLookup, nodeName: string) {
    this.raft = raft
    this.clock = clock
    this.kv = kv
    this.checks = checks
    this.nodeName = nodeName
  }

  exists(id: string): boolean {
    return this.sessions.has(id)
  }

  get(id: string): { readonly index: number; readonly value: Session | undefined } {
    return { index: Math.max(1, this.sessionsIndex), value: this.sessions.get(id) }
  }

  list(node?: string): { readonly index: number; readonly value: ReadonlyArray<Session> } {
    const all = [...this.sessions.values()].filter((s) => node === undefined || s.node === node)
    return { index: Math.max(1, this.sessionsIndex), value: all.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) }
  }

  create(body: JsonObject): string {
    // The HTTP handler's defaults, then the body over them (fixupEmptySessionChecks).
    let checks: ReadonlyArray<string> | null = [SERF_HEALTH]
    let nodeChecks: ReadonlyArray<string> | null = [SERF_HEALTH]
    if (hasField(body, "Checks")) checks = optStringArray(body, "Checks") ?? null
    if (hasField(body, "NodeChecks")) nodeChecks = optStringArray(body, "NodeChecks") ?? null
    const serviceChecks = serviceChecksOf(body) ?? null
    if (checks === null || checks.length === 0) {
      checks = null
      nodeChecks = null
    } else if (checks.length === 1 && checks[0] === SERF_HEALTH) {
      checks = null
    } else if (nodeChecks === null || nodeChecks.length === 0) {
      nodeChecks = null
    } else if (nodeChecks.length === 1 && nodeChecks[0] === SERF_HEALTH) {
      nodeChecks = null
    }
    const lockDelayNs = lockDelayOf(body)
    const node = optString(body, "Node") ?? this.nodeName
    const name = optString(body, "Name") ?? ""
    const behaviorRaw = optString(body, "Behavior") ?? ""
    const ttl = optString(body, "TTL") ?? ""

    if (node === "") throw new ApiError(500, "Must provide Node")
    const behavior = behaviorRaw === "" ? "release" : behaviorRaw
    if (behavior !== "release" && behavior !== "delete") throw new ApiError(500, `Invalid Behavior setting '${behaviorRaw}'`)
    let ttlNs = 0
    if (ttl !== "") {
      try {
        ttlNs = parseGoDuration(ttl)
      } catch (e) {
        throw new ApiError(500, `Session TTL '${ttl}' invalid: ${e instanceof Error ? e.message : String(e)}`)
      }
      if (ttlNs !== 0 && (ttlNs < TTL_MIN_NS || ttlNs > TTL_MAX_NS)) {
        throw new ApiError(500, `Invalid Session TTL '${ttlNs}', must be between [10s=24h0m0s]`)
      }
    }
    if (!this.checks.nodeExists(node)) throw new ApiError(500, "apply failed: Missing node registration")
    const linked = [...(checks ?? []), ...(nodeChecks ?? []), ...(serviceChecks ?? []).map((c) => c.ID)]
    for (const checkId of linked) {
      const status = this.checks.statusOf(node, checkId)
      if (status === undefined) throw new ApiError(500, `apply failed: Missing check '${checkId}' registration`)
      if (status === "critical") throw new ApiError(500, `apply failed: Check '${checkId}' is in ${status} state`)
    }

    const index = this.raft.next()
    let id = crypto.randomUUID()
    while (this.sessions.has(id)) id = crypto.randomUUID()
    this.sessions.set(id, {
      id,
      name,
      node,
      lockDelayNs,
      behavior,
      ttl,
      nodeChecks,
      serviceChecks,
      checks,
      createIndex: index,
      modifyIndex: index
    })
    this.sessionsIndex = index
    if (ttlNs > 0) this.armTtl(id, ttlNs)
    this.raft.changed()
    return id
  }

  private armTtl(id: string, ttlNs: number): void {
    this.timers.get(id)?.cancel()
    this.timers.set(id, this.clock.after((ttlNs / 1e6) * TTL_MULTIPLIER, () => this.destroy(id)))
  }

  /** The session, with its TTL timer reset; undefined when unknown. */
  renew(id: string): Session | undefined {
    const session = this.sessions.get(id)
    if (session === undefined) return undefined
    if (session.ttl !== "") {
      const ttlNs = parseGoDuration(session.ttl)
      if (ttlNs > 0) this.armTtl(id, ttlNs)
    }
    return session
  }

  /** Destroy (or TTL expiry): an invalidation, so held keys get the Behavior and the lock-delay. */
  destroy(id: string): void {
    const index = this.raft.next()
    if (this.invalidate(index, id)) this.raft.changed()
  }

  /** Invalidates inside a caller's write at `index`; true when a session went away. */
  invalidate(index: number, id: string): boolean {
    const session = this.sessions.get(id)
    if (session === undefined) return false
    this.sessions.delete(id)
    this.timers.get(id)?.cancel()
    this.timers.delete(id)
    this.sessionsIndex = index
    this.kv.invalidateSession(index, id, session.behavior, Math.min(session.lockDelayNs, MAX_LOCK_DELAY_NS) / 1e6)
    return true
  }

  /** A check on `node` turned critical or was deregistered at `index`. */
  invalidateByCheck(index: number, node: string, checkId: string): boolean {
    let any = false
    for (const s of [...this.sessions.values()]) {
      if (s.node !== node) continue
      const linked = [...(s.checks ?? []), ...(s.nodeChecks ?? []), ...(s.serviceChecks ?? []).map((c) => c.ID)]
      if (linked.includes(checkId)) any = this.invalidate(index, s.id) || any
    }
    return any
  }

  cancelTimers(): void {
    for (const t of this.timers.values()) t.cancel()
    this.timers.clear()
  }
}

export const renderSession = (s: Session): Record<string, unknown> => ({
  ID: s.id,
  Name: s.name,
  Node: s.node,
  LockDelay: s.lockDelayNs,
  Behavior: s.behavior,
  TTL: s.ttl,
  NodeChecks: s.nodeChecks,
  ServiceChecks: s.serviceChecks,
  ...(s.checks !== null && s.checks.length > 0 ? { Checks: s.checks } : {}),
  CreateIndex: s.createIndex,
  ModifyIndex: s.modifyIndex
})
