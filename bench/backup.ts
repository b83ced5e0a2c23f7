// `npm run bench:backup`: peak RSS of `manage backup --now` for a small and a large
// dataset (DESIGN.md §10: it must not grow with the dataset; a 1 GiB RDB under
// 150 MiB). A real redis-server is filled with DEBUG POPULATE, Consul is the emulator,
// the store is a local directory (RDB compression off, so the RDB is as large as the
// data). The handler runs as containerpilot.json5's backup job runs it (a 1 MiB young
// generation, through NODE_OPTIONS). Peak RSS is read by a preload in the handler.
import { spawn, spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { startConsulEmulator } from "../test/support/consul/ConsulEmulator.ts"

const host = "127.0.0.64"
const port = 6379
const budgetMiB = 150
// Keys of 1 KiB values: ~64 MiB and ~1 GiB of RDB.
const sizes = (process.env.BENCH_BACKUP_KEYS ?? "65536,1048576").split(",").map(Number)

const work = mkdtempSync(join(tmpdir(), "bench-backup-"))
const preload = join(work, "maxrss.cjs")
const rssFile = join(work, "rss")
writeFileSync(preload, `process.on("exit", () => require("fs").writeFileSync(${JSON.stringify(rssFile)}, String(process.resourceUsage().maxRSS)))\n`)
const consul = await startConsulEmulator({ host: "127.0.0.1", port: 0 })
const redis = spawn("redis-server", ["--bind", host, "--port", String(port), "--dir", work, "--save", "", "--appendonly", "no", "--enable-debug-command", "yes", "--rdbcompression", "no"], { stdio: "ignore" })
const cleanup = async () => {
  if (redis.exitCode === null) redis.kill("SIGKILL")
  await consul.close()
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
  for (const keys of sizes) {
    cli("FLUSHALL")
    cli("DEBUG", "POPULATE", String(keys), "key", "1024")
    const backups = join(work, `backups-${keys}`)
    const started = Date.now()
    // Asynchronous: the Consul emulator runs in this process and must keep answering.
    const r = await run(process.execPath, ["--require", preload, "dist/manage.mjs", "backup", "--now"], {
      env: {
        ...process.env,
        ANNOUNCE_IP: host,
        REDIS_PORT: String(port),
        CONSUL: consul.address,
        DATA_DIR: work,
        CONFIG_DIR: work,
        BACKUP_STORE: "local",
        BACKUP_DIR: backups,
        LOG_LEVEL: "warn",
        NODE_OPTIONS: "--max-semi-space-size=1"
      }
    })
    if (r.status !== 0) throw new Error(`manage backup --now failed: ${r.stderr}`)
    rows.push({
      keys,
      rdbMiB: statSync(join(work, "dump.rdb")).size / 2 ** 20,
      rssMiB: Number(readFileSync(rssFile, "utf8")) / 1024,
      seconds: (Date.now() - started) / 1000
    })
  }
  console.log(`manage backup --now, peak RSS by dataset size (Node ${process.version}, local store)`)
  for (const row of rows) {
    console.log(`RDB ${row.rdbMiB.toFixed(0).padStart(5)} MiB   peak RSS ${row.rssMiB.toFixed(1).padStart(6)} MiB   ${row.seconds.toFixed(1)} s   budget < ${budgetMiB} MiB   ${row.rssMiB < budgetMiB ? "within" : "OVER"}`)
  }
  const [small, large] = [rows[0], rows.at(-1)]
  if (small !== undefined && large !== undefined && large !== small) {
    console.log(`growth: ${(large.rdbMiB / small.rdbMiB).toFixed(1)}× the data, ${(large.rssMiB / small.rssMiB).toFixed(2)}× the peak RSS`)
  }
} finally {
  await cleanup()
}
