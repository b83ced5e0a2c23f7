// Backups against a Manta as real as the emulator makes it: HTTPS with a private CA
// (NODE_EXTRA_CA_CERTS, as an operator would set it), a throttled link, stalls, and a
// subuser acting through a role. `manage` runs as ContainerPilot runs it, with the
// production timings (a 30 s header deadline, BACKUP_STALL_TIMEOUT where the
// scenario does not shorten it).
import { randomBytes } from "node:crypto"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { Agent as HttpsAgent } from "node:https"
import { join } from "node:path"
import manta from "manta"
import { afterEach, describe, expect, it } from "vitest"
import { type Cluster, testHost } from "../support/cluster/Cluster.ts"
import { generateTestKey } from "../support/manta/keys.ts"
import { type EmulatorAccount, type MantaEmulator, startMantaEmulator } from "../support/manta/MantaEmulator.ts"
import { testTls } from "../support/manta/tls.ts"
import { redisOf, type Scenario, scenario, topology, waitFor } from "../support/scenario.ts"

const owner = generateTestKey("rsa")
const bob = generateTestKey("ed25519")
const accounts: ReadonlyArray<EmulatorAccount> = [{
  login: "alice",
  keys: [owner.publicKeySsh],
  subusers: [{ login: "bob", keys: [bob.publicKeySsh] }],
  roles: [{ name: "backup", members: ["bob"], defaultMembers: ["bob"], rules: ["getobject", "getdirectory", "putobject", "putdirectory", "deleteobject"] }]
}]

/**
 * 256 KiB/s and ~9.4 MiB of incompressible data (gzip cannot shrink it): the upload
 * takes ≥ 37 s whatever this machine's speed, beyond the 30 s request timeout that
 * used to cover the whole PUT, at a CI cost of under a minute.
 */
const rate = 256 * 1024
const values = 600
const valueBytes = 16 * 1024

const ownerEnv = (emu: MantaEmulator, extra: Readonly<Record<string, string>> = {}): Record<string, string> => ({
  BACKUP_STORE: "manta",
  MANTA_URL: emu.nodeUrl,
  MANTA_USER: "alice",
  MANTA_PRIVATE_KEY: owner.privateKey.replaceAll("\n", "#"),
  NODE_EXTRA_CA_CERTS: testTls.caFile,
  ...extra
})

const started: Array<Scenario> = []
const emulators: Array<MantaEmulator> = []
afterEach(async () => {
  for (const s of started.splice(0)) await s.close()
  for (const e of emulators.splice(0)) await e.close()
})

const emulator = async (): Promise<MantaEmulator> => {
  const emu = await startMantaEmulator({ accounts, tls: testTls.server, host: testHost().listen, publicHost: testHost().name })
  emulators.push(emu)
  return emu
}

/** A one-node cluster whose master holds `count` random values; afterEach closes it. */
const clusterWithData = async (env: Readonly<Record<string, string>>, count: number): Promise<Cluster> => {
  const s = await scenario(1, env)
  started.push(s)
  await waitFor("node 1 master", 30_000, () => topology(s.cluster), (t) => t.masters.length === 1)
  const master = redisOf(s.cluster, 1)
  try {
    const pipeline = master.pipeline()
    for (let k = 0; k < count; k++) pipeline.set(`key:${k}`, randomBytes(valueBytes))
    await pipeline.exec()
  } finally {
    master.disconnect()
  }
  return s.cluster
}

const backupNow = (cluster: Cluster, timeoutMs = 30_000): Promise<string> =>
  cluster.manage(1, ["backup", "--now"], { timeoutMs }).catch((e: unknown) => Promise.reject(e instanceof Error ? e : new Error(String(e))))

const lastBackupInConsul = async (cluster: Cluster): Promise<number> =>
  (await fetch(`http://${cluster.consulAddress}/v1/kv/service/redis/last-backup`)).status

const backupsIn = async (emu: MantaEmulator): Promise<ReadonlyArray<string>> => emu.list("/alice/stor/redis")

