// An in-memory Consul for unit tests of the programs: services with one TTL check
// each, KV with CAS, sessions with acquire/release, and invalidation applying the
// session's behavior. Several simulated nodes share one world. Transport behaviour
// (timeouts, refused connections, garbage) is tested against the HTTP emulator instead.
import { Effect, Option } from "effect"
import { type CheckStatus, type Consul, ConsulError, type KvEntry, type ServiceInstance } from "./Consul.ts"

interface MemoryEntry {
  value: string | null
  session: string | undefined
  modifyIndex: number
  lockIndex: number
}

export class ConsulWorld {
  private index = 1
  readonly services = new Map<string, { service: string; address: string; port: number; status: CheckStatus; output: string }>()
  readonly kv = new Map<string, MemoryEntry>()
  readonly sessions = new Map<string, { readonly behavior: "release" | "delete" }>()
  /** While set, every call fails this way (Consul down). */
  outage: ConsulError["reason"] | undefined = undefined
  /** Calls that fail alone, by operation (`"kv.set service/redis/last-backup"`): a Consul
   * that answers some requests and times out on others, as one does mid-failover. */
  readonly failing = new Map<string, ConsulError["reason"]>()
  /** Calls made, for assertions (`"kv.acquire service/redis/locks/master"`, …). */
  readonly calls: Array<string> = []

  next(): number {
    return ++this.index
  }

  register(id: string, service: string, address: string, port: number, status: CheckStatus = "passing"): void {
    this.services.set(id, { service, address, port, status, output: "" })
  }

  /** Consul lost its state (a server replaced with an empty data directory). */
  wipe(): void {
    this.services.clear()
    this.kv.clear()
    this.sessions.clear()
  }

  /** A session lost to TTL or destroy: its locks are released or deleted as Consul would. */
  invalidate(session: string): void {
    const s = this.sessions.get(session)
    this.sessions.delete(session)
    for (const [key, entry] of this.kv) {
      if (entry.session !== session) continue
      if (s?.behavior === "delete") this.kv.delete(key)
      else this.kv.set(key, { ...entry, session: undefined, modifyIndex: this.next() })
    }
  }
}

export const makeMemoryConsul = (world: ConsulWorld): Consul["Service"] => {
  const op = <A>(operation: string, f: () => A): Effect.Effect<A, ConsulError> =>
    Effect.suspend(() => {
      world.calls.push(operation)
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
        world.sessions.set(id, { behavior: options.behavior })
        return id
      }),
    renewSession: (id) => op(`session.renew ${id}`, () => world.sessions.has(id)),
    destroySession: (id) => op(`session.destroy ${id}`, () => world.invalidate(id)),
    acquire: (key, value, session) =>
      op(`kv.acquire ${key}`, () => {
        if (!world.sessions.has(session)) return false
        const old = world.kv.get(key)
        if (old?.session !== undefined && old.session !== session) return false
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
        world.register(service.id, service.name, service.address, service.port, world.services.get(service.id)?.status ?? service.status)),
    agentChecks: op("agent.check.list", () =>
      [...world.services].map(([id, s]) => ({ checkId: `service:${id}`, serviceId: id, status: s.status }))),
    remove: (key) => op(`kv.del ${key}`, () => world.kv.delete(key) || true),
    setCheck: (checkId, status, note) =>
      op(`agent.check ${checkId}`, () => {
        const id = checkId.replace(/^service:/, "")
        const s = world.services.get(id)
        if (s === undefined) return false
        world.services.set(id, { ...s, status, output: note })
        return true
      })
  }
}
