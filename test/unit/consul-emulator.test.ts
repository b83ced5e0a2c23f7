// The Consul emulator: the shared contract (the same suite a real Consul passes),
// then what only an emulator can do: fault modes, ACL token enforcement and a
// manual clock that drives TTLs, session expiry, lock-delays and blocking queries.
import Consul from "consul"
import { request } from "node:http"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import { type ConsulEmulator, type ConsulEmulatorOptions, startConsulEmulator } from "../support/consul/ConsulEmulator.ts"
import { consulContract, describeFailure, failure, outcome } from "../support/consul/contract.ts"

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Runs `body` with a fresh emulator and a client, closing both even when it fails. */
const withEmulator = async (
  options: ConsulEmulatorOptions,
  body: (emulator: ConsulEmulator, consul: Consul) => Promise<void>,
  token?: string
): Promise<void> => {
  const emulator = await startConsulEmulator(options)
  const consul = new Consul({ host: emulator.host, port: emulator.port, defaults: token !== undefined ? { token } : {} })
  try {
    await body(emulator, consul)
  } finally {
    consul.destroy()
    await emulator.close()
  }
}

const contractOn = (name: string, options: ConsulEmulatorOptions, token?: string) =>
  describe(name, () => {
    let emulator: ConsulEmulator | undefined
    const started = (): ConsulEmulator => {
      if (emulator === undefined) throw new Error("the emulator did not start")
      return emulator
    }
    beforeAll(async () => {
      emulator = await startConsulEmulator(options)
    })
    afterAll(async () => {
      await emulator?.close()
    })
    consulContract("emulator", {
      host: "127.0.0.1",
      get port() {
        return started().port
      },
      ...(token !== undefined ? { token } : {}),
      advance: (ms) => Promise.resolve(started().advance(ms))
    })
  })

contractOn("Consul emulator, manual clock", { clock: "manual" })
contractOn("Consul emulator with an ACL token", { clock: "manual", aclToken: "s3cret" }, "s3cret")

