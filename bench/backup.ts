// `npm run bench:backup`: peak RSS of `manage backup --now` for a small and a large
// dataset (DESIGN.md §10: it must not grow with the dataset; a 1 GiB RDB under
// 150 MiB). A real redis-server is filled with DEBUG POPULATE, Consul is the emulator,
// the store is a local directory (RDB compression off, so the RDB is as large as the
// data). The handler runs as containerpilot.json5's backup job runs it (a 1 MiB young
// generation, through NODE_OPTIONS). Peak RSS is read by a preload in the handler.
// Then the same handler uploads incompressible data to the Manta emulator, once at
// loopback speed and once through a link far slower than reading and compressing the
// RDB: without backpressure the difference would pile up in memory.
import { spawn, spawnSync } from "node:child_process"
import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { randomBytes } from "node:crypto"
import { Redis } from "ioredis"
import { exitIfOver, verdict } from "./budget.ts"
import { startConsulEmulator } from "../test/support/consul/ConsulEmulator.ts"
import { generateTestKey } from "../test/support/manta/keys.ts"
import { startMantaEmulator } from "../test/support/manta/MantaEmulator.ts"
import { scratchDir } from "../test/support/scenario.ts"

const host = "127.0.0.64"
const port = 6379
const budgetMiB = 150
// Keys of 1 KiB values: ~64 MiB and ~1 GiB of RDB.
const sizes = (process.env.BENCH_BACKUP_KEYS ?? "65536,1048576").split(",").map(Number)
// Incompressible MiB for the Manta case, and the slow link's rate: 48 MiB at 2 MiB/s is a 24 s upload.
const mantaMiB = Number(process.env.BENCH_BACKUP_MANTA_MIB ?? "48")
const slowRate = 2 * 1024 * 1024

const work = scratchDir("bench-backup")
const preload = join(work, "maxrss.cjs")
const rssFile = join(work, "rss")
// VmHWM, not resourceUsage().maxRSS: Linux carries ru_maxrss across execve, so a child
// spawned (forked) from this process reports at least this process's RSS at the fork.
writeFileSync(preload, `process.on("exit", () => require("fs").writeFileSync(${JSON.stringify(rssFile)}, /VmHWM:\\s*(\\d+)/.exec(require("fs").readFileSync("/proc/self/status", "utf8"))[1]))\n`)
const consul = await startConsulEmulator({ host: "127.0.0.1", port: 0 })
const mantaKey = generateTestKey("ecdsa")
const manta = await startMantaEmulator({ accounts: [{ login: "alice", keys: [mantaKey.publicKeySsh] }], storageDir: work })
const redis = spawn("redis-server", ["--bind", host, "--port", String(port), "--dir", work, "--save", "", "--appendonly", "no", "--enable-debug-command", "yes", "--rdbcompression", "no"], { stdio: "ignore" })
const cleanup = async () => {
  if (redis.exitCode === null) redis.kill("SIGKILL")
  await consul.close()
  await manta.close()
  rmSync(work, { recursive: true, force: true })
}

const run = (command: string, args: ReadonlyArray<string>, options: { readonly env: NodeJS.ProcessEnv }) =>
  new Promise<{ readonly status: number | null; readonly stderr: string }>((resolve) => {
    const child = spawn(command, args, { env: options.env, stdio: ["ignore", "ignore", "pipe"] })
    let stderr = ""
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
    child.on("close", (status) => resolve({ status, stderr }))
  })

