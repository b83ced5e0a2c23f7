// The Consul contract: what this project relies on Consul to do, exercised through
// the real `consul` package (plain fetch where the package has no call, or to read
// headers). The unit tests run it on the emulator, the integration tests on a real
// agent (CONSUL_HTTP_ADDR). Every name is unique per run, so it can share a Consul.
import Consul from "consul"
import { randomUUID } from "node:crypto"
import { EventEmitter } from "node:events"
import { afterAll, assert, beforeAll, describe, it } from "vitest"

export interface ConsulTarget {
  readonly host: string
  readonly port: number
  readonly token?: string
  /** Lets `ms` of Consul time pass: emulator.advance on a manual clock, a real sleep for a real Consul. */
  readonly advance: (ms: number) => Promise<void>
  /** Time passes for real: the cases that only wait out TTLs and lock-delays run side by side. */
  readonly realTime?: boolean
}

// --- decoding what comes back (the package types most replies as any) ---

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v)

const rec = (v: unknown, what: string): Record<string, unknown> => {
  if (!isRecord(v)) assert.fail(`${what}: expected an object, got ${JSON.stringify(v)}`)
  return v
}

const arr = (v: unknown, what: string): ReadonlyArray<unknown> => {
  if (!Array.isArray(v)) assert.fail(`${what}: expected an array, got ${JSON.stringify(v)}`)
  return v
}

const str = (o: Record<string, unknown>, key: string): string => {
  const v = o[key]
  if (typeof v !== "string") assert.fail(`${key}: expected a string, got ${JSON.stringify(v)}`)
  return v
}

const num = (o: Record<string, unknown>, key: string): number => {
  const v = o[key]
  if (typeof v !== "number") assert.fail(`${key}: expected a number, got ${JSON.stringify(v)}`)
  return v
}

const strings = (v: unknown, what: string): ReadonlyArray<string> =>
  arr(v, what).map((s) => {
    if (typeof s !== "string") assert.fail(`${what}: expected strings, got ${JSON.stringify(v)}`)
    return s
  })

interface KvItem {
  readonly key: string
  readonly value: string | null
  readonly flags: number
  readonly session: string | undefined
  readonly lockIndex: number
  readonly createIndex: number
  readonly modifyIndex: number
}

const kvItem = (v: unknown): KvItem => {
  const o = rec(v, "kv entry")
  const value = o["Value"]
  if (value !== null && typeof value !== "string") assert.fail(`Value: expected a string or null, got ${JSON.stringify(value)}`)
  const session = o["Session"]
  if (session !== undefined && typeof session !== "string") assert.fail(`Session: expected a string, got ${JSON.stringify(session)}`)
  return {
    key: str(o, "Key"),
    value,
    flags: num(o, "Flags"),
    session,
    lockIndex: num(o, "LockIndex"),
    createIndex: num(o, "CreateIndex"),
    modifyIndex: num(o, "ModifyIndex")
  }
}

interface HealthCheck {
  readonly checkId: string
  readonly name: string
  readonly status: string
  readonly output: string
  readonly serviceId: string
  readonly type: string | undefined
}

const healthCheck = (v: unknown): HealthCheck => {
  const o = rec(v, "check")
  const type = o["Type"]
  return {
    checkId: str(o, "CheckID"),
    name: str(o, "Name"),
    status: str(o, "Status"),
    output: str(o, "Output"),
    serviceId: str(o, "ServiceID"),
    type: typeof type === "string" ? type : undefined
  }
}

interface HealthEntry {
  readonly id: string
  readonly service: string
  readonly address: string
  readonly port: number
  readonly tags: ReadonlyArray<string>
  readonly checks: ReadonlyArray<HealthCheck>
}

const healthEntries = (v: unknown): ReadonlyArray<HealthEntry> =>
  arr(v, "health.service").map((e) => {
    const entry = rec(e, "health entry")
    rec(entry["Node"], "Node")
    const service = rec(entry["Service"], "Service")
    return {
      id: str(service, "ID"),
      service: str(service, "Service"),
      address: str(service, "Address"),
      port: num(service, "Port"),
      tags: strings(service["Tags"], "Tags"),
      checks: arr(entry["Checks"], "Checks").map(healthCheck)
    }
  })

interface Failure {
  readonly statusCode: number | undefined
  readonly message: string
  readonly code: string | undefined
  readonly isTimeout: boolean
}

/** What the package rejects with: a papi ResponseError, TimeoutError, or a socket error. */
export const describeFailure = (e: unknown): Failure => {
  const get = (key: string): unknown => (typeof e === "object" && e !== null ? Reflect.get(e, key) : undefined)
  const statusCode = get("statusCode")
  const message = get("message")
  const code = get("code")
  return {
    statusCode: typeof statusCode === "number" ? statusCode : undefined,
    message: typeof message === "string" ? message : String(e),
    code: typeof code === "string" ? code : undefined,
    isTimeout: get("isTimeout") === true
  }
}

