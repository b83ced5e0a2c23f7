// The local cluster runner itself (test/support/cluster): one node of real
// redis-server/redis-sentinel under the real ContainerPilot (or its emulation) comes
// up passing in Consul, a killed redis-server is restarted by the job's restart policy
// and passes again, and close() leaves none of its processes, namespaces or rules
// behind. Its own root directory, and in emulated mode its own loopback subnet and
// Consul port, so it never collides with `npm run cluster`.
import { execFileSync } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import { rm } from "node:fs/promises"
import { connect } from "node:net"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import { type Cluster, startCluster } from "../support/cluster/Cluster.ts"
import { passingInstances } from "../support/cluster/Topology.ts"
import { scratchDir } from "../support/scenario.ts"

const HEALTH_TTL_S = 3
const token = process.env["CONSUL_HTTP_TOKEN"]

/** Polls `probe` every 200 ms until it returns a value, failing with `what` after `withinMs`. */
const eventually = async <A>(what: string, withinMs: number, probe: () => Promise<A | undefined>): Promise<A> => {
  const deadline = Date.now() + withinMs
  let last = "no answer yet"
  while (Date.now() < deadline) {
    try {
      const found = await probe()
      if (found !== undefined) return found
    } catch (e) {
      last = e instanceof Error ? e.message : String(e)
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error(`not within ${withinMs / 1000} s: ${what} (last: ${last})`)
}

const ping = (host: string, port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect({ host, port })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1_000, () => done(false))
    socket.once("error", () => done(false))
    socket.once("connect", () => socket.write("PING\r\n"))
    socket.once("data", (chunk) => done(chunk.toString().startsWith("+PONG")))
  })

const passingAt = async (cluster: Cluster, service: string, address: string): Promise<boolean> =>
  (await passingInstances(cluster.consulAddress, service, token)).some((i) => i.address === address)

/** PIDs of live processes whose command line mentions `needle` (Redis shows `redis-server <host>:<port>`). */
const processesMentioning = (needle: string): ReadonlyArray<number> =>
  readdirSync("/proc").filter((d) => /^\d+$/.test(d)).flatMap((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ").includes(needle) ? [Number(pid)] : []
    } catch {
      return [] // exited while we looked
    }
  })

describe("local cluster runner", () => {
  let root = ""
  let cluster: Cluster | undefined
  // A subnet of its own: `npm run cluster` uses 127.0.0.x.
  const prefix = `127.0.${100 + (process.pid % 100)}`
  let address = ""

  beforeAll(async () => {
    root = scratchDir("autopilot-redis-runner")
    cluster = await startCluster({
      nodes: 1,
      root,
      consulPort: 0,
      addressPrefix: prefix,
      env: { HEALTH_INTERVAL: "1", HEALTH_TTL: String(HEALTH_TTL_S), HEALTH_TIMEOUT: "1s" }
    })
    address = cluster.node(1).address
  })

  afterAll(async () => {
    await cluster?.close()
    if (root !== "") await rm(root, { recursive: true, force: true })
  })

  const running = (): Cluster => {
    if (cluster === undefined) throw new Error("the cluster did not start")
    return cluster
  }

  it("given one node, Consul shows it passing as redis and as redis-sentinel within 20 s", async () => {
    const c = running()
    if (c.mode === "emulated") assert.strictEqual(address, `${prefix}.11`)
    await eventually("node 1 passing as redis and redis-sentinel", 20_000, async () =>
      (await passingAt(c, "redis", address)) && (await passingAt(c, "redis-sentinel", address)) ? true : undefined)
  })

  it("when its redis-server is SIGKILLed, ContainerPilot restarts it and the node passes again a full TTL later", async () => {
    const c = running()
    const before = c.node(1).pid("redis-server")
    assert.isDefined(before)
    c.killProcess(1, "redis-server")
    const after = await eventually("a new redis-server process", 10_000, async () => {
      const pid = c.node(1).pid("redis-server")
      return pid !== undefined && pid !== before ? pid : undefined
    })
    await eventually("the restarted redis-server answering PING", 10_000, async () => ((await ping(address, 6379)) ? true : undefined))
    // A heartbeat from before the kill lapses within one TTL: passing after that needs checks passing again.
    const restartedAt = Date.now()
    await eventually(`node 1 passing as redis more than a TTL after the restart`, 20_000, async () => {
      if (!(await passingAt(c, "redis", address))) throw new Error("redis not passing")
      return Date.now() - restartedAt > (HEALTH_TTL_S + 1) * 1000 ? true : undefined
    })
    assert.strictEqual(c.node(1).pid("redis-server"), after)
  })

  it("close() stops every process it started and is idempotent", async () => {
    const c = running()
    const pids = ["redis-server", "redis-sentinel"].map((job) => c.node(1).pid(job))
    await c.close()
    await c.close()
    for (const pid of pids) {
      assert.isDefined(pid)
      assert.throws(() => process.kill(pid ?? 0, 0), /ESRCH/)
    }
    if (c.mode === "emulated") assert.deepStrictEqual(processesMentioning(`${address}:`), [])
    else {
      const mine = new RegExp(`^ar${process.pid.toString(36)}c\\d+[nvb]`, "m")
      assert.notMatch(execFileSync("ip", ["netns", "list"], { encoding: "utf8" }), mine)
      assert.notMatch(execFileSync("ip", ["-o", "link", "show"], { encoding: "utf8" }).replaceAll(/^\d+: /gm, ""), mine)
      assert.notMatch(execFileSync("iptables", ["-S", "FORWARD"], { encoding: "utf8" }), new RegExp(`ar${process.pid.toString(36)}c\\d+b`))
    }
  })
})
