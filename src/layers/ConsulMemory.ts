// An in-memory Consul for unit tests of the programs: services with one TTL check
// each, KV with CAS, sessions with acquire/release, a TTL (a session not renewed
// within it is invalidated) and lock-delay (a lock whose session was invalidated
// cannot be acquired again for that long), and invalidation applying the session's
// behavior. Time is the Effect Clock's, so TestClock drives it. Several simulated nodes
// share one world, through one agent or each through its own (`agents`). Transport
// behaviour (timeouts, refused connections, garbage) is tested against the HTTP
// emulator instead; single operations can fail (`failing`).
import { Clock, Duration, Effect, Option } from "effect"
import { type CheckStatus, type Consul, ConsulError, type KvEntry, type ServiceInstance } from "./Consul.ts"

interface MemoryEntry {
  value: string | null
  session: string | undefined
  modifyIndex: number
  lockIndex: number
}

const SHARED_AGENT = "consul"

export class ConsulWorld {
  private index = 1
  /** Every registration, with the agent it was registered through (its checks live there). */
  readonly services = new Map<string, { service: string; address: string; port: number; status: CheckStatus; output: string; agent: string }>()
  /**
   * Which Consul agent a node talks to: one shared (the shipped compose and stack: every
   * node talks to the one Consul server), or one per node (a client agent per host).
   * A check lives on the agent it was registered through and only that agent updates it.
   */
  agents: "shared" | "perNode" = "shared"
  readonly kv = new Map<string, MemoryEntry>()
  /** Sessions; `ttlMs` absent: never expires (a session a test set up by hand). */
  readonly sessions = new Map<string, { readonly behavior: "release" | "delete"; readonly ttlMs?: number; readonly lockDelayMs?: number; expiresAt?: number }>()
  /** Keys under lock-delay after their session was invalidated: acquirable again from this time. */
  readonly lockDelayUntil = new Map<string, number>()
  /** The Clock's time at the latest operation. */
  now = 0
  /** While set, every call fails this way (Consul down). */
  outage: ConsulError["reason"] | undefined = undefined
  /** Calls that fail alone, by operation (`"kv.set service/redis/last-backup"`): a Consul
   * that answers some requests and times out on others, as one does mid-failover. */
  readonly failing = new Map<string, ConsulError["reason"]>()
  /** What another node does just before a call of this node is answered, once, by
   * operation (`"kv.acquire service/redis/locks/backup"`): the interleavings a test
   * running nodes one after the other would never reach. */
  readonly meanwhile = new Map<string, () => void>()
  /** Calls made, for assertions (`"kv.acquire service/redis/locks/master"`, …). */
  readonly calls: Array<string> = []

  next(): number {
    return ++this.index
  }

  register(id: string, service: string, address: string, port: number, status: CheckStatus = "passing", agent = SHARED_AGENT): void {
    this.services.set(id, { service, address, port, status, output: "", agent })
  }

  /** The agent node `node` talks to. */
  agentOf(node: string): string {
    return this.agents === "shared" ? SHARED_AGENT : node
  }

  /** One agent restarted without its data directory: its registrations are gone, the others stay. */
  restartAgent(agent: string): void {
    for (const [id, s] of this.services) if (s.agent === agent) this.services.delete(id)
  }

  /** Consul lost its state (a server replaced with an empty data directory). */
  wipe(): void {
    this.services.clear()
    this.kv.clear()
    this.sessions.clear()
  }

  /** A session lost to TTL or destroy: its locks are released or deleted as Consul would, under lock-delay. */
  invalidate(session: string): void {
    const s = this.sessions.get(session)
    this.sessions.delete(session)
    for (const [key, entry] of this.kv) {
      if (entry.session !== session) continue
      if ((s?.lockDelayMs ?? 0) > 0) this.lockDelayUntil.set(key, this.now + (s?.lockDelayMs ?? 0))
      if (s?.behavior === "delete") this.kv.delete(key)
      else this.kv.set(key, { ...entry, session: undefined, modifyIndex: this.next() })
    }
  }

  /** Invalidates every session whose TTL passed without a renewal (Consul may wait up to 2 × TTL; this world does not). */
  expireSessions(): void {
    for (const [id, s] of this.sessions) if (s.expiresAt !== undefined && this.now > s.expiresAt) this.invalidate(id)
  }
}

