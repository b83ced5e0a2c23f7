// Given a three-node cluster with REDIS_PASSWORD set, Sentinel is as closed as Redis:
// a client without the password (or with a wrong one) is refused SENTINEL FAILOVER,
// SET and REMOVE and changes nothing; the handlers and agents authenticate (the
// cluster forms and every check passes); a sentinel restarted on the file it rewrote
// itself starts again; and an application given `sentinelPassword` keeps writing
// through a failover, which needs the sentinels to authenticate to each other.
import { readFileSync } from "node:fs"
import { connect } from "node:net"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  indexOf,
  logsOf,
  redisOf,
  type Scenario,
  scenario,
  sentinelClient,
  sentinelOf,
  topology,
  waitFor,
  waitForSentinelsToKnowReplicas,
  waitForTopology
} from "../support/scenario.ts"

// A backslash and a '#' mid-line: both must read back the same from the unquoted
// lines Sentinel writes when it rewrites sentinel.conf.
const password = "s3cr\\et#pw"
const nodes = [1, 2, 3]

/**
 * The first line of each reply to `commands`, sent in order on one plain TCP
 * connection, as any container on the network could: no client library deciding what
 * to send first. Errors and simple replies are one line each.
 */
const rawReplies = (host: string, port: number, commands: ReadonlyArray<ReadonlyArray<string>>): Promise<ReadonlyArray<string>> =>
  new Promise((resolve, reject) => {
    const socket = connect({ host, port })
    let received = ""
    const lines = () => received.split("\r\n").slice(0, -1)
    const done = () => {
      clearTimeout(timer)
      socket.destroy()
      resolve(lines())
    }
    const timer = setTimeout(done, 5_000)
    socket.on("error", (e) => {
      clearTimeout(timer)
      reject(e)
    })
    socket.on("close", done)
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("utf8")
      if (lines().length >= commands.length) done()
    })
    socket.write(commands.map((c) => `*${c.length}\r\n${c.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`).join(""))
  })

describe("Sentinel with REDIS_PASSWORD set", () => {
  let s: Scenario
  beforeAll(async () => {
    s = await scenario(3, { REDIS_PASSWORD: password })
  })
  afterAll(async () => s?.close())

  it("forms a cluster (the handlers and agents authenticate to every sentinel)", async () => {
    const c = s.cluster
    await waitForTopology(c, nodes, 60_000).catch((e) => {
      throw new Error(`${String(e)}\n${nodes.map((i) => logsOf(c, i)).join("\n")}`)
    })
  })

  it("refuses SENTINEL FAILOVER, SET and REMOVE without the password or with a wrong one, and changes nothing", async () => {
    const c = s.cluster
    const before = await waitForTopology(c, nodes, 60_000)
    const master = before.masters[0]?.address ?? ""
    const commands = [["SENTINEL", "FAILOVER", "mymaster"], ["SENTINEL", "SET", "mymaster", "quorum", "1"], ["SENTINEL", "REMOVE", "mymaster"]]
    for (const i of nodes) {
      const { address, sentinelPort } = c.node(i)
      expect(await rawReplies(address, sentinelPort, commands), `node ${i}, no password`).toEqual(commands.map(() => "-NOAUTH Authentication required."))
      const wrong = await rawReplies(address, sentinelPort, [["AUTH", "wrong"], ...commands])
      expect(wrong[0], `node ${i}, a wrong password`).toMatch(/^-WRONGPASS/)
      expect(wrong.slice(1), `node ${i}, after a wrong password`).toEqual(commands.map(() => "-NOAUTH Authentication required."))
      expect(await rawReplies(address, sentinelPort, [["AUTH", password], ["PING"]]), `node ${i}, the password`).toEqual(["+OK", "+PONG"])
      const own = sentinelOf(c, i)
      try {
        expect(await own.call("SENTINEL", "get-master-addr-by-name", "mymaster")).toEqual([master, "6379"])
        const state = await own.call("SENTINEL", "master", "mymaster")
        const quorum = Array.isArray(state) ? state[state.indexOf("quorum") + 1] : undefined
        expect(quorum, `node ${i}'s quorum`).toBe("2")
      } finally {
        own.disconnect()
      }
    }
    const after = await topology(c)
    expect(after.masters.map((m) => m.address)).toEqual([master])
  })

  it("a sentinel restarted on the file it rewrote itself comes back and passes", async () => {
    const c = s.cluster
    await waitForTopology(c, nodes, 60_000)
    const i = 2
    const conf = readFileSync(join(c.node(i).configDir, "sentinel.conf"), "utf8")
    // Sentinel rewrites its file at start; these are the unquoted lines it wrote.
    expect(conf).toContain(`sentinel sentinel-pass ${password}\n`)
    expect(conf).toContain(`sentinel auth-pass mymaster ${password}\n`)
    const pid = c.node(i).pid("redis-sentinel")
    c.killProcess(i, "redis-sentinel")
    await waitFor("node 2's sentinel restarted and answering", 20_000, async () => {
      const own = sentinelOf(c, i)
      try {
        return { pid: c.node(i).pid("redis-sentinel"), master: await own.call("SENTINEL", "get-master-addr-by-name", "mymaster") }
      } finally {
        own.disconnect()
      }
    }, (x) => x.pid !== undefined && x.pid !== pid && Array.isArray(x.master)).catch((e) => {
      throw new Error(`${String(e)}\n${logsOf(c, i)}`)
    })
    await waitForTopology(c, nodes, 30_000)
  })

  it("an application with sentinelPassword keeps writing through a failover: the sentinels authenticate to each other", async () => {
    const c = s.cluster
    const t = await waitForTopology(c, nodes, 60_000)
    await waitForSentinelsToKnowReplicas(c, nodes, 2, 30_000)
    const oldMaster = indexOf(c, t.masters[0]?.address ?? "")
    const client = sentinelClient(c, t.sentinels)
    const acked: Array<number> = []
    let lastError = ""
    let writing = true
    const writer = (async () => {
      for (let n = 0; writing; n++) {
        try {
          await client.set(`w:${n}`, String(n))
          acked.push(n)
        } catch (e) {
          lastError = `${new Date().toISOString()} ${String(e)}`
          await new Promise((r) => setTimeout(r, 50))
        }
      }
    })()
    try {
      await waitFor("the application writing through Sentinel", 10_000, async () => acked.length, (n) => n > 100)
      await c.killNode(oldMaster)
      const after = await waitFor("another node passing as redis", 30_000, () => topology(c), (x) =>
        x.masters.length === 1 && x.masters[0]?.address !== c.node(oldMaster).address).catch((e) => {
        throw new Error(`${String(e)}\n${nodes.filter((i) => i !== oldMaster).map((i) => logsOf(c, i)).join("\n")}`)
      })
      const atSwitch = acked.length
      // A loaded run once saw the writes stop here: say what the application got, and what the nodes did.
      await waitFor("the application writing to the new master", 20_000, async () => acked.length, (n) => n > atSwitch + 100).catch((e) => {
        throw new Error(`${String(e)}; the application's last error: ${lastError} (client ${client.status})\n${nodes.filter((i) => i !== oldMaster).map((i) => logsOf(c, i)).join("\n")}`)
      })
      const newMaster = indexOf(c, after.masters[0]?.address ?? "")
      const reader = redisOf(c, newMaster)
      try {
        const last = acked[acked.length - 1] ?? -1
        expect(await reader.get(`w:${last}`)).toBe(String(last))
      } finally {
        reader.disconnect()
      }
    } finally {
      writing = false
      await writer
      client.disconnect()
    }
  }, 120_000)
})
