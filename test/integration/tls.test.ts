// Given a 3-node cluster with TLS_CERT_FILE, TLS_KEY_FILE and TLS_CA_FILE (a CA and
// node certificates made here with openssl), then every link is TLS: the cluster
// founds, an application connecting as the README shows (TLS to the sentinels and to
// the master) reads and writes, plaintext and a client not trusting the CA are
// refused, and switchover, a SIGKILL failover, a graceful stop, a backup and a
// restore into a brand-new cluster all work as without TLS.
import { connect } from "node:net"
import { readdirSync, readFileSync, rmSync } from "node:fs"
import { Redis } from "ioredis"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  indexOf,
  logsOf,
  redisOf,
  roleOf,
  type Scenario,
  scenario,
  scratchDir,
  sentinelClient,
  topology,
  waitFor,
  waitForSentinelsSettled,
  waitForSentinelsToKnowReplicas,
  waitForTopology
} from "../support/scenario.ts"
import { clusterMode } from "../support/cluster/Cluster.ts"
import { makeTestPki, type TestPki } from "../support/tls.ts"

const password = "tls-test-password"

/** What a server answers a plaintext PING with before closing ("" when it only closes). */
const plaintextAnswer = (host: string, port: number): Promise<string> =>
  new Promise((resolve) => {
    let answer = ""
    const socket = connect({ host, port })
    const done = () => {
      socket.destroy()
      resolve(answer)
    }
    socket.setTimeout(3_000, done)
    socket.on("connect", () => socket.write(`AUTH ${password}\r\nPING\r\n`))
    socket.on("data", (d) => {
      answer += d.toString("latin1")
    })
    socket.on("close", done)
    socket.on("error", done)
  })

/** The error a TLS client meets, or "connected". */
const tlsAttempt = async (host: string, port: number, tls: Readonly<Record<string, unknown>>): Promise<string> => {
  const client = new Redis({ host, port, password, tls, lazyConnect: true, connectTimeout: 3_000, maxRetriesPerRequest: 0, retryStrategy: () => null })
  // ioredis rejects with "Connection is closed."; why it closed is the error event's.
  let cause = ""
  client.on("error", (e: Error) => {
    cause ||= e.message
  })
  try {
    await client.connect()
    await client.ping()
    return "connected"
  } catch (e) {
    return cause || (e instanceof Error ? e.message : String(e))
  } finally {
    client.disconnect()
  }
}

