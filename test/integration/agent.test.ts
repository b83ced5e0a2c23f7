// The node agent with real redis-server and redis-sentinel processes, scheduled by the
// same containerpilot.json5 the image ships:
// - a master frozen until Sentinel replaces it, then woken: Consul never shows two
//   masters passing (sampled 4×/s), during the freeze or for 30 s after;
// - a failover: Consul shows the new master passing and the old one not within a
//   second of the first +switch-master (the promise to users; bench:cluster measures
//   the 0.2 s budget);
// - Consul loses its whole state: every node's registrations are back within 10 s;
// - the agent killed: its checks fail at once and ContainerPilot restarts it; the
//   agent frozen: its checks fail (never pass) until it wakes.
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { Redis } from "ioredis"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { readTopology, type Topology } from "../support/cluster/Topology.ts"
import { agentCheck, indexOf, logsOf, type Scenario, scenario, topology, waitFor, waitForSentinelsToKnowReplicas, waitForTopology } from "../support/scenario.ts"

const nodes = [1, 2, 3]

/** Samples Consul's passing masters every `everyMs` until stopped; keeps the largest count seen and when. */
const sampleMasters = (consulAddress: string, everyMs: number) => {
  let running = true
  const seen: Array<{ readonly at: number; readonly masters: ReadonlyArray<string> }> = []
  const done = (async () => {
    while (running) {
      const t: Topology | undefined = await readTopology(consulAddress).catch(() => undefined)
      if (t !== undefined) seen.push({ at: Date.now(), masters: t.masters.map((m) => m.address) })
      await new Promise((r) => setTimeout(r, everyMs))
    }
  })()
  return {
    seen,
    stop: async () => {
      running = false
      await done
    }
  }
}

const check = async (s: Scenario, i: number, path: string): Promise<boolean> => (await agentCheck(s.cluster, i, path)).passed

