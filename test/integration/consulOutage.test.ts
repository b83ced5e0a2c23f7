// Given a running cluster, when Consul is unreachable for 20 s, then the health checks
// ContainerPilot runs still answer, and pass, within HEALTH_TIMEOUT (the agent judges
// from Redis and Sentinel, not from Consul), an operator's `manage health` agrees,
// Redis keeps serving, and once Consul returns the registry shows the same master,
// replicas and sentinels again.
import { Option } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { parseGoDuration } from "../../src/domain/EnvValue.ts"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import {
  addresses,
  agentCheck,
  indexOf,
  logsOf,
  redisOf,
  roleOf,
  type Scenario,
  scenario,
  scenarioEnv,
  topology,
  waitFor,
  waitForSentinelsSettled,
  waitForSentinelsToKnowReplicas,
  waitForTopology
} from "../support/scenario.ts"

const healthTimeoutMs = Option.getOrThrow(parseGoDuration(scenarioEnv["HEALTH_TIMEOUT"] ?? ""))

describe("Consul unavailable for 20 s", () => {
  let s: Scenario
  beforeAll(async () => {
    s = await scenario(3)
  })
  afterAll(async () => s?.close())

  it("every check passes within HEALTH_TIMEOUT, Redis serves, the registry is right again afterwards", async () => {
    const c = s.cluster
    const before = await waitForTopology(c, [1, 2, 3], 60_000)
    const master = indexOf(c, before.masters[0]?.address ?? "")
    const replica = indexOf(c, before.replicas[0]?.address ?? "")
    const consul = c.consul
    if (consul === undefined) throw new Error("this scenario needs the emulator (it takes Consul down)")

    await consul.setMode("down")
    const downSince = Date.now()
    const client = redisOf(c, master)
    const checks: Array<{ readonly what: string; readonly passed: boolean; readonly ms: number }> = []
    let operatorChecks = 0
    let writes = 0
    try {
      while (Date.now() - downSince < 20_000) {
        for (const [i, path] of [[master, "/master"], [replica, "/replica"], [master, "/sentinel"], [replica, "/sentinel"]] as const) {
          checks.push({ what: `node ${i} ${path}`, ...await agentCheck(c, i, path) })
        }
        await client.set(`during-outage:${writes}`, "ok")
        writes += 1
      }
      // The operator's command gives the same verdicts (rejects on a failing one).
      await c.manage(master, ["health", "master"])
      await c.manage(replica, ["health", "replica"])
      await c.manage(master, ["health-sentinel"])
      operatorChecks = 3
    } finally {
      client.disconnect()
      await consul.setMode("normal")
    }
    console.log(`during the outage: ${checks.length} checks, slowest ${Math.max(...checks.map((x) => x.ms))} ms; ${writes} writes served`)
    expect(checks.filter((x) => !x.passed).map((x) => x.what)).toEqual([])
    expect(checks.filter((x) => x.ms >= healthTimeoutMs).map((x) => `${x.what}: ${x.ms} ms`)).toEqual([])
    expect(operatorChecks).toBe(3)
    expect(writes).toBeGreaterThan(5)

    const after = await waitForTopology(c, [1, 2, 3], 30_000)
    expect(addresses(after.masters)).toEqual(addresses(before.masters))
    expect(addresses(after.replicas)).toEqual(addresses(before.replicas))
  })

  it("a master stopping while Consul is down still hands over: pre-stop asks the sentinels (Sentinel needs no Consul), a replica is master before the old one is gone", async () => {
    const c = s.cluster
    const consul = c.consul
    if (consul === undefined) throw new Error("this scenario needs a Consul it controls")
    await waitForTopology(c, [1, 2, 3], 60_000)
    await waitForSentinelsToKnowReplicas(c, [1, 2, 3], 2, 30_000)
    await waitForSentinelsSettled(c, [1, 2, 3], 30_000)
    const master = indexOf(c, (await topology(c)).masters[0]?.address ?? "")
    const others = c.nodes().filter((i) => i !== master)
    await consul.setMode("down")
    try {
      await c.stopNode(master)
      const logs = readdirSync(c.node(master).logDir).map((f) => readFileSync(join(c.node(master).logDir, f), "utf8")).join("\n")
      expect(logs, logsOf(c, master)).toMatch(/pre-stop: handed over to /)
      // Sentinel promoted on pre-stop's request, not after down-after: a replica was master when the stop returned.
      expect((await Promise.all(others.map((i) => roleOf(c, i)))).filter((r) => r === "master")).toHaveLength(1)
    } finally {
      await consul.setMode("normal")
    }
    await c.startNode(master)
    const after = await waitFor("the old master back as a replica, one master passing", 60_000, () => topology(c), (t) =>
      t.masters.length === 1 && t.replicas.length === 2 && addresses(t.replicas).includes(c.node(master).address))
    expect(after.masters[0]?.address).not.toBe(c.node(master).address)
  })
})
