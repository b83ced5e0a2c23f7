// `npm run bench:cli`: what one operator command costs to start and answer, on a
// healthy three-node cluster of real processes (the local runner): wall time, CPU
// time and peak RSS of `manage --help` (parsing and help only) and of `manage status` / `manage
// list` (where the build has it), BENCH_RUNS runs each (default 15), medians and max.
// MANAGE_BEFORE=[label=]<file>,… measures older builds side by side in the same run (e.g. one
// built from the commit before the CLI moved to effect/cli). Runs alternate between
// builds and commands so background load hits them alike. Peak RSS and CPU time are
// read by a one-line preload. Run it serialized with the other cluster users:
//   flock /tmp/autopilot-integration.lock npm run bench:cli
import { spawn } from "node:child_process"
import { readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { manageScript, startCluster } from "../test/support/cluster/Cluster.ts"
import { readTopology } from "../test/support/cluster/Topology.ts"
import { scratchDir } from "../test/support/scenario.ts"

const runs = Number(process.env.BENCH_RUNS ?? 15)
/** The builds measured; the nodes always run the current one. */
const builds: ReadonlyArray<readonly [string, string]> = [
  ...(process.env.MANAGE_BEFORE ?? "").split(",").filter((x) => x !== "").map((x): readonly [string, string] => {
    const [label = "", file = ""] = x.includes("=") ? x.split("=") : ["before", x]
    return [label, file]
  }),
  ["current", manageScript]
]
const root = scratchDir("bench-cli")
const preload = join(root, "maxrss.cjs")
const rssFile = join(root, "rss")
// Peak RSS and CPU time (user + system, µs): CPU time is what load on a shared machine disturbs least.
writeFileSync(preload, `process.on("exit", () => { const u = process.resourceUsage(); require("fs").appendFileSync(${JSON.stringify(rssFile)}, u.maxRSS + " " + (u.userCPUTime + u.systemCPUTime) + "\\n") })\n`)

const cluster = await startCluster({ nodes: 3, root, consulPort: 0, env: { HEALTH_INTERVAL: "2", HEALTH_TTL: "6", HEALTH_TIMEOUT: "2s", BACKUP_CHECK_INTERVAL: "24h" } })
process.on("exit", () => rmSync(root, { recursive: true, force: true }))
try {
  const deadline = Date.now() + 90_000
  for (;;) {
    const t = await readTopology(cluster.consulAddress).catch(() => undefined)
    if (t !== undefined && t.masters.length === 1 && t.replicas.length === 2 && t.sentinels.length === 3) break
    if (Date.now() > deadline) throw new Error("the cluster did not become healthy within 90 s")
    await new Promise((r) => setTimeout(r, 200))
  }
  const env = { ...cluster.node(1).env, NODE_COMPILE_CACHE: join(root, "compile-cache") }
  // Asynchronous: the Consul emulator lives in this process and must answer meanwhile.
  const once = (script: string, args: ReadonlyArray<string>) =>
    new Promise<{ readonly ms: number; readonly status: number | null; readonly stderr: string }>((resolve) => {
      const started = process.hrtime.bigint()
      const child = spawn(process.execPath, ["--require", preload, script, ...args], { env, stdio: ["ignore", "ignore", "pipe"] })
      let stderr = ""
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")))
      child.on("close", (status) => resolve({ ms: Number(process.hrtime.bigint() - started) / 1e6, status, stderr }))
    })
  const cases: Array<{ readonly build: string; readonly script: string; readonly args: ReadonlyArray<string> }> = []
  for (const [build, script] of builds) {
    for (const args of [["--help"], ["status"], ["list"]]) {
      const r = await once(script, args)
      if (r.status === 0) cases.push({ build, script, args })
      else console.log(`${build}: manage ${args.join(" ")} exited ${r.status}, not measured: ${r.stderr.trim().split("\n").at(-1) ?? ""}`)
    }
  }
  for (const c of cases) for (let i = 0; i < 2; i++) await once(c.script, c.args) // warm the compile and page caches
  const times = cases.map((): Array<number> => [])
  const rss = cases.map((): Array<number> => [])
  const cpu = cases.map((): Array<number> => [])
  for (let i = 0; i < runs; i++) {
    for (const [k, c] of cases.entries()) {
      const r = await once(c.script, c.args)
      if (r.status !== 0) throw new Error(`${c.build}: manage ${c.args.join(" ")} exited ${r.status}: ${r.stderr}`)
      times[k]?.push(r.ms)
      const [maxRss = "0", cpuMicros = "0"] = (readFileSync(rssFile, "utf8").trim().split("\n").at(-1) ?? "").split(" ")
      rss[k]?.push(Number(maxRss) / 1024)
      cpu[k]?.push(Number(cpuMicros) / 1000)
    }
  }
  const median = (xs: ReadonlyArray<number>) => {
    const s = [...xs].sort((a, b) => a - b)
    const mid = Math.floor(s.length / 2)
    return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2
  }
  console.log(`one-shot commands on a healthy 3-node cluster, ${runs} alternating runs each (Node ${process.version})`)
  cases.forEach((c, k) => {
    const t = times[k] ?? []
    const r = rss[k] ?? []
    const u = cpu[k] ?? []
    console.log(`${c.build.padEnd(10)} manage ${c.args.join(" ").padEnd(7)} wall median ${median(t).toFixed(0).padStart(4)} ms (max ${Math.max(...t).toFixed(0).padStart(4)})   CPU median ${median(u).toFixed(0).padStart(4)} ms   peak RSS median ${median(r).toFixed(1)} MiB (max ${Math.max(...r).toFixed(1)})`)
  })
} finally {
  await cluster.close()
}
