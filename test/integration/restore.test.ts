// Given a cluster with data and a backup store, when a backup is taken and a
// brand-new cluster starts (fresh Consul, empty data directories, the same store),
// then it restores the backup and serves the keys. A corrupted backup stops
// pre-start with a clear error and the data directory stays empty.
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { generateTestKey } from "../support/manta/keys.ts"
import { testHost } from "../support/cluster/Cluster.ts"
import { type MantaEmulator, startMantaEmulator } from "../support/manta/MantaEmulator.ts"
import { redisOf, scenario, scratchDir, topology, waitFor } from "../support/scenario.ts"

const keys = 500

/** A one-node cluster that writes `keys` keys and takes a backup with `manage backup --now`. */
const backedUp = async (env: Readonly<Record<string, string>>): Promise<void> => {
  const s = await scenario(1, env)
  try {
    await waitFor("node 1 master", 30_000, () => topology(s.cluster), (t) => t.masters.length === 1)
    const master = redisOf(s.cluster, 1)
    for (let k = 0; k < keys; k++) await master.set(`key:${k}`, `value ${k}`)
    master.disconnect()
    const out = await s.cluster.manage(1, ["backup", "--now"]).catch((e) => String(e))
    expect(out).not.toMatch(/failed/)
  } finally {
    await s.close()
  }
}

/** A brand-new one-node cluster on the same store; resolves once it serves `keys` keys. */
const restored = async (env: Readonly<Record<string, string>>): Promise<number> => {
  const s = await scenario(1, env)
  try {
    await waitFor("the new cluster's master passing", 60_000, () => topology(s.cluster), (t) => t.masters.length === 1)
    const master = redisOf(s.cluster, 1)
    const size = await master.dbsize()
    expect(await master.get("key:123")).toBe("value 123")
    master.disconnect()
    return size
  } finally {
    await s.close()
  }
}

describe("backup and restore into a brand-new cluster", () => {
  const dirs: Array<string> = []
  let manta: MantaEmulator | undefined
  afterAll(async () => {
    await manta?.close()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })
  const newDir = () => {
    const d = scratchDir("backups")
    dirs.push(d)
    return d
  }

  it("local store (a directory shared like a volume): the new cluster restores and serves the keys", async () => {
    const env = { BACKUP_STORE: "local", BACKUP_DIR: newDir() }
    await backedUp(env)
    expect(readdirSync(env.BACKUP_DIR).filter((f) => f.endsWith(".rdb.gz"))).toHaveLength(1)
    expect(await restored(env)).toBe(keys)
  })

  it("Manta (the signature-verifying emulator): the new cluster restores and serves the keys", async () => {
    const key = generateTestKey("ecdsa")
    manta = await startMantaEmulator({ accounts: [{ login: "alice", keys: [key.publicKeySsh] }], host: testHost().listen, publicHost: testHost().name })
    const env = { BACKUP_STORE: "manta", MANTA_URL: manta.nodeUrl, MANTA_USER: "alice", MANTA_PRIVATE_KEY: key.privateKey.replaceAll("\n", "#") }
    await backedUp(env)
    expect((await manta.list("/alice/stor/redis")).filter((f) => f.endsWith(".rdb.gz"))).toHaveLength(1)
    expect(await restored(env)).toBe(keys)
    expect(manta.requests().every((r) => r.signed)).toBe(true)
  })

  it("a corrupted backup stops pre-start with a clear error; the data directory stays empty", async () => {
    const env = { BACKUP_STORE: "local", BACKUP_DIR: newDir() }
    await backedUp(env)
    const object = readdirSync(env.BACKUP_DIR).filter((f) => f.endsWith(".rdb.gz")).sort().at(-1) ?? ""
    const bytes = readFileSync(join(env.BACKUP_DIR, object))
    const middle = Math.floor(bytes.length / 2)
    bytes[middle] = (bytes[middle] ?? 0) ^ 0xff
    writeFileSync(join(env.BACKUP_DIR, object), bytes)

    const s = await scenario(1, env)
    try {
      const log = join(s.cluster.node(1).logDir, "preStart.log")
      const text = await waitFor("pre-start to fail on the checksum", 30_000, async () => (existsSync(log) ? readFileSync(log, "utf8") : ""), (t) =>
        /checksum mismatch/.test(t))
      expect(text).toMatch(/restore of redis-\S+ failed, the data directory is untouched: checksum mismatch/)
      expect((await topology(s.cluster)).masters).toEqual([])
      const data = s.cluster.node(1).dataDir
      // Every entry counts, dot-files too: the restore stages in .restore-<pid>.
      expect(existsSync(data) ? readdirSync(data) : []).toEqual([])
    } finally {
      await s.close()
    }
  })
})