describe("TLS on every link", () => {
  let s: Scenario | undefined
  let pki: TestPki
  let pkiDir = ""
  let backups = ""
  const keys = 300

  const cluster = () => s?.cluster ?? expect.fail("the cluster was not started")

  beforeAll(async () => {
    pkiDir = scratchDir("pki")
    backups = scratchDir("backups")
    pki = makeTestPki(pkiDir)
    s = await scenario(3, { REDIS_PASSWORD: password, BACKUP_STORE: "local", BACKUP_DIR: backups }, {
      perNodeEnv: (i, addressOf) => pki.envFor(`node-${i}`, addressOf(i)),
      // With the real Consul and ContainerPilot, Consul over HTTPS too.
      ...(clusterMode() === "real" ? { consulHttps: pki } : {})
    })
  })
  afterAll(async () => {
    await s?.close()
    s = undefined
    for (const d of [pkiDir, backups]) if (d !== "") rmSync(d, { recursive: true, force: true })
  })

  it("founds a master and two replicas; an application through the sentinels reads and writes over TLS", async () => {
    const c = cluster()
    const t = await waitForTopology(c, [1, 2, 3], 90_000).catch((e) => {
      throw new Error(`${String(e)}\n${logsOf(c, 1)}`)
    })
    await waitForSentinelsToKnowReplicas(c, [1, 2, 3], 2, 30_000)
    const app = sentinelClient(c, t.sentinels)
    try {
      for (let k = 0; k < keys; k++) await app.set(`key:${k}`, String(k))
      expect(await app.get("key:7")).toBe("7")
    } finally {
      app.disconnect()
    }
    // Replication runs over TLS too: every replica holds the writes.
    const master = indexOf(c, t.masters[0]?.address ?? "")
    for (const i of [1, 2, 3].filter((n) => n !== master)) {
      const r = redisOf(c, i)
      await waitFor(`node ${i} holds the keys`, 15_000, () => r.dbsize(), (n) => n === keys)
      r.disconnect()
    }
  })

  it("refuses plaintext on Redis's and Sentinel's ports, and a client that does not trust the CA", async () => {
    const n = cluster().node(1)
    for (const port of [n.redisPort, n.sentinelPort]) {
      const answer = await plaintextAnswer(n.address, port)
      expect(answer, `plaintext on port ${port}`).not.toMatch(/\+OK|\+PONG|-NOAUTH|-WRONGPASS/)
    }
    const other = makeTestPki(`${pkiDir}/other`, "another CA")
    expect(await tlsAttempt(n.address, n.redisPort, { ca: readPem(other.caFile) })).toMatch(/certificate|self.signed|verify/i)
    expect(await tlsAttempt(n.address, n.sentinelPort, { ca: readPem(other.caFile) })).toMatch(/certificate|self.signed|verify/i)
    // The same client trusting the cluster's CA gets in: the refusal was the CA.
    expect(await tlsAttempt(n.address, n.redisPort, { ca: readPem(pki.caFile) })).toBe("connected")
  })

  it("backs up the dataset over TLS", async () => {
    const c = cluster()
    const t = await topology(c)
    const master = indexOf(c, t.masters[0]?.address ?? "")
    const out = await c.manage(master, ["backup", "--now"]).catch((e) => String(e))
    expect(out).not.toMatch(/failed/)
    expect(readdirSync(backups).filter((f) => f.endsWith(".rdb.gz"))).toHaveLength(1)
  })

  it("switches over to a replica", async () => {
    const c = cluster()
    const before = await topology(c)
    const old = before.masters[0]?.address
    const out = await c.manage(1, ["switchover"], { timeoutMs: 60_000 }).catch((e) => String(e))
    const after = await waitFor("another master in Consul after the switchover", 30_000, () => topology(c), (t) =>
      t.masters.length === 1 && t.masters[0]?.address !== old && t.replicas.length === 2).catch((e) => {
      throw new Error(`${String(e)}\n${out}`)
    })
    const master = redisOf(c, indexOf(c, after.masters[0]?.address ?? ""))
    expect(await master.dbsize()).toBe(keys)
    master.disconnect()
  })

  it("fails over when the master is killed, and the killed node rejoins as a replica", async () => {
    const c = cluster()
    await waitForSentinelsToKnowReplicas(c, [1, 2, 3], 2, 30_000)
    await waitForSentinelsSettled(c, [1, 2, 3], 30_000)
    const old = indexOf(c, (await topology(c)).masters[0]?.address ?? "")
    const killedAt = Date.now()
    await c.killNode(old)
    const t = await waitFor("another node passing as redis, the old one not", 30_000, () => topology(c), (x) =>
      x.masters.length === 1 && x.masters[0]?.address !== c.node(old).address)
    console.log(`TLS: registry turned over ${Date.now() - killedAt} ms after the kill (SENTINEL_DOWN_AFTER=2s)`)
    expect(await roleOf(c, indexOf(c, t.masters[0]?.address ?? ""))).toBe("master")
    await c.startNode(old)
    await waitForTopology(c, [1, 2, 3], 60_000)
    expect(await roleOf(c, old)).toBe("slave")
  })

  it("hands over when the master stops gracefully", async () => {
    const c = cluster()
    await waitForSentinelsToKnowReplicas(c, [1, 2, 3], 2, 30_000)
    await waitForSentinelsSettled(c, [1, 2, 3], 30_000)
    const old = indexOf(c, (await topology(c)).masters[0]?.address ?? "")
    await c.stopNode(old)
    const t = await waitFor("another node passing as redis", 30_000, () => topology(c), (x) =>
      x.masters.length === 1 && x.masters[0]?.address !== c.node(old).address).catch((e) => {
      throw new Error(`${String(e)}\n${logsOf(c, old)}`)
    })
    const master = redisOf(c, indexOf(c, t.masters[0]?.address ?? ""))
    expect(await master.get("key:7")).toBe("7")
    master.disconnect()
  })

  it("a brand-new TLS cluster restores the backup", async () => {
    await s?.close()
    s = undefined
    const fresh = await scenario(1, { REDIS_PASSWORD: password, BACKUP_STORE: "local", BACKUP_DIR: backups }, {
      perNodeEnv: (i, addressOf) => pki.envFor(`fresh-${i}`, addressOf(i))
    })
    try {
      await waitFor("the new cluster's master passing", 60_000, () => topology(fresh.cluster), (t) => t.masters.length === 1)
      const master = redisOf(fresh.cluster, 1)
      expect(await master.dbsize()).toBe(keys)
      master.disconnect()
    } finally {
      await fresh.close()
    }
  })
})

const readPem = (path: string): string => readFileSync(path, "utf8")