describe("the node agent keeps Consul true", () => {
  let s: Scenario

  beforeAll(async () => {
    s = await scenario(3)
    await waitForTopology(s.cluster, nodes, 60_000)
    await waitForSentinelsToKnowReplicas(s.cluster, nodes, 2, 30_000)
  })
  afterAll(async () => s?.close())

  it("at rest: manage logs no ERROR or WARN line on any node, and the agent no line per check", async () => {
    const c = s.cluster
    await waitForTopology(c, nodes, 60_000)
    const logOf = (i: number, job: string) => {
      try {
        return readFileSync(join(c.node(i).logDir, `${job}.log`), "utf8")
      } catch {
        return ""
      }
    }
    const jobs = ["agent", "backup"]
    const before = new Map(nodes.flatMap((i) => jobs.map((j) => [`${i}/${j}`, logOf(i, j).length] as const)))
    // Five check intervals at rest: 15 checks per node ran meanwhile.
    const window = 5 * Number(c.node(1).env["HEALTH_INTERVAL"] ?? "5") * 1000
    await new Promise((r) => setTimeout(r, window))
    const added = nodes.flatMap((i) => jobs.flatMap((j) => logOf(i, j).slice(before.get(`${i}/${j}`) ?? 0).split("\n").filter((l) => l !== "").map((l) => `node ${i} ${j}: ${l}`)))
    expect(added.filter((l) => /level=(ERROR|WARN)|"level":"(ERROR|WARN)"|\b(ERROR|WARN)\b/.test(l))).toEqual([])
    const agentLines = added.filter((l) => l.includes(" agent: "))
    expect(agentLines.length, agentLines.join("\n")).toBeLessThan(nodes.length)
  }, 60_000)

  it("a master frozen until Sentinel replaces it, then woken: never two masters passing in Consul", async () => {
    const c = s.cluster
    const before = await topology(c)
    const frozen = indexOf(c, before.masters[0]?.address ?? "")
    const sampler = sampleMasters(c.consulAddress, 250)
    c.freezeProcess(frozen, "redis-server", true)
    let resumedAt = 0
    try {
      await waitFor("another node passing as master", 30_000, () => topology(c), (t) =>
        t.masters.length === 1 && t.masters[0]?.address !== c.node(frozen).address)
    } finally {
      c.freezeProcess(frozen, "redis-server", false)
      resumedAt = Date.now()
    }
    await new Promise((r) => setTimeout(r, 30_000))
    await sampler.stop()
    const after = sampler.seen.filter((x) => x.at >= resumedAt)
    expect(after.length, "sampled at least 4 times a second for 30 s").toBeGreaterThanOrEqual(4 * 30 * 0.9)
    const doubles = sampler.seen.filter((x) => x.masters.length > 1)
    expect(doubles, `two masters passing at ${doubles.map((d) => `${d.at - resumedAt} ms after the resume: ${d.masters.join(", ")}`).join("; ")}`).toEqual([])
    // Sentinel turns the woken master into a replica; its agent then passes it as one.
    await waitFor("the woken master passing as a replica", 30_000, () => topology(c), (t) =>
      t.replicas.some((r) => r.address === c.node(frozen).address) && t.masters.length === 1)
  }, 120_000)

  it("a dead master: Consul shows the new master passing, the old one not, within a second of +switch-master", async () => {
    const c = s.cluster
    await waitForTopology(c, nodes, 60_000)
    await waitForSentinelsToKnowReplicas(c, nodes, 2, 30_000)
    const old = indexOf(c, (await topology(c)).masters[0]?.address ?? "")
    // Every sentinel's events, as a client with failoverDetector sees them.
    let switchedAt = 0
    const subscribers = nodes.map((i) => {
      const sub = new Redis({ host: c.node(i).address, port: c.node(i).sentinelPort, retryStrategy: () => null, lazyConnect: false })
      sub.on("error", () => {})
      void sub.subscribe("+switch-master").catch(() => undefined)
      sub.on("message", () => {
        if (switchedAt === 0) switchedAt = Date.now()
      })
      return sub
    })
    try {
      await waitFor("subscribed", 5_000, async () => Promise.all(subscribers.map((x) => x.status)), (xs) => xs.every((x) => x === "ready"))
      await c.killNode(old)
      // The moment a look starts: the read's own time under load is not the agents'.
      const turned = await waitFor("the registry turned over", 30_000, async () => {
        const at = Date.now()
        return { t: await topology(c), at }
      }, ({ t }) =>
        t.masters.length === 1 && t.masters[0]?.address !== c.node(old).address)
      expect(switchedAt, "a sentinel announced +switch-master").toBeGreaterThan(0)
      console.log(`Consul turned over ${turned.at - switchedAt} ms after the first +switch-master (sampling every 200 ms)`)
      expect(turned.at - switchedAt).toBeLessThanOrEqual(1_000)
    } finally {
      for (const x of subscribers) x.disconnect()
    }
    await c.startNode(old)
    await waitForTopology(c, nodes, 60_000)
  }, 180_000)

  it("Consul loses its whole state: every node's registrations are back within 10 s", async () => {
    const c = s.cluster
    const consul = c.consul
    if (consul === undefined) throw new Error("this scenario needs the emulator")
    const before = await waitForTopology(c, nodes, 60_000)
    // Proof that the state is gone, which no node writes back (the agents re-register
    // within moments, so an empty service list may already be gone when asked).
    const marker = `http://${c.consulAddress}/v1/kv/test/state-marker`
    expect((await fetch(marker, { method: "PUT", body: "before" })).ok).toBe(true)
    await consul.restartEmpty()
    const lostAt = Date.now()
    expect((await fetch(marker)).status, "Consul forgot its state").toBe(404)
    const back = await waitFor("every registration back", 10_000, () => topology(c), (t) =>
      t.masters.length === 1 && t.replicas.length === 2 && t.sentinels.length === 3)
    console.log(`registrations back ${Date.now() - lostAt} ms after Consul lost its state`)
    expect(back.masters.map((m) => m.address)).toEqual(before.masters.map((m) => m.address))
  }, 120_000)

  it("the agent killed: its checks fail at once, and ContainerPilot restarts it", async () => {
    const c = s.cluster
    await waitForTopology(c, nodes, 60_000)
    const i = 2
    const pid = c.node(i).pid("agent")
    expect(pid).toBeDefined()
    const path = (await topology(c)).masters[0]?.address === c.node(i).address ? "/master" : "/replica"
    expect(await check(s, i, path)).toBe(true)
    c.killProcess(i, "agent")
    expect(await check(s, i, path), "no agent, no pass").toBe(false)
    try {
      await waitFor("a new agent passing the check", 30_000, async () => ({ pid: c.node(i).pid("agent"), ok: await check(s, i, path) }), (x) =>
        x.ok && x.pid !== undefined && x.pid !== pid)
    } catch (e) {
      throw new Error(`${String(e)}\n${logsOf(c, i)}`)
    }
  }, 60_000)

  it("the agent frozen: its checks fail, never pass, until it wakes", async () => {
    const c = s.cluster
    await waitForTopology(c, nodes, 60_000)
    const i = 3
    expect(await check(s, i, "/sentinel")).toBe(true)
    c.freezeProcess(i, "agent", true)
    try {
      const started = Date.now()
      expect(await check(s, i, "/sentinel"), "a hung agent fails the check").toBe(false)
      expect(Date.now() - started).toBeLessThan(10_000)
    } finally {
      c.freezeProcess(i, "agent", false)
    }
    await waitFor("passing again", 10_000, () => check(s, i, "/sentinel"), (ok) => ok)
  }, 60_000)
})
