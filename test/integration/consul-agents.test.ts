// A Consul agent per node (CONSUL_AGENT), on the real Consul (CONSUL_BIN): a server and
// two client agents, as two nodes of the Swarm stack would have. A node's checks live in
// its own agent; when that node dies with its agent, no other agent can update them, and
// Consul's gossip takes seconds to declare the node failed. The node that Sentinel
// promoted must still retire the old master at once: through the catalog.
import { existsSync, rmSync } from "node:fs"
import { join } from "node:path"
import { Duration, Effect, Layer } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Timings } from "../../src/domain/Timings.ts"
import { Consul } from "../../src/layers/Consul.ts"
import { Settings } from "../../src/layers/Settings.ts"
import { type RealConsul, startRealConsul } from "../support/consul/RealConsul.ts"
import { fastTimings } from "../support/harness.ts"
import { scratchDir, waitFor } from "../support/scenario.ts"

const bin = process.env.CONSUL_BIN
const available = bin !== undefined && bin !== "" && existsSync(bin)
const net = `127.0.${100 + (process.pid % 40)}`

/** `f` through the Consul layer of a node whose own agent is at `address`. */
const through = <A>(address: string, f: (consul: Consul["Service"]) => Effect.Effect<A, unknown>): Promise<A> =>
  Effect.runPromise(
    Consul.use(f).pipe(
      Effect.provide(Consul.layer.pipe(Layer.provide(Layer.mergeAll(Settings.layerFrom({ CONSUL: address, ANNOUNCE_IP: "10.0.0.1" }), Layer.succeed(Timings, fastTimings))), Layer.orDie))
    )
  )

describe.skipIf(!available)("a Consul agent per node (real Consul: one server, two client agents)", () => {
  let dir = ""
  let server: RealConsul | undefined
  let agentA: RealConsul | undefined
  let agentB: RealConsul | undefined

  beforeAll(async () => {
    dir = scratchDir("consul-agents")
    server = await startRealConsul({ bin: bin ?? "", bind: `${net}.1`, logFile: join(dir, "server.log") })
    const client = (i: number, node: string) =>
      startRealConsul({ bin: bin ?? "", bind: `${net}.${i}`, logFile: join(dir, `${node}.log`), client: { node, join: `${net}.1`, dataDir: join(dir, node) } })
    ;[agentA, agentB] = await Promise.all([client(2, "node-a"), client(3, "node-b")])
  }, 60_000)
  afterAll(async () => {
    await Promise.all([agentA?.close(), agentB?.close()])
    await server?.close()
    if (dir !== "") rmSync(dir, { recursive: true, force: true })
  })

  it("the new master's node fails the dead old master's check in the catalog at once; its own agent could not", async () => {
    const a = agentA?.address ?? ""
    const b = agentB?.address ?? ""
    const ttl = Duration.seconds(15)
    await through(a, (c) => c.register({ id: "redis-node-a", name: "redis", address: `${net}.2`, port: 6379, ttl, status: "passing" }))
    await through(b, (c) => c.register({ id: "redis-node-b", name: "redis", address: `${net}.3`, port: 6379, ttl, status: "passing" }))
    const passing = () => through(b, (c) => c.instances("redis")).then((all) => all.filter((i) => i.passing).map((i) => i.id).sort())
    await waitFor("both registrations in the catalog", 10_000, passing, (ids) => ids.length === 2)

    // Node A's host is lost: its agent gone without leaving.
    await agentA?.kill()
    const killed = Date.now()
    const old = (await through(b, (c) => c.instances("redis"))).find((i) => i.id === "redis-node-a")
    if (old === undefined) return expect.fail("node A's registration is gone already")
    expect(old.node).toBe("node-a")
    expect(old.passing, "gossip has not declared node A failed yet: Consul shows two masters").toBe(true)

    // Node B's agent does not hold node A's check.
    expect(await through(b, (c) => c.setCheck("service:redis-node-a", "critical", "node B is the master now"))).toBe(false)
    await through(b, (c) => c.failInCatalog(old, "service:redis-node-a", "node B is the master now"))
    expect(await passing()).toEqual(["redis-node-b"])
    const retired = (await through(b, (c) => c.instances("redis"))).find((i) => i.id === "redis-node-a")
    expect(retired?.checks.find((c) => c.checkId === "service:redis-node-a")?.status).toBe("critical")
    console.log(`old master retired through the catalog ${Date.now() - killed} ms after its agent died`)

    // Consul's own verdict comes later (and does not undo the catalog's).
    await waitFor(
      "node A's serfHealth critical",
      60_000,
      () => through(b, (c) => c.instances("redis")).then((all) => all.find((i) => i.id === "redis-node-a")?.checks.find((c) => c.checkId === "serfHealth")?.status),
      (status) => status === "critical"
    )
    console.log(`gossip declared node A failed ${Date.now() - killed} ms after its agent died`)
    expect(await passing()).toEqual(["redis-node-b"])
  }, 90_000)
})
