// Given a 3-node cluster secured as the README's Security section shows: TLS on every
// link (a CA and node certificates made here with openssl; Consul over HTTPS too with
// the real Consul and ContainerPilot), least-privilege users (REDIS_APP_PASSWORD) and
// every secret given as a file. Then the cluster founds, an application connecting
// as the README shows reads and writes, plaintext and a client not trusting the CA are
// refused, each user can do exactly its part, switchover, a SIGKILL failover (Sentinel
// reconfiguring with its own user), a graceful stop, a backup and a restore into a
// brand-new cluster all work, and no secret shows in any process's command line or
// environment, any log line or any answer of the agents' API.
import { connect } from "node:net"
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
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
import { clientTlsOf, makeTestPki, type TestPki } from "../support/tls.ts"

const password = "Adm1n-tls-test-password"
const appPassword = "App-tls-test-password-2"

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
    socket.on("connect", () => socket.write(`AUTH manage ${password}\r\nPING\r\n`))
    socket.on("data", (d) => {
      answer += d.toString("latin1")
    })
    socket.on("close", done)
    socket.on("error", done)
  })

/** The error a TLS client meets, or "connected". */
const tlsAttempt = async (host: string, port: number, tls: Readonly<Record<string, unknown>>): Promise<string> => {
  const client = new Redis({ host, port, username: "manage", password, tls, lazyConnect: true, connectTimeout: 3_000, maxRetriesPerRequest: 0, retryStrategy: () => null })
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

describe("a secured cluster: TLS on every link, least-privilege users, secrets from files", () => {
  let s: Scenario | undefined
  let pki: TestPki
  let pkiDir = ""
  let backups = ""
  const keys = 300

  const cluster = () => s?.cluster ?? expect.fail("the cluster was not started")
  const secured = () => ({
    REDIS_PASSWORD_FILE: `${pkiDir}/redis_password`,
    REDIS_APP_PASSWORD_FILE: `${pkiDir}/redis_app_password`,
    // The same as the passwords at first (harmless); a rotation changes what they hold.
    REDIS_PASSWORD_ACCEPTED_FILE: `${pkiDir}/redis_password_accepted`,
    REDIS_APP_PASSWORD_ACCEPTED_FILE: `${pkiDir}/redis_app_password_accepted`,
    REDIS_APP_USER: "web",
    BACKUP_STORE: "local",
    BACKUP_DIR: backups
  })

  beforeAll(async () => {
    pkiDir = scratchDir("pki")
    backups = scratchDir("backups")
    pki = makeTestPki(pkiDir)
    writeFileSync(`${pkiDir}/redis_password`, `${password}\n`, { mode: 0o600 })
    writeFileSync(`${pkiDir}/redis_app_password`, `${appPassword}\n`, { mode: 0o600 })
    writeFileSync(`${pkiDir}/redis_password_accepted`, `${password}\n`, { mode: 0o600 })
    writeFileSync(`${pkiDir}/redis_app_password_accepted`, `${appPassword}\n`, { mode: 0o600 })
    s = await scenario(3, secured(), {
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

  it("founds a master and two replicas; an application through the sentinels, as its own user, reads and writes over TLS", async () => {
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

  it("each user can do exactly its part: replication only replicates, Sentinel has its documented ACL, the application reads and writes, the default user is off", async () => {
    const c = cluster()
    const t = await topology(c)
    const n = c.node(indexOf(c, t.masters[0]?.address ?? ""))
    const conf = readFileSync(`${n.configDir}/redis.conf`, "utf8")
    const sentinelConf = readFileSync(`${n.configDir}/sentinel.conf`, "utf8")
    const replicationPassword = /^masterauth (\S+)$/m.exec(conf)?.[1] ?? expect.fail("no masterauth")
    const sentinelPassword = /^sentinel auth-pass mymaster (\S+)$/m.exec(sentinelConf)?.[1] ?? expect.fail("no auth-pass")
    const tls = { ca: readPem(pki.caFile) }
    const as = (username: string | undefined, pw: string, port = n.redisPort) => userClient(n.address, port, tls, username, pw)

    const replication = as("replication", replicationPassword)
    expect(await replication(["GET", "key:7"])).toMatch(/NOPERM/)
    expect(await replication(["SET", "x", "1"])).toMatch(/NOPERM/)
    expect(await replication(["PING"])).toBe("PONG")

    const sentinel = as("sentinel", sentinelPassword)
    expect(await sentinel(["FLUSHALL"])).toMatch(/NOPERM/)
    expect(await sentinel(["CONFIG", "SET", "maxmemory", "1"])).toMatch(/NOPERM/)
    expect(await sentinel(["GET", "key:7"])).toMatch(/NOPERM/)
    expect(await sentinel(["ROLE"])).toMatch(/^master/)

    const app = as("web", appPassword)
    expect(await app(["SET", "from-app", "yes"])).toBe("OK")
    expect(await app(["GET", "key:7"])).toBe("7")
    expect(await app(["DEL", "from-app"])).toBe("1")
    for (const command of [["FLUSHALL"], ["CONFIG", "SET", "maxmemory", "1"], ["SHUTDOWN"], ["REPLICAOF", "NO", "ONE"]]) {
      expect(await app(command), command.join(" ")).toMatch(/NOPERM/)
    }
    const appOnSentinel = as("web", appPassword, n.sentinelPort)
    expect(await appOnSentinel(["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"])).toMatch(new RegExp(`^${n.address}`))
    expect(await appOnSentinel(["SENTINEL", "FAILOVER", "mymaster"])).toMatch(/NOPERM/)

    // The default user is off: REDIS_PASSWORD alone, without the manage user, is refused.
    expect(await as(undefined, password)(["PING"])).toMatch(/WRONGPASS|NOAUTH|invalid|disabled/i)
    expect(await as("manage", password)(["CONFIG", "GET", "maxmemory"])).toMatch(/maxmemory/)
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

  it("no secret in any process's command line or environment, any log line, or any answer of the agents' API or manage status", async () => {
    const c = cluster()
    const first = c.node(1)
    const conf = readFileSync(`${first.configDir}/redis.conf`, "utf8")
    const sentinelConf = readFileSync(`${first.configDir}/sentinel.conf`, "utf8")
    const keyBodies = c.nodes().map((i) => readPem(c.node(i).env["TLS_KEY_FILE"] ?? "").split("\n")[1] ?? expect.fail("no key body"))
    const secrets = [
      password,
      appPassword,
      /^masterauth (\S+)$/m.exec(conf)?.[1] ?? expect.fail("no masterauth"),
      /^sentinel auth-pass mymaster (\S+)$/m.exec(sentinelConf)?.[1] ?? expect.fail("no auth-pass"),
      ...keyBodies
    ]
    const places: Array<readonly [string, string]> = []
    for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
      for (const part of ["cmdline", "environ"]) {
        try {
          places.push([`/proc/${pid}/${part}`, readFileSync(`/proc/${pid}/${part}`, "latin1")])
        } catch {
          // gone meanwhile, or not ours to read
        }
      }
    }
    const logs = (dir: string): ReadonlyArray<string> =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) => e.isDirectory() ? logs(`${dir}/${e.name}`) : e.name.endsWith(".log") ? [`${dir}/${e.name}`] : [])
    for (const file of logs(c.root)) places.push([file, readFileSync(file, "latin1")])
    for (const i of c.nodes().filter((x) => c.node(x).running())) {
      const n = c.node(i)
      for (const path of ["/status", "/metrics", "/health", "/master", "/replica", "/sentinel"]) {
        const r = await fetch(`http://${n.address}:${n.env["API_PORT"] ?? "8008"}${path}`, { signal: AbortSignal.timeout(5_000) })
        places.push([`node ${i} ${path}`, await r.text()])
      }
    }
    places.push(["manage status --json", await c.manage(1, ["status", "--json"]).catch((e) => String(e))])
    places.push(["manage list", await c.manage(1, ["list"]).catch((e) => String(e))])
    expect(places.length).toBeGreaterThan(20)
    const found = places.flatMap(([where, text]) => secrets.filter((x) => text.includes(x)).map((x) => `${where} holds ${x.slice(0, 4)}…`))
    expect(found).toEqual([])
  })

  it("rotates REDIS_PASSWORD and REDIS_APP_PASSWORD in three rolling restarts (README, Security) while an application keeps writing: every acknowledged write kept, the old passwords refused at the end", async () => {
    const c = cluster()
    const [newPassword, newAppPassword] = ["Adm1n-rotated-password-3", "App-rotated-password-4"]
    const restarts: Array<number> = []
    const put = (file: string, value: string) => writeFileSync(`${pkiDir}/${file}`, `${value}\n`, { mode: 0o600 })
    const rollingRestart = async () => {
      for (const i of c.nodes()) {
        await waitForSentinelsToKnowReplicas(c, [1, 2, 3], 2, 30_000)
        await waitForSentinelsSettled(c, [1, 2, 3], 30_000)
        const started = Date.now()
        await c.stopNode(i)
        await c.startNode(i)
        await waitForTopology(c, [1, 2, 3], 60_000).catch((e) => {
          throw new Error(`${String(e)}\n${logsOf(c, i)}`)
        })
        restarts.push(Date.now() - started)
      }
    }
    // The graceful stop above left its node down.
    for (const i of c.nodes().filter((x) => !c.node(x).running())) await c.startNode(i)
    await waitForTopology(c, [1, 2, 3], 60_000)
    // The application writes through the sentinels; it moves to the new password between
    // the second and the third roll, as an operator would move applications.
    let app = sentinelClient(c, (await topology(c)).sentinels)
    const acked: Array<number> = []
    let refused = 0
    let writing = true
    const writer = (async () => {
      for (let n = 0; writing; n++) {
        try {
          await app.set(`rot:${n}`, String(n))
          acked.push(n)
          // A steady application, not a flood: the check below reads every write back.
          await new Promise((r) => setTimeout(r, 5))
        } catch {
          refused++
          await new Promise((r) => setTimeout(r, 50))
        }
      }
    })()
    try {
      await waitFor("the application writing", 10_000, async () => acked.length, (n) => n > 50)
      // 1: every node also accepts the new passwords.
      put("redis_password_accepted", newPassword)
      put("redis_app_password_accepted", newAppPassword)
      await rollingRestart()
      // 2: every node logs in (replication, Sentinel, manage) with the new one, still accepting the old.
      put("redis_password", newPassword)
      put("redis_password_accepted", password)
      put("redis_app_password", newAppPassword)
      put("redis_app_password_accepted", appPassword)
      await rollingRestart()
      const moved = sentinelClient(c, (await topology(c)).sentinels)
      const old = app
      app = moved
      old.disconnect()
      // 3: the old ones are no longer accepted.
      put("redis_password_accepted", newPassword)
      put("redis_app_password_accepted", newAppPassword)
      await rollingRestart()
      const before = acked.length
      await waitFor("the application writing after the last roll", 20_000, async () => acked.length, (n) => n > before + 50)
    } finally {
      writing = false
      await writer
    }
    const t = await topology(c)
    const master = indexOf(c, t.masters[0]?.address ?? "")
    const missing: Array<number> = []
    const reader = redisOf(c, master)
    try {
      for (let from = 0; from < acked.length; from += 1_000) {
        const chunk = acked.slice(from, from + 1_000)
        const values = await reader.mget(chunk.map((n) => `rot:${n}`))
        chunk.forEach((n, k) => values[k] !== String(n) && missing.push(n))
      }
      console.log(`password rotation: 9 restarts (each to whole again: ${restarts.map((ms) => (ms / 1000).toFixed(1)).join(", ")} s), ${acked.length} writes acknowledged, ${refused} refused or timed out (handovers), ${missing.length} lost`)
      expect(missing).toEqual([])
      // Leaves the dataset the backup holds, for the restore below.
      for (let from = 0; from < acked.length; from += 1_000) await reader.del(...acked.slice(from, from + 1_000).map((n) => `rot:${n}`))
    } finally {
      reader.disconnect()
      app.disconnect()
    }
    // Replication and every sentinel log in with the new passwords: all in sync, all known.
    await waitForSentinelsToKnowReplicas(c, [1, 2, 3], 2, 30_000)
    const n = c.node(master)
    const tls = clientTlsOf(n.env) ?? expect.fail("no TLS")
    const as = (user: string | undefined, pw: string) => userClient(n.address, n.redisPort, tls, user, pw)
    expect(await as("manage", newPassword)(["PING"])).toBe("PONG")
    expect(await as("web", newAppPassword)(["PING"])).toBe("PONG")
    expect(await as("manage", password)(["PING"])).toMatch(/WRONGPASS/)
    expect(await as("web", appPassword)(["PING"])).toMatch(/WRONGPASS/)
    const info = await as("manage", newPassword)(["INFO", "replication"])
    expect(info).toMatch(/connected_slaves:2/)
  }, 600_000)

  it("a brand-new TLS cluster restores the backup", async () => {
    await s?.close()
    s = undefined
    const fresh = await scenario(1, secured(), {
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

/** A one-command client logged in as `username` (the default user when undefined): the reply, or the error's text. */
const userClient = (host: string, port: number, tls: Readonly<Record<string, unknown>>, username: string | undefined, pw: string) =>
async (command: ReadonlyArray<string>): Promise<string> => {
  const client = new Redis({
    host,
    port,
    tls,
    ...(username !== undefined ? { username } : {}),
    password: pw,
    lazyConnect: true,
    connectTimeout: 3_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableReadyCheck: false
  })
  let cause = ""
  client.on("error", (e: Error) => {
    cause ||= e.message
  })
  try {
    await client.connect()
    const [name = "", ...args] = command
    const reply: unknown = await client.call(name, ...args)
    return Array.isArray(reply) ? reply.map(String).join(" ") : String(reply)
  } catch (e) {
    return cause || (e instanceof Error ? e.message : String(e))
  } finally {
    client.disconnect()
  }
}
