// `npm run bench:handlers`: the cost of one health-check run (`manage health master`
// against a real local redis-server) next to a bare `node -e 0`, measured in the same
// run and printed as ratios against the DESIGN.md §10 budget (1.6× in wall time and
// peak RSS); exits 1 when over. Runs alternate between the two commands so background load hits both
// alike. Peak RSS is read by a one-line preload that both commands get.
import { spawn, spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

import { exitIfOver, verdict } from "./budget.ts"

const runs = Number(process.env.BENCH_RUNS ?? 30)
const budget = 1.6
const host = "127.0.0.61"
const port = 6379
const work = mkdtempSync(join(tmpdir(), "bench-handlers-"))
const preload = join(work, "maxrss.cjs")
const rssFile = join(work, "rss")
writeFileSync(preload, `process.on("exit", () => require("fs").appendFileSync(${JSON.stringify(rssFile)}, process.resourceUsage().maxRSS + "\\n"))\n`)

const redis = spawn("redis-server", ["--bind", host, "--port", String(port), "--save", "", "--appendonly", "no", "--dir", work], { stdio: "ignore" })
// The master check passes only where the local Sentinel names this node master (DESIGN.md §3).
const sentinelConf = join(work, "sentinel.conf")
writeFileSync(sentinelConf, `bind ${host}\nport 26379\ndir ${work}\nsentinel monitor mymaster ${host} ${port} 1\n`)
const sentinel = spawn("redis-sentinel", [sentinelConf], { stdio: "ignore" })
const stopRedis = () => {
  if (redis.exitCode === null) redis.kill("SIGKILL")
  if (sentinel.exitCode === null) sentinel.kill("SIGKILL")
}
process.on("exit", () => {
  stopRedis()
  rmSync(work, { recursive: true, force: true })
})

const env = {
  ...process.env,
  ANNOUNCE_IP: host,
  REDIS_PORT: String(port),
  CONSUL: "127.0.0.1:1",
  CONFIG_DIR: work,
  DATA_DIR: work,
  // As in the image: the V8 compile cache persists between runs.
  NODE_COMPILE_CACHE: join(work, "compile-cache")
}

const once = (args: ReadonlyArray<string>): { readonly ms: number; readonly status: number | null } => {
  const started = process.hrtime.bigint()
  const r = spawnSync(process.execPath, ["--require", preload, ...args], { env, stdio: "ignore" })
  return { ms: Number(process.hrtime.bigint() - started) / 1e6, status: r.status }
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2
}

const waitForRedis = () => {
  for (let i = 0; i < 100; i++) {
    if (spawnSync("redis-cli", ["-h", host, "-p", String(port), "PING"], { encoding: "utf8" }).stdout.trim() === "PONG") return
    spawnSync("sleep", ["0.05"])
  }
  throw new Error(`redis-server did not answer on ${host}:${port}`)
}

waitForRedis()
const baseline = ["-e", "0"]
const handler = ["dist/manage.mjs", "health", "master"]
if (once(handler).status !== 0) throw new Error("`manage health master` did not pass against the local redis-server")
for (let i = 0; i < 3; i++) once(handler) // warm the compile cache and the page cache

const times = { baseline: [] as Array<number>, handler: [] as Array<number> }
const rss = { baseline: [] as Array<number>, handler: [] as Array<number> }
const lastRss = () => Number(readFileSync(rssFile, "utf8").trim().split("\n").at(-1))
for (let i = 0; i < runs; i++) {
  for (const [name, args] of [["baseline", baseline], ["handler", handler]] as const) {
    const r = once(args)
    if (r.status !== 0) throw new Error(`${name} run failed with ${r.status}`)
    times[name].push(r.ms)
    rss[name].push(lastRss())
  }
}
stopRedis()

const row = (label: string, base: number, value: number, unit: string) => {
  const ratio = value / base
  return `${label.padEnd(10)} node -e 0 ${base.toFixed(1).padStart(7)} ${unit}   manage health master ${value.toFixed(1).padStart(7)} ${unit}   ratio ${ratio.toFixed(2)}×   budget ${budget}×   ${verdict(`manage health master / node -e 0, ${label.trim()}`, ratio, budget)}`
}
console.log(`manage health master vs bare node, ${runs} alternating runs each, medians (Node ${process.version})`)
console.log(row("wall time", median(times.baseline), median(times.handler), "ms"))
console.log(row("peak RSS", median(rss.baseline) / 1024, median(rss.handler) / 1024, "MiB"))
exitIfOver()