const api = async (emulator: ConsulEmulator, method: string, path: string, body?: string, headers: Record<string, string> = {}) => {
  const res = await fetch(`http://${emulator.address}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) })
  const index = res.headers.get("x-consul-index")
  return { status: res.status, text: await res.text(), index: index === null ? undefined : Number(index), type: res.headers.get("content-type") }
}

const register = (emulator: ConsulEmulator, service: Record<string, unknown>) =>
  api(emulator, "PUT", "/v1/agent/service/register", JSON.stringify(service))

const checkOf = (emulator: ConsulEmulator, serviceId: string) =>
  emulator.services().find((s) => s.id === serviceId)?.checks[0]

/** A request with no client timeout; resolves with how it ended. */
const rawGet = (emulator: ConsulEmulator, path: string) =>
  new Promise<string>((resolve) => {
    const req = request({ host: emulator.host, port: emulator.port, path, agent: false }, (res) => {
      res.resume()
      res.on("end", () => resolve(`answered ${res.statusCode}`))
    })
    req.on("error", (e) => resolve(`error ${describeFailure(e).code ?? e.message}`))
    req.end()
  })

describe("Consul emulator fault modes", () => {
  it("down refuses connections at once; back to normal, the state is still there", () =>
    withEmulator({}, async (emulator, consul) => {
      await consul.kv.set("fault/k", "v")
      await register(emulator, { ID: "redis-1", Name: "redis", Port: 6379, Check: { TTL: "1h", Status: "passing" } })
      await emulator.setMode("down")
      const t0 = performance.now()
      const refused = await failure(consul.kv.get("fault/k"))
      assert.strictEqual(refused.code, "ECONNREFUSED")
      assert.isBelow(performance.now() - t0, 1_000)
      await emulator.setMode("normal")
      const item: unknown = await consul.kv.get("fault/k")
      assert.deepInclude(item, { Key: "fault/k", Value: "v" })
      assert.deepStrictEqual(emulator.services().map((s) => s.id), ["redis-1"])
    }))

  it("hang accepts and never answers: a 300 ms client timeout fires; held sockets are dropped on mode change and on close", () =>
    withEmulator({}, async (emulator, consul) => {
      await consul.kv.set("fault/k", "v")
      await emulator.setMode("hang")
      const t0 = performance.now()
      const options = { key: "fault/k", timeout: 300 }
      const timedOut = await failure(consul.kv.get(options))
      assert.isTrue(timedOut.isTimeout, timedOut.message)
      assert.isAtLeast(performance.now() - t0, 250)

      const heldThroughModeChange = rawGet(emulator, "/v1/kv/fault/k")
      await sleep(50)
      await emulator.setMode("normal")
      assert.match(await heldThroughModeChange, /^error/)
      assert.deepInclude(await consul.kv.get("fault/k"), { Value: "v" })

      await emulator.setMode("hang")
      const heldThroughClose = rawGet(emulator, "/v1/kv/fault/k")
      await sleep(50)
      const closing = performance.now()
      await emulator.close()
      assert.isBelow(performance.now() - closing, 1_000)
      assert.match(await heldThroughClose, /^error/)
    }))

  it("garbage answers 200 with truncated JSON the client cannot decode, and does not act on writes", () =>
    withEmulator({}, async (emulator, consul) => {
      await consul.kv.set("fault/k", "v")
      await emulator.setMode("garbage")
      assert.match((await failure(consul.kv.get("fault/k"))).message, /decode \(application\/json\) failed/)
      assert.match((await failure(consul.health.service("redis"))).message, /decode/)
      assert.match((await failure(consul.kv.set("fault/k", "changed"))).message, /decode/)
      const raw = await api(emulator, "GET", "/v1/status/leader")
      assert.deepStrictEqual([raw.status, raw.type, raw.text], [200, "application/json", "{\"garbage\":"])
      await emulator.setMode("normal")
      assert.deepInclude(await consul.kv.get("fault/k"), { Value: "v" })
    }))

  it("setMode after close is refused", async () => {
    const emulator = await startConsulEmulator()
    await emulator.close()
    await emulator.close()
    assert.match((await failure(emulator.setMode("down"))).message, /closed/)
  })
})

describe("Consul emulator ACL token", () => {
  it("403 without the token (Permission denied) or with another one (ACL not found); header, ?token= and Bearer work", () =>
    withEmulator({ aclToken: "s3cret" }, async (emulator, consul) => {
      const denied = await failure(consul.kv.get("acl/k"))
      assert.strictEqual(denied.statusCode, 403)
      assert.match(denied.message, /Permission denied/)
      assert.strictEqual((await api(emulator, "GET", "/v1/kv/acl/k", undefined, { "X-Consul-Token": "wrong" })).text, "ACL not found")
      assert.strictEqual((await api(emulator, "PUT", "/v1/kv/acl/k?token=s3cret", "v")).text, "true")
      assert.strictEqual((await api(emulator, "GET", "/v1/kv/acl/k?raw", undefined, { "X-Consul-Token": "s3cret" })).text, "v")
      assert.strictEqual((await api(emulator, "GET", "/v1/kv/acl/k?raw", undefined, { Authorization: "Bearer s3cret" })).text, "v")
      assert.strictEqual((await api(emulator, "GET", "/v1/status/leader")).status, 200)
      const denial = await api(emulator, "PUT", "/v1/agent/service/register", JSON.stringify({ Name: "x" }))
      assert.deepStrictEqual([denial.status, denial.type], [403, "text/plain; charset=utf-8"])
      assert.deepStrictEqual(emulator.services(), [])
    }))
})

describe("Consul emulator manual clock", () => {
  it("a TTL check expires exactly at its TTL", () =>
    withEmulator({ clock: "manual" }, async (emulator) => {
      await register(emulator, { ID: "redis-1", Name: "redis", Check: { TTL: "10s", Status: "passing" } })
      emulator.advance(9_999)
      assert.strictEqual(checkOf(emulator, "redis-1")?.status, "passing")
      emulator.advance(1)
      assert.deepInclude(checkOf(emulator, "redis-1"), { status: "critical", output: "TTL expired" })
    }))

  it("a session expires at 2×TTL; its lock-delay ends exactly LockDelay later", () =>
    withEmulator({ clock: "manual" }, async (emulator, consul) => {
      const { ID: a } = await consul.session.create({ ttl: "10s", checks: [] })
      const { ID: b } = await consul.session.create({ checks: [] })
      assert.isTrue(await outcome(consul.kv.set({ key: "locks/leader", value: "a", acquire: a })))
      emulator.advance(19_999)
      assert.strictEqual(emulator.kv("locks/leader")?.session, a)
      emulator.advance(1)
      const released = emulator.kv("locks/leader")
      assert.deepStrictEqual([released?.value, released?.session, released?.lockIndex], ["a", undefined, 1])
      emulator.advance(14_999)
      assert.isFalse(await outcome(consul.kv.set({ key: "locks/leader", value: "b", acquire: b })))
      emulator.advance(1)
      assert.isTrue(await outcome(consul.kv.set({ key: "locks/leader", value: "b", acquire: b })))
      assert.deepInclude(emulator.kv("locks/leader"), { value: "b", session: b, lockIndex: 2 })
    }))

  it("lock-delay is capped at 60s when applied, and reported as given", () =>
    withEmulator({ clock: "manual" }, async (emulator, consul) => {
      const { ID: a } = await consul.session.create({ lockdelay: "2m", checks: [] })
      const { ID: b } = await consul.session.create({ checks: [] })
      const info: unknown = await consul.session.info(a)
      assert.deepInclude(info, { LockDelay: 120_000_000_000 })
      assert.isTrue(await outcome(consul.kv.set({ key: "k", value: "a", acquire: a })))
      await consul.session.destroy(a)
      emulator.advance(59_999)
      assert.isFalse(await outcome(consul.kv.set({ key: "k", value: "b", acquire: b })))
      emulator.advance(1)
      assert.isTrue(await outcome(consul.kv.set({ key: "k", value: "b", acquire: b })))
    }))

  it("a blocking query waits out `wait` only on the manual clock, and wakes when a TTL expiry changes health", () =>
    withEmulator({ clock: "manual" }, async (emulator, consul) => {
      await consul.kv.set("k", "v")
      const { index } = await api(emulator, "GET", "/v1/kv/k")
      let answered = false
      const quiet = api(emulator, "GET", `/v1/kv/k?index=${index}&wait=1s`).finally(() => (answered = true))
      await sleep(100)
      assert.isFalse(answered)
      emulator.advance(1_000 + 1_000 / 16)
      assert.strictEqual((await quiet).index, index)

      await register(emulator, { ID: "redis-1", Name: "redis", Check: { TTL: "10s", Status: "passing" } })
      const before = await api(emulator, "GET", "/v1/health/service/redis?passing")
      const woken = api(emulator, "GET", `/v1/health/service/redis?passing&index=${before.index}&wait=5m`)
      await sleep(50)
      emulator.advance(10_000)
      const after = await woken
      assert.isAbove(after.index ?? 0, before.index ?? 0)
      assert.strictEqual(after.text, "[]")
    }))

  it("DeregisterCriticalServiceAfter (floored at 1m) reaps on the 30s reaper tick after the check was critical that long", () =>
    withEmulator({ clock: "manual" }, async (emulator) => {
      await register(emulator, { ID: "redis-1", Name: "redis", Check: { TTL: "1h", DeregisterCriticalServiceAfter: "10s" } })
      emulator.advance(60_000)
      assert.deepStrictEqual(emulator.services().map((s) => s.id), ["redis-1"])
      emulator.advance(30_000)
      assert.deepStrictEqual(emulator.services(), [])
    }))

  it("an output-only change reaches health within check_update_interval; a status change at once", () =>
    withEmulator({ clock: "manual" }, async (emulator, consul) => {
      await register(emulator, { ID: "redis-1", Name: "redis", Check: { TTL: "1h", Status: "passing" } })
      const output = async () => {
        const [entry] = (await api(emulator, "GET", "/v1/health/checks/redis")).text.match(/"Output":"[^"]*"/g) ?? []
        return entry
      }
      await consul.agent.check.pass({ id: "service:redis-1", note: "first" })
      assert.strictEqual(checkOf(emulator, "redis-1")?.output, "first")
      assert.strictEqual(await output(), "\"Output\":\"\"")
      emulator.advance(7.5 * 60_000)
      assert.strictEqual(await output(), "\"Output\":\"first\"")
      await consul.agent.check.warn({ id: "service:redis-1", note: "second" })
      assert.strictEqual(await output(), "\"Output\":\"second\"")
    }))

  it("service maintenance adds a critical _service_maintenance check until disabled", () =>
    withEmulator({ clock: "manual" }, async (emulator) => {
      await register(emulator, { ID: "redis-1", Name: "redis", Check: { TTL: "1h", Status: "passing" } })
      assert.strictEqual((await api(emulator, "PUT", "/v1/agent/service/maintenance/redis-1?enable=true&reason=upgrade")).status, 200)
      const health = await api(emulator, "GET", "/v1/health/service/redis")
      assert.include(health.text, "\"CheckID\":\"_service_maintenance:redis-1\"")
      assert.include(health.text, "\"Notes\":\"upgrade\"")
      assert.strictEqual((await api(emulator, "GET", "/v1/health/service/redis?passing")).text, "[]")
      await api(emulator, "PUT", "/v1/agent/service/maintenance/redis-1?enable=false")
      assert.notStrictEqual((await api(emulator, "GET", "/v1/health/service/redis?passing")).text, "[]")
      assert.strictEqual((await api(emulator, "PUT", "/v1/agent/service/maintenance/nope?enable=true")).status, 404)
      assert.strictEqual((await api(emulator, "PUT", "/v1/agent/service/maintenance/redis-1?enable=maybe")).status, 400)
    }))

  it("advance() needs the manual clock", () =>
    withEmulator({}, async (emulator) => {
      assert.throws(() => emulator.advance(1), /manual/)
    }))
})