/** The Consul API as node `node` sees it (through the agent it talks to). */
export const makeMemoryConsul = (world: ConsulWorld, node = SHARED_AGENT): Consul["Service"] => {
  const agent = () => world.agentOf(node)
  const op = <A>(operation: string, f: () => A): Effect.Effect<A, ConsulError> =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      world.calls.push(operation)
      world.now = Math.max(world.now, now)
      world.expireSessions()
      const other = world.meanwhile.get(operation)
      world.meanwhile.delete(operation)
      other?.()
      const reason = world.outage ?? world.failing.get(operation)
      return reason !== undefined
        ? Effect.fail(new ConsulError({ operation, reason, detail: "simulated outage" }))
        : Effect.sync(f)
    })
  const entry = (key: string, e: MemoryEntry): KvEntry => ({
    key,
    value: e.value,
    session: Option.fromUndefinedOr(e.session),
    modifyIndex: e.modifyIndex,
    lockIndex: e.lockIndex
  })
  const write = (key: string, value: string, session: string | undefined, lockIndex?: number) => {
    const old = world.kv.get(key)
    world.kv.set(key, { value, session, modifyIndex: world.next(), lockIndex: lockIndex ?? old?.lockIndex ?? 0 })
  }
  return {
    instances: (service) =>
      op(`health.service ${service}`, () =>
        [...world.services].filter(([, s]) => s.service === service).map(([id, s]): ServiceInstance => ({
          id,
          service,
          node: s.agent,
          nodeAddress: s.address,
          address: s.address,
          port: s.port,
          checks: [{ checkId: `service:${id}`, status: s.status, output: s.output }],
          passing: s.status === "passing"
        }))),
    get: (key) => op(`kv.get ${key}`, () => Option.map(Option.fromUndefinedOr(world.kv.get(key)), (e) => entry(key, e))),
    list: (prefix) => op(`kv.get ${prefix} recurse`, () => [...world.kv].filter(([k]) => k.startsWith(prefix)).map(([k, e]) => entry(k, e))),
    put: (key, value, options) =>
      op(`kv.set ${key}`, () => {
        const old = world.kv.get(key)
        if (options?.cas !== undefined && (old?.modifyIndex ?? 0) !== options.cas) return false
        write(key, value, old?.session)
        return true
      }),
    createSession: (options) =>
      op(`session.create ${options.name}`, () => {
        const id = `session-${world.next()}`
        const ttlMs = Duration.toMillis(options.ttl)
        world.sessions.set(id, { behavior: options.behavior, ttlMs, lockDelayMs: Duration.toMillis(options.lockDelay), expiresAt: world.now + ttlMs })
        return id
      }),
    renewSession: (id) =>
      op(`session.renew ${id}`, () => {
        const s = world.sessions.get(id)
        if (s === undefined) return false
        if (s.ttlMs !== undefined) s.expiresAt = world.now + s.ttlMs
        return true
      }),
    destroySession: (id) => op(`session.destroy ${id}`, () => world.invalidate(id)),
    acquire: (key, value, session) =>
      op(`kv.acquire ${key}`, () => {
        if (!world.sessions.has(session)) return false
        const old = world.kv.get(key)
        if (old?.session !== undefined && old.session !== session) return false
        if (world.now < (world.lockDelayUntil.get(key) ?? 0)) return false
        write(key, value, session, old?.session === session ? old.lockIndex : (old?.lockIndex ?? 0) + 1)
        return true
      }),
    release: (key, value, session) =>
      op(`kv.release ${key}`, () => {
        if (world.kv.get(key)?.session !== session) return false
        write(key, value, undefined)
        return true
      }),
    // Re-registering keeps an existing check's status, as Consul does.
    register: (service) =>
      op(`agent.service.register ${service.id}`, () =>
        world.register(service.id, service.name, service.address, service.port, world.services.get(service.id)?.status ?? service.status, agent())),
    agentChecks: op("agent.check.list", () =>
      [...world.services].filter(([, s]) => s.agent === agent()).map(([id, s]) => ({ checkId: `service:${id}`, serviceId: id, status: s.status }))),
    remove: (key) => op(`kv.del ${key}`, () => world.kv.delete(key) || true),
    setCheck: (checkId, status, note) =>
      op(`agent.check ${checkId}`, () => {
        const id = checkId.replace(/^service:/, "")
        const s = world.services.get(id)
        // Another agent's check is unknown to this one (Consul answers 404, or 500 before 1.11).
        if (s === undefined || s.agent !== agent()) return false
        world.services.set(id, { ...s, status, output: note })
        return true
      }),
    // As Consul does through the package: the check replaced, its output empty (the note is in Notes, not modelled).
    failInCatalog: (instance, checkId) =>
      op(`catalog.register ${instance.node} ${checkId}`, () => {
        const id = checkId.replace(/^service:/, "")
        const s = world.services.get(id)
        if (s !== undefined) world.services.set(id, { ...s, status: "critical", output: "" })
      })
  }
}