export const failure = async (promise: Promise<unknown>): Promise<Failure> => {
  try {
    await promise
  } catch (e) {
    return describeFailure(e)
  }
  return assert.fail("expected the call to fail")
}

/**
 * A KV write's answer, `true` or `false`. The package resolves a `false` body as undefined
 * (papi's pipeline keeps only a truthy body), so undefined reads as false here.
 */
export const outcome = async (call: Promise<unknown>): Promise<boolean> => {
  const v: unknown = await call
  if (v === true) return true
  if (v === undefined) return false
  return assert.fail(`expected true or a false body, got ${JSON.stringify(v)}`)
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export const consulContract = (name: string, target: ConsulTarget): void => {
  describe(name, () => {
    const run = randomUUID().slice(0, 8)
    const kvPrefix = `contract-${run}/`
    let counter = 0
    const unique = (what: string) => `contract-${run}-${what}-${++counter}`
    const key = (what: string) => `${kvPrefix}${what}-${++counter}`
    const registered = new Set<string>()
    const created = new Set<string>()
    let consul: Consul
    // An emulator's clock is shared: one case advancing it would expire another's TTLs.
    const waiting = target.realTime === true ? it.concurrent : it

    /**
     * Consul 1.10 (the binary CI runs) and the 1.20 of the image differ in three answers
     * below; the emulator speaks as a current agent. Each case asserts its agent's own.
     */
    let before111 = false

    beforeAll(async () => {
      consul = new Consul({ host: target.host, port: target.port, defaults: target.token !== undefined ? { token: target.token } : {} })
      const version = str(rec(rec(await consul.agent.self(), "self")["Config"], "Config"), "Version")
      const [major = 0, minor = 0] = version.split(".").map(Number)
      before111 = major < 1 || (major === 1 && minor < 11)
    })

    afterAll(async () => {
      // Leave a shared Consul as we found it.
      for (const id of registered) await consul.agent.service.deregister(id).catch(() => undefined)
      for (const id of created) await consul.session.destroy(id).catch(() => undefined)
      await consul.kv.del({ key: kvPrefix, recurse: true }).catch(() => undefined)
      consul.destroy()
    })

    const api = async (method: string, path: string, body?: string) => {
      const res = await fetch(`http://${target.host}:${target.port}${path}`, {
        method,
        headers: target.token !== undefined ? { "X-Consul-Token": target.token } : {},
        ...(body !== undefined ? { body } : {})
      })
      const text = await res.text()
      const index = res.headers.get("x-consul-index")
      return { status: res.status, text, index: index === null ? undefined : Number(index), headers: res.headers }
    }

    /** Keeps Consul's time moving until `promise` settles (a blocking query waiting out its `wait`). */
    const settle = async <A>(promise: Promise<A>, stepMs: number) => {
      const started = performance.now()
      let settled = false
      void promise.then(() => (settled = true), () => (settled = true))
      let advanced = 0
      while (!settled && advanced < 60_000) {
        await sleep(20)
        if (settled) break
        await target.advance(stepMs)
        advanced += stepMs
      }
      return { value: await promise, advanced, elapsed: performance.now() - started }
    }

    const registerTtl = async (options: {
      readonly id: string
      readonly name: string
      readonly ttl: string
      readonly status?: "passing" | "warning" | "critical"
      readonly checkId?: string
      readonly tags?: ReadonlyArray<string>
    }) => {
      registered.add(options.id)
      await consul.agent.service.register({
        id: options.id,
        name: options.name,
        address: "10.1.2.3",
        port: 6379,
        tags: [...(options.tags ?? [])],
        check: {
          name: `${options.name} ttl`,
          ttl: options.ttl,
          // Required by the package's typings; not sent for a TTL check.
          timeout: "1s",
          ...(options.status !== undefined ? { status: options.status } : {}),
          ...(options.checkId !== undefined ? { checkid: options.checkId } : {})
        }
      })
    }

    const health = async (service: string, passing = false) =>
      healthEntries(await consul.health.service(passing ? { service, passing: true } : { service }))

    const serviceCheck = async (service: string, checkId: string): Promise<HealthCheck> => {
      const [entry] = await health(service)
      const check = entry?.checks.find((c) => c.checkId === checkId)
      if (check === undefined) return assert.fail(`no check ${checkId} on ${service}: ${JSON.stringify(entry)}`)
      return check
    }

    const agentCheck = async (checkId: string): Promise<Record<string, unknown>> =>
      rec(rec(await consul.agent.checks(), "agent checks")[checkId], `agent check ${checkId}`)

    const get = async (k: string): Promise<KvItem | undefined> => {
      const raw: unknown = await consul.kv.get(k)
      return raw === undefined || raw === null ? undefined : kvItem(raw)
    }

    const session = async (options: { readonly ttl?: string; readonly lockdelay?: string; readonly behavior?: "release" | "delete"; readonly checks?: Array<string> } = {}) => {
      const { ID } = await consul.session.create({ name: unique("session"), checks: [], ...options })
      created.add(ID)
      return ID
    }

    const sessionInfo = async (id: string): Promise<Record<string, unknown> | undefined> => {
      const raw: unknown = await consul.session.info(id)
      return raw === undefined ? undefined : rec(raw, "session")
    }

    const nodeName = async (): Promise<string> => str(rec(rec(await consul.agent.self(), "agent self")["Config"], "Config"), "NodeName")

    it("reports a leader", async () => {
      assert.match(await consul.status.leader(), /:\d+$/)
    })

    it("a new TTL check is critical until passed, and ?passing follows it", async () => {
      const id = unique("svc")
      const name = unique("name")
      await registerTtl({ id, name, ttl: "30s" })
      const [entry, ...others] = await health(name)
      assert.deepStrictEqual(others, [])
      assert.strictEqual(entry?.id, id)
      assert.strictEqual(entry?.service, name)
      assert.strictEqual(entry?.address, "10.1.2.3")
      assert.strictEqual(entry?.port, 6379)
      assert.deepStrictEqual(entry?.tags, [])
      const serf = entry?.checks.find((c) => c.checkId === "serfHealth")
      assert.strictEqual(serf?.status, "passing")
      assert.strictEqual(serf?.serviceId, "")
      const check = await serviceCheck(name, `service:${id}`)
      assert.strictEqual(check.status, "critical")
      assert.strictEqual(check.serviceId, id)
      assert.strictEqual(check.name, `${name} ttl`)
      assert.strictEqual(check.type, "ttl")
      assert.deepStrictEqual(await health(name, true), [])

      await consul.agent.check.pass({ id: `service:${id}`, note: "up" })
      const passing = await health(name, true)
      assert.deepStrictEqual(passing.map((e) => e.id), [id])
      assert.strictEqual(str(await agentCheck(`service:${id}`), "Output"), "up")
    })

    it("a warning check counts as failing for ?passing", async () => {
      const id = unique("svc")
      const name = unique("name")
      await registerTtl({ id, name, ttl: "30s", status: "passing" })
      assert.deepStrictEqual((await health(name, true)).map((e) => e.id), [id])
      await consul.agent.check.warn({ id: `service:${id}`, note: "slow" })
      assert.deepStrictEqual(await health(name, true), [])
      const check = await serviceCheck(name, `service:${id}`)
      assert.strictEqual(check.status, "warning")
      assert.strictEqual(check.output, "slow")
    })

    it("a TTL check that misses its TTL turns critical with the TTL expired output", async () => {
      const id = unique("svc")
      const name = unique("name")
      await registerTtl({ id, name, ttl: "2s", status: "passing" })
      await target.advance(3_000)
      let check = await serviceCheck(name, `service:${id}`)
      assert.strictEqual(check.status, "critical")
      assert.strictEqual(check.output, "TTL expired")

      await consul.agent.check.pass({ id: `service:${id}`, note: "all good" })
      assert.strictEqual((await serviceCheck(name, `service:${id}`)).status, "passing")
      await target.advance(3_000)
      check = await serviceCheck(name, `service:${id}`)
      assert.strictEqual(check.status, "critical")
      assert.strictEqual(check.output, "TTL expired (last output before timeout follows): all good")
    })

    it("re-registering keeps the status and output of existing checks", async () => {
      const id = unique("svc")
      const name = unique("name")
      await registerTtl({ id, name, ttl: "30s" })
      await consul.agent.check.pass({ id: `service:${id}`, note: "up" })
      await registerTtl({ id, name, ttl: "30s" })
      const check = await serviceCheck(name, `service:${id}`)
      assert.strictEqual(check.status, "passing")
      assert.strictEqual(check.output, "up")
    })

    it("numbers default check IDs, and replace-existing-checks drops checks missing from the body", async () => {
      const id = unique("svc")
      const name = unique("name")
      registered.add(id)
      const register = (checks: number, query = "") =>
        api("PUT", `/v1/agent/service/register${query}`, JSON.stringify({ ID: id, Name: name, Checks: Array.from({ length: checks }, () => ({ TTL: "30s" })) }))
      const ids = async () => Object.keys(rec(await consul.agent.checks(), "checks")).filter((c) => c.startsWith(`service:${id}`)).sort()
      assert.strictEqual((await register(2)).status, 200)
      assert.deepStrictEqual(await ids(), [`service:${id}:1`, `service:${id}:2`])
      assert.strictEqual(str(await agentCheck(`service:${id}:1`), "Name"), `Service '${name}' check`)
      assert.strictEqual(str(await agentCheck(`service:${id}:1`), "Status"), "critical")
      await register(1)
      assert.deepStrictEqual(await ids(), [`service:${id}`, `service:${id}:1`, `service:${id}:2`])
      await register(1, "?replace-existing-checks")
      assert.deepStrictEqual(await ids(), [`service:${id}`])
    })

    it("deregistering removes the service from agent, health and catalog", async () => {
      const id = unique("svc")
      const name = unique("name")
      await registerTtl({ id, name, ttl: "30s", status: "passing" })
      await consul.agent.service.deregister(id)
      assert.deepStrictEqual(await health(name), [])
      assert.deepStrictEqual(arr(await consul.catalog.service.nodes({ service: name }), "nodes"), [])
      assert.notProperty(rec(await consul.agent.services(), "services"), id)
      assert.notProperty(rec(await consul.agent.checks(), "checks"), `service:${id}`)
      // Deregistering it again: 1.10 answers 200 as if it were there.
      if (before111) await consul.agent.service.deregister(id)
      else assert.strictEqual((await failure(consul.agent.service.deregister(id))).statusCode, 404)
    })

    it("PUT /v1/agent/check/update sets status and output, rejects other statuses, caps output at 4 KB", async () => {
      const id = unique("svc")
      const name = unique("name")
      const path = `/v1/agent/check/update/${encodeURIComponent(`service:${id}`)}`
      await registerTtl({ id, name, ttl: "30s" })
      assert.strictEqual((await api("PUT", path, JSON.stringify({ Status: "passing", Output: "fine" }))).status, 200)
      const check = await serviceCheck(name, `service:${id}`)
      assert.strictEqual(check.status, "passing")
      assert.strictEqual(check.output, "fine")

      const bogus = await api("PUT", path, JSON.stringify({ Status: "bogus", Output: "x" }))
      assert.strictEqual(bogus.status, 400)
      assert.strictEqual(bogus.text, "Invalid check status: 'bogus'")

      assert.strictEqual((await api("PUT", path, JSON.stringify({ Status: "warning", Output: "x".repeat(5000) }))).status, 200)
      assert.strictEqual(str(await agentCheck(`service:${id}`), "Output"), `${"x".repeat(4096)} ... (captured 4096 of 5000 bytes)`)
    })

    it("updating an unknown check is a 404 (a 500 saying it has no TTL before 1.11)", async () => {
      const id = unique("nocheck")
      const [status, text] = before111 ? [500, /^CheckID ".*" does not have associated TTL/] : [404, /^Unknown check ID/]
      assert.strictEqual((await failure(consul.agent.check.pass({ id }))).statusCode, status)
      const update = await api("PUT", `/v1/agent/check/update/${id}`, JSON.stringify({ Status: "passing" }))
      assert.strictEqual(update.status, status)
      assert.match(update.text, text)
    })

    it("a registration without a name is a 400", async () => {
      const res = await api("PUT", "/v1/agent/service/register", JSON.stringify({ Port: 1 }))
      assert.strictEqual(res.status, 400)
      assert.strictEqual(res.text, "Missing service name")
    })

    it("the catalog lists services with tags, flat service instances and the agent's node", async () => {
      const id = unique("svc")
      const name = unique("name")
      await registerTtl({ id, name, ttl: "30s", status: "passing", tags: ["primary"] })
      assert.deepStrictEqual(strings(rec(await consul.catalog.services(), "services")[name], "tags"), ["primary"])
      const [instance, ...more] = arr(await consul.catalog.service.nodes({ service: name }), "nodes").map((n) => rec(n, "node"))
      assert.deepStrictEqual(more, [])
      if (instance === undefined) return assert.fail("no catalog instance")
      assert.strictEqual(str(instance, "ServiceID"), id)
      assert.strictEqual(str(instance, "ServiceName"), name)
      assert.deepStrictEqual(strings(instance["ServiceTags"], "ServiceTags"), ["primary"])
      assert.strictEqual(str(instance, "ServiceAddress"), "10.1.2.3")
      assert.strictEqual(num(instance, "ServicePort"), 6379)
      const node = await nodeName()
      assert.strictEqual(str(instance, "Node"), node)
      assert.include(arr(await consul.catalog.node.list(), "nodes").map((n) => str(rec(n, "node"), "Node")), node)
      assert.deepStrictEqual((healthEntries(await consul.health.service({ service: name, tag: "primary" }))).map((e) => e.id), [id])
      assert.deepStrictEqual(healthEntries(await consul.health.service({ service: name, tag: "replica" })), [])
    })

    it("health answers [] for an unknown service, 400 for an unparseable ?passing, no filter for passing=false", async () => {
      assert.deepStrictEqual(await health(unique("unknown")), [])
      const id = unique("svc")
      const name = unique("name")
      await registerTtl({ id, name, ttl: "30s" })
      const bad = await api("GET", `/v1/health/service/${name}?passing=bogus`)
      assert.strictEqual(bad.status, 400)
      const all = await api("GET", `/v1/health/service/${name}?passing=false`)
      assert.deepStrictEqual(healthEntries(JSON.parse(all.text)).map((e) => e.id), [id])
      assert.isAtLeast(all.index ?? 0, 1)
      assert.strictEqual(all.headers.get("x-consul-knownleader"), "true")
    })

    it("KV set and get: indexes, empty values, raw, missing keys", async () => {
      const k = key("kv")
      assert.strictEqual(await outcome(consul.kv.set(k, "v1")), true)
      const first = await get(k)
      assert.deepStrictEqual(first && { ...first, createIndex: 0, modifyIndex: 0 }, {
        key: k,
        value: "v1",
        flags: 0,
        session: undefined,
        lockIndex: 0,
        createIndex: 0,
        modifyIndex: 0
      })
      assert.strictEqual(first?.createIndex, first?.modifyIndex)
      await consul.kv.set(k, "v2")
      const second = await get(k)
      assert.strictEqual(second?.createIndex, first?.createIndex)
      assert.isAbove(second?.modifyIndex ?? 0, first?.modifyIndex ?? 0)
      assert.strictEqual((await api("GET", `/v1/kv/${k}?raw`)).text, "v2")

      await consul.kv.set(k, "")
      assert.strictEqual((await get(k))?.value, null)
      assert.strictEqual(await get(key("missing")), undefined)
      const missing = await api("GET", `/v1/kv/${key("missing")}`)
      assert.strictEqual(missing.status, 404)
      assert.strictEqual(missing.text, "")
    })

    it("KV recurse lists a prefix; keys folds at the separator; keys of an empty prefix is a 404", async () => {
      const p = `${key("dir")}/`
      for (const k of ["b", "a", "c/d"]) await consul.kv.set(`${p}${k}`, k)
      const all = arr(await consul.kv.get({ key: p, recurse: true }), "recurse").map(kvItem)
      assert.deepStrictEqual(all.map((e) => [e.key, e.value]), [[`${p}a`, "a"], [`${p}b`, "b"], [`${p}c/d`, "c/d"]])
      assert.deepStrictEqual(await consul.kv.keys({ key: p, separator: "/" }), [`${p}a`, `${p}b`, `${p}c/`])
      assert.deepStrictEqual(await consul.kv.keys({ key: p }), [`${p}a`, `${p}b`, `${p}c/d`])
      assert.strictEqual((await failure(consul.kv.keys({ key: `${key("none")}/` }))).statusCode, 404)
    })

    it("KV delete: a key, a missing key, a whole prefix", async () => {
      const p = `${key("del")}/`
      for (const k of ["a", "b", "c"]) await consul.kv.set(`${p}${k}`, k)
      assert.strictEqual(await outcome(consul.kv.del(`${p}a`)), true)
      assert.strictEqual(await get(`${p}a`), undefined)
      assert.strictEqual(await outcome(consul.kv.del(`${p}a`)), true)
      assert.strictEqual(await outcome(consul.kv.del({ key: p, recurse: true })), true)
      assert.strictEqual(await consul.kv.get({ key: p, recurse: true }), undefined)
    })

    it("KV cas: 0 creates only, N must equal ModifyIndex; flags are stored; delete with cas", async () => {
      const k = key("cas")
      assert.strictEqual(await outcome(consul.kv.set({ key: k, value: "one", cas: 0 })), true)
      assert.strictEqual(await outcome(consul.kv.set({ key: k, value: "two", cas: 0 })), false)
      const entry = await get(k)
      if (entry === undefined) return assert.fail("cas=0 did not create the key")
      assert.strictEqual(entry.value, "one")
      assert.strictEqual(await outcome(consul.kv.set({ key: k, value: "two", cas: entry.modifyIndex + 1000 })), false)
      assert.strictEqual(await outcome(consul.kv.set({ key: k, value: "two", cas: entry.modifyIndex, flags: 42 })), true)
      const updated = await get(k)
      assert.strictEqual(updated?.value, "two")
      assert.strictEqual(updated?.flags, 42)
      await consul.kv.set(k, "three")
      const plain = await get(k)
      assert.strictEqual(plain?.flags, 0)
      if (plain === undefined) return assert.fail("key vanished")
      assert.strictEqual(await outcome(consul.kv.del({ key: k, cas: plain.modifyIndex + 1000 })), false)
      assert.strictEqual(await outcome(consul.kv.del({ key: k, cas: plain.modifyIndex })), true)
      assert.strictEqual(await get(k), undefined)
      assert.strictEqual(await outcome(consul.kv.del({ key: k, cas: plain.modifyIndex })), true)
    })

    it("a lost KV race answers a `false` body, which the package resolves as undefined", async () => {
      const k = key("false")
      await consul.kv.set(k, "v")
      const raw = await api("PUT", `/v1/kv/${k}?cas=0`, "w")
      assert.deepStrictEqual([raw.status, raw.text.trim()], [200, "false"])
      assert.strictEqual(await consul.kv.set({ key: k, value: "w", cas: 0 }), undefined)
    })

    it("conflicting KV flags are a 400", async () => {
      const k = key("flags")
      const put = await api("PUT", `/v1/kv/${k}?cas=0&acquire=${randomUUID()}`, "x")
      assert.strictEqual(put.status, 400)
      assert.match(put.text, /^Conflicting flags: /)
      const del = await api("DELETE", `/v1/kv/${k}?recurse&cas=1`)
      assert.strictEqual(del.status, 400)
    })

    it("acquire and release: one holder, re-acquire keeps LockIndex, release writes the body and sets no lock-delay", async () => {
      const k = key("lock")
      const a = await session()
      const b = await session()
      assert.strictEqual(await outcome(consul.kv.set({ key: k, value: "a1", acquire: a })), true)
      let entry = await get(k)
      assert.strictEqual(entry?.session, a)
      assert.strictEqual(entry?.lockIndex, 1)
      assert.strictEqual(await outcome(consul.kv.set({ key: k, value: "b", acquire: b })), false)
      assert.strictEqual(await outcome(consul.kv.set({ key: k, value: "a2", acquire: a })), true)
      entry = await get(k)
      assert.strictEqual(entry?.lockIndex, 1)
      assert.strictEqual(entry?.value, "a2")
      assert.strictEqual(await outcome(consul.kv.set({ key: k, value: "b", release: b })), false)
      assert.strictEqual(await outcome(consul.kv.set({ key: k, value: "released", release: a })), true)
      entry = await get(k)
      assert.strictEqual(entry?.session, undefined)
      assert.strictEqual(entry?.lockIndex, 1)
      assert.strictEqual(entry?.value, "released")
      assert.strictEqual(await outcome(consul.kv.set({ key: k, value: "b", acquire: b })), true)
      entry = await get(k)
      assert.strictEqual(entry?.session, b)
      assert.strictEqual(entry?.lockIndex, 2)
    })

    it("a plain set on a held key keeps the holder but takes LockIndex and Flags from the request (0)", async () => {
      const k = key("held")
      const a = await session()
      assert.strictEqual(await outcome(consul.kv.set({ key: k, value: "a", acquire: a, flags: 7 })), true)
      await consul.kv.set(k, "overwritten")
      const entry = await get(k)
      assert.deepStrictEqual([entry?.value, entry?.session, entry?.lockIndex, entry?.flags], ["overwritten", a, 0, 0])
    })

    it("acquire with an unknown session is a 500 invalid session", async () => {
      const f = await failure(consul.kv.set({ key: key("lock"), value: "x", acquire: randomUUID() }))
      assert.strictEqual(f.statusCode, 500)
      assert.match(f.message, /invalid session/)
    })

    it("session defaults: the agent's node, serfHealth, 15s lock-delay, release; and what a body changes", async () => {
      const plain = await consul.session.create()
      created.add(plain.ID)
      const info = await sessionInfo(plain.ID)
      if (info === undefined) return assert.fail("no session info")
      assert.strictEqual(str(info, "Node"), await nodeName())
      assert.strictEqual(num(info, "LockDelay"), 15_000_000_000)
      assert.strictEqual(str(info, "Behavior"), "release")
      assert.strictEqual(str(info, "TTL"), "")
      assert.deepStrictEqual(info["NodeChecks"], ["serfHealth"])
      assert.notProperty(info, "Checks")

      const name = unique("session")
      const { ID } = await consul.session.create({ name, checks: [], ttl: "10s", lockdelay: "5s", behavior: "delete" })
      created.add(ID)
      const custom = await sessionInfo(ID)
      if (custom === undefined) return assert.fail("no session info")
      assert.strictEqual(str(custom, "Name"), name)
      assert.strictEqual(str(custom, "TTL"), "10s")
      assert.strictEqual(num(custom, "LockDelay"), 5_000_000_000)
      assert.strictEqual(str(custom, "Behavior"), "delete")
      // No node check asked for: 1.10 keeps the empty list, later versions drop it.
      assert.deepStrictEqual(custom["NodeChecks"], before111 ? [] : null)

      const numeric = await api("PUT", "/v1/session/create", JSON.stringify({ LockDelay: 7, Checks: [] }))
      const numericId = str(rec(JSON.parse(numeric.text), "create"), "ID")
      created.add(numericId)
      assert.strictEqual(num((await sessionInfo(numericId)) ?? {}, "LockDelay"), 7_000_000_000)
    })

    it("session validation: TTL range, Behavior, LockDelay strings; unknown sessions", async () => {
      assert.strictEqual((await failure(consul.session.create({ checks: [], ttl: "5s" }))).statusCode, 500)
      const shortTtl = await api("PUT", "/v1/session/create", JSON.stringify({ Checks: [], TTL: "5s" }))
      assert.strictEqual(shortTtl.status, 500)
      assert.match(shortTtl.text, /Invalid Session TTL/)
      const behavior = await api("PUT", "/v1/session/create", JSON.stringify({ Checks: [], Behavior: "bogus" }))
      assert.strictEqual(behavior.status, 500)
      assert.match(behavior.text, /Invalid Behavior/)
      // A string LockDelay goes through time.ParseDuration, which wants a unit.
      const unitless = await api("PUT", "/v1/session/create", JSON.stringify({ Checks: [], LockDelay: "5" }))
      assert.strictEqual(unitless.status, 400)

      const unknown = randomUUID()
      const renew = await failure(consul.session.renew(unknown))
      assert.strictEqual(renew.statusCode, 404)
      assert.strictEqual(renew.message, `Session id '${unknown}' not found`)
      assert.strictEqual(await sessionInfo(unknown), undefined)
      const destroy = await api("PUT", `/v1/session/destroy/${unknown}`)
      assert.strictEqual(destroy.status, 200)
      assert.strictEqual(destroy.text.trim(), "true")
    })

    waiting("renew keeps a TTL session alive; without renews it is invalidated after 2×TTL", async () => {
      const id = await session({ ttl: "10s" })
      await target.advance(15_000)
      const renewed = arr(await consul.session.renew(id), "renew").map((s) => rec(s, "session"))
      assert.deepStrictEqual(renewed.map((s) => [s["ID"], s["TTL"]]), [[id, "10s"]])
      await target.advance(15_000)
      assert.isDefined(await sessionInfo(id))
      await target.advance(21_000)
      assert.strictEqual(await sessionInfo(id), undefined)
    })

    waiting("session TTL invalidation releases the lock, keeps LockIndex and value, and lock-delay blocks acquire until it ends", async () => {
      const k = key("ttl-lock")
      const a = await session({ ttl: "10s", lockdelay: "3s" })
      const b = await session()
      assert.strictEqual(await outcome(consul.kv.set({ key: k, value: "a", acquire: a })), true)
      await target.advance(21_000)
      assert.strictEqual(await sessionInfo(a), undefined)
      const entry = await get(k)
      assert.strictEqual(entry?.session, undefined)
      assert.strictEqual(entry?.lockIndex, 1)
      assert.strictEqual(entry?.value, "a")
      assert.strictEqual(await outcome(consul.kv.set({ key: k, value: "b", acquire: b })), false)
      await target.advance(4_000)
      assert.strictEqual(await outcome(consul.kv.set({ key: k, value: "b", acquire: b })), true)
      assert.strictEqual((await get(k))?.lockIndex, 2)
    })

    waiting("destroy is an invalidation: lock-delay applies", async () => {
      const k = key("destroy-lock")
      const a = await session({ lockdelay: "3s" })
      const b = await session()
      assert.strictEqual(await outcome(consul.kv.set({ key: k, value: "a", acquire: a })), true)
      await consul.session.destroy(a)
      assert.strictEqual((await get(k))?.session, undefined)
      assert.strictEqual(await outcome(consul.kv.set({ key: k, value: "b", acquire: b })), false)
      await target.advance(4_000)
      assert.strictEqual(await outcome(consul.kv.set({ key: k, value: "b", acquire: b })), true)
    })

    it("Behavior delete deletes the keys the session held", async () => {
      const k = key("ephemeral")
      const a = await session({ behavior: "delete", lockdelay: "1s" })
      assert.strictEqual(await outcome(consul.kv.set({ key: k, value: "a", acquire: a })), true)
      await consul.session.destroy(a)
      assert.strictEqual(await get(k), undefined)
    })

    it("a session tied to a check dies when the check turns critical, and cannot be created on a critical check", async () => {
      const id = unique("svc")
      const name = unique("name")
      const checkId = `${id}:ttl`
      await registerTtl({ id, name, ttl: "30s", status: "passing", checkId })
      const k = key("check-lock")
      const a = await session({ checks: [checkId] })
      assert.strictEqual(await outcome(consul.kv.set({ key: k, value: "a", acquire: a })), true)
      await consul.agent.check.warn({ id: checkId })
      assert.isDefined(await sessionInfo(a))
      await consul.agent.check.fail({ id: checkId })
      assert.strictEqual(await sessionInfo(a), undefined)
      assert.strictEqual((await get(k))?.session, undefined)
      const refused = await api("PUT", "/v1/session/create", JSON.stringify({ Checks: [checkId] }))
      assert.strictEqual(refused.status, 500)
      assert.match(refused.text, /critical/)
    })

    it("a blocking KV query returns early on a write", async () => {
      const k = key("watch")
      await consul.kv.set(k, "v1")
      const { index } = await api("GET", `/v1/kv/${k}`)
      if (index === undefined) return assert.fail("no X-Consul-Index")
      const started = performance.now()
      const blocked = api("GET", `/v1/kv/${k}?index=${index}&wait=10s`)
      await sleep(50)
      await consul.kv.set(k, "v2")
      const res = await blocked
      assert.isBelow(performance.now() - started, 5_000)
      assert.isAbove(res.index ?? 0, index)
      assert.strictEqual(kvItem(arr(JSON.parse(res.text), "kv")[0]).value, Buffer.from("v2").toString("base64"))
    })

    it("a blocking KV query times out with the same index and data", async () => {
      const k = key("quiet")
      await consul.kv.set(k, "v1")
      const { index, text } = await api("GET", `/v1/kv/${k}`)
      if (index === undefined) return assert.fail("no X-Consul-Index")
      const { value: res, advanced, elapsed } = await settle(api("GET", `/v1/kv/${k}?index=${index}&wait=1s`), 250)
      assert.isTrue(advanced >= 1_000 || elapsed >= 1_000, `answered after ${advanced} ms of Consul time, ${elapsed} ms real`)
      assert.strictEqual(res.status, 200)
      assert.strictEqual(res.index, index)
      assert.strictEqual(res.text, text)
    })

    it("a blocking health query wakes on a check status change", async () => {
      const id = unique("svc")
      const name = unique("name")
      await registerTtl({ id, name, ttl: "30s" })
      const { index } = await api("GET", `/v1/health/service/${name}`)
      if (index === undefined) return assert.fail("no X-Consul-Index")
      const blocked = api("GET", `/v1/health/service/${name}?passing=1&index=${index}&wait=10s`)
      await sleep(50)
      await consul.agent.check.pass({ id: `service:${id}` })
      const res = await blocked
      assert.isAbove(res.index ?? 0, index)
      assert.deepStrictEqual(healthEntries(JSON.parse(res.text)).map((e) => e.id), [id])
    })

    it("X-Consul-Index comes through the package with ctx.includeResponse", async () => {
      const k = key("meta")
      await consul.kv.set(k, "v")
      const ctx = Object.assign(new EventEmitter(), { includeResponse: true })
      const options = { key: k, ctx }
      const raw: unknown = await consul.kv.get(options)
      const [res, item] = arr(raw, "[res, data]")
      const headers = rec(rec(res, "response")["headers"], "headers")
      assert.strictEqual(headers["x-consul-index"], String(kvItem(item).modifyIndex))
      assert.strictEqual(headers["x-consul-knownleader"], "true")
    })

    it("a blocking query on a missing key returns once the key is created", async () => {
      const k = key("absent")
      const { status, index } = await api("GET", `/v1/kv/${k}`)
      assert.strictEqual(status, 404)
      if (index === undefined) return assert.fail("no X-Consul-Index on a 404")
      const blocked = api("GET", `/v1/kv/${k}?index=${index}&wait=10s`)
      await sleep(50)
      await consul.kv.set(k, "here")
      const res = await blocked
      assert.strictEqual(res.status, 200)
      assert.isAbove(res.index ?? 0, index)
    })

    it("a prefix's index counts deletes (tombstones), so it never goes back", async () => {
      const p = `${key("tomb")}/`
      await consul.kv.set(`${p}a`, "a")
      await consul.kv.set(`${p}b`, "b")
      const before = await api("GET", `/v1/kv/${p}?recurse`)
      await consul.kv.del(`${p}b`)
      const after = await api("GET", `/v1/kv/${p}?recurse`)
      assert.isAbove(after.index ?? 0, before.index ?? 0)
      const remaining = arr(JSON.parse(after.text), "recurse").map(kvItem)
      assert.isBelow(remaining[0]?.modifyIndex ?? Infinity, after.index ?? 0)
    })

    it("unknown endpoints are a 404", async () => {
      assert.strictEqual((await api("GET", "/v1/no-such-endpoint")).status, 404)
    })
  })
}