describe("backups to Manta over HTTPS, bounded by progress", () => {
  it("an upload slower than the old 30 s request timeout succeeds (SHA256 MANTA_KEY_ID, production timings)", async () => {
    const emu = await emulator()
    emu.setRates({ upload: rate })
    const cluster = await clusterWithData(ownerEnv(emu, { MANTA_KEY_ID: owner.fingerprintSha256 }), values)
    const begun = Date.now()
    await backupNow(cluster, 120_000)
    const took = Date.now() - begun
    const names = await backupsIn(emu)
    const object = names.find((n) => n.endsWith(".rdb.gz")) ?? ""
    const bytes = (await emu.readObject(`/alice/stor/redis/${object}`))?.length ?? 0
    expect(bytes).toBeGreaterThan(values * valueBytes)
    // The rate alone makes it this long: a contract of the emulator, not this machine's speed.
    expect(took).toBeGreaterThan((bytes / rate) * 1000)
    expect(took).toBeGreaterThan(30_000)
    expect(names.filter((n) => n.endsWith(".manifest.json"))).toHaveLength(1)
    expect(await lastBackupInConsul(cluster)).toBe(200)
    expect(emu.requests().every((r) => r.signed)).toBe(true)
  })

  it("an upload that stalls mid-body fails within BACKUP_STALL_TIMEOUT and records nothing", async () => {
    const emu = await emulator()
    const cluster = await clusterWithData(ownerEnv(emu, { BACKUP_STALL_TIMEOUT: "5s" }), 2 * values)
    // More than loopback's socket buffers absorb, so the body stops mid-way for the client too.
    const stall = emu.stallNext({ direction: "upload", afterBytes: 1024 * 1024, path: /\.rdb\.gz$/ })
    const failure = await backupNow(cluster).then(() => "succeeded", (e: Error) => e.message)
    const failedAt = Date.now()
    const stalledAt = await stall.stalled
    expect(failure).toMatch(/backup failed, nothing was recorded: backup store manta https:\/\/(127\.0\.0\.1|host\.test):\d+\/alice\/stor\/redis put redis-\S+\.rdb\.gz: timeout \(no byte moved for 5s \(BACKUP_STALL_TIMEOUT\) after \d+\.\d MiB sent\)/)
    // The window: the client's last byte moved when the stall began (or just after, as socket buffers filled).
    expect(failedAt - stalledAt).toBeGreaterThanOrEqual(4_500)
    expect(failedAt - stalledAt).toBeLessThan(5_000 + 5_000)
    expect(await backupsIn(emu)).toEqual([])
    expect(await lastBackupInConsul(cluster)).toBe(404)
  })

  it("a restore whose download stalls fails within BACKUP_STALL_TIMEOUT and leaves the data directory untouched", async () => {
    const emu = await emulator()
    const env = ownerEnv(emu, { BACKUP_STALL_TIMEOUT: "5s" })
    await backupNow(await clusterWithData(env, values / 2))
    for (const s of started.splice(0)) await s.close()

    const stall = emu.stallNext({ direction: "download", afterBytes: 512 * 1024, path: /\.rdb\.gz$/ })
    const s = await scenario(1, env)
    started.push(s)
    const log = join(s.cluster.node(1).logDir, "preStart.log")
    const text = await waitFor("pre-start to fail on the stall", 60_000, async () => (existsSync(log) ? readFileSync(log, "utf8") : ""), (t) => /restore of \S+ failed/.test(t))
    expect(text).toMatch(/restore of redis-\S+ failed, the data directory is untouched: backup store manta \S+ get redis-\S+\.rdb\.gz: timeout \(no byte moved for 5s \(BACKUP_STALL_TIMEOUT\) after 0\.5 MiB received\)/)
    const stalledAt = await stall.stalled
    const abandonedAt = await stall.abandoned
    expect(abandonedAt - stalledAt).toBeGreaterThanOrEqual(4_900)
    expect(abandonedAt - stalledAt).toBeLessThan(5_000 + 5_000)
    const data = s.cluster.node(1).dataDir
    expect(existsSync(data) ? readdirSync(data) : []).toEqual([])
    expect((await topology(s.cluster)).masters).toEqual([])
  })
})

describe("a subuser's backups (role backup, MD5 MANTA_KEY_ID)", () => {
  it("fails naming the untagged directory and the command; once tagged, backs up, and a new cluster restores from it", async () => {
    const emu = await emulator()
    const env = ownerEnv(emu, {
      MANTA_SUBUSER: "bob",
      MANTA_ROLE: "backup",
      MANTA_KEY_ID: bob.fingerprintMd5,
      MANTA_PRIVATE_KEY: bob.privateKey.replaceAll("\n", "#")
    })
    const cluster = await clusterWithData(env, 50)
    const refused = await backupNow(cluster).then(() => "succeeded", (e: Error) => e.message)
    expect(refused).toContain(
      "mkdir /alice/stor/redis: rejected (/alice/stor has no role tag for any active role of alice/bob (MANTA_ROLE=backup), so Manta refuses putdirectory there (NoMatchingRoleTag). As the account owner, tag it: mchmod +backup /alice/stor, or create /alice/stor/redis tagged: mmkdir --role-tag=backup /alice/stor/redis)"
    )
    expect(await lastBackupInConsul(cluster)).toBe(404)

    // The README's step, as the account owner: mmkdir --role-tag=backup ~~/stor/redis
    const alice = manta.createClient({
      url: emu.url,
      user: "alice",
      sign: manta.privateKeySigner({ key: owner.privateKey, user: "alice" }),
      retry: false,
      agent: new HttpsAgent({ ca: testTls.ca })
    })
    try {
      await new Promise<void>((resolve, reject) =>
        alice.mkdir("/alice/stor/redis", { headers: { "role-tag": "backup" } }, (err) => (err === null ? resolve() : reject(err))))
    } finally {
      alice.close()
    }
    await backupNow(cluster)
    expect((await backupsIn(emu)).filter((n) => n.endsWith(".rdb.gz"))).toHaveLength(1)
    for (const s of started.splice(0)) await s.close()

    const fresh = await scenario(1, env)
    started.push(fresh)
    await waitFor("the new cluster's master passing", 60_000, () => topology(fresh.cluster), (t) => t.masters.length === 1)
    const master = redisOf(fresh.cluster, 1)
    try {
      expect(await master.dbsize()).toBe(50)
    } finally {
      master.disconnect()
    }
  })
})