const cli = (...args: ReadonlyArray<string>) => spawnSync("redis-cli", ["-h", host, "-p", String(port), ...args], { encoding: "utf8" }).stdout.trim()
try {
  for (let i = 0; i < 100 && cli("PING") !== "PONG"; i++) spawnSync("sleep", ["0.05"])
  const rows: Array<{ readonly keys: number; readonly rdbMiB: number; readonly rssMiB: number; readonly seconds: number }> = []
  /** One `manage backup --now` as ContainerPilot's job runs it: peak RSS and wall time. */
  const backupOnce = async (store: Readonly<Record<string, string>>) => {
    const started = Date.now()
    // Asynchronous: the Consul and Manta emulators run in this process and must keep answering.
    const r = await run(process.execPath, ["--require", preload, "dist/manage.mjs", "backup", "--now"], {
      env: {
        ...process.env,
        ANNOUNCE_IP: host,
        REDIS_PORT: String(port),
        CONSUL: consul.address,
        DATA_DIR: work,
        CONFIG_DIR: work,
        LOG_LEVEL: "warn",
        NODE_OPTIONS: "--max-semi-space-size=1",
        ...store
      }
    })
    if (r.status !== 0) throw new Error(`manage backup --now failed: ${r.stderr}`)
    return { rdbMiB: statSync(join(work, "dump.rdb")).size / 2 ** 20, rssMiB: Number(readFileSync(rssFile, "utf8")) / 1024, seconds: (Date.now() - started) / 1000 }
  }
  for (const keys of sizes) {
    cli("FLUSHALL")
    cli("DEBUG", "POPULATE", String(keys), "key", "1024")
    rows.push({ keys, ...(await backupOnce({ BACKUP_STORE: "local", BACKUP_DIR: join(work, `backups-${keys}`) })) })
  }

  cli("FLUSHALL")
  const client = new Redis({ host, port, lazyConnect: false })
  try {
    const fill = client.pipeline()
    for (let i = 0; i < mantaMiB * 16; i++) fill.set(`random:${i}`, randomBytes(64 * 1024))
    await fill.exec()
  } finally {
    client.disconnect()
  }
  const toManta = { BACKUP_STORE: "manta", MANTA_URL: manta.nodeUrl, MANTA_USER: "alice", MANTA_PRIVATE_KEY: mantaKey.privateKey.replaceAll("\n", "#") }
  manta.setRates({})
  const fast = await backupOnce(toManta)
  manta.setRates({ upload: slowRate })
  const slow = await backupOnce(toManta)
  console.log(`manage backup --now, peak RSS by dataset size (Node ${process.version}, local store)`)
  for (const row of rows) {
    console.log(`RDB ${row.rdbMiB.toFixed(0).padStart(5)} MiB   peak RSS ${row.rssMiB.toFixed(1).padStart(6)} MiB   ${row.seconds.toFixed(1)} s   budget < ${budgetMiB} MiB   ${verdict(`backup peak RSS, ${row.rdbMiB.toFixed(0)} MiB RDB (MiB)`, row.rssMiB, budgetMiB, false)}`)
  }
  const [small, large] = [rows[0], rows.at(-1)]
  if (small !== undefined && large !== undefined && large !== small) {
    console.log(`growth: ${(large.rdbMiB / small.rdbMiB).toFixed(1)}× the data, ${(large.rssMiB / small.rssMiB).toFixed(2)}× the peak RSS`)
  }
  console.log(`\nmanage backup --now to the Manta emulator, ${fast.rdbMiB.toFixed(0)} MiB RDB of incompressible data`)
  console.log(`loopback speed        peak RSS ${fast.rssMiB.toFixed(1).padStart(6)} MiB   ${fast.seconds.toFixed(1)} s   ${verdict("backup to Manta peak RSS, loopback (MiB)", fast.rssMiB, budgetMiB, false)}`)
  console.log(`link at ${(slowRate / 2 ** 20).toFixed(0)} MiB/s        peak RSS ${slow.rssMiB.toFixed(1).padStart(6)} MiB   ${slow.seconds.toFixed(1)} s   ${(slow.rssMiB / fast.rssMiB).toFixed(2)}× the fast run's RSS   ${verdict("backup to Manta peak RSS, slow link (MiB)", slow.rssMiB, budgetMiB, false)}`)
  exitIfOver()
} finally {
  await cleanup()
}
