// `npm run bench:node`: what `manage` costs a node at rest (DESIGN.md §10), beside
// Redis's and Sentinel's own cost in the same run. A 3-node local cluster with the
// default timings settles, then for BENCH_SECONDS (default 60) the bench reads the
// CPU time of node 1's processes from /proc: the agent, redis-server and
// redis-sentinel. The health checks ContainerPilot starts (three per HEALTH_INTERVAL)
// are short-lived, so one check's CPU is measured apart (BENCH_CHECKS runs of
// agent-check against the live agent, as this process's children) and multiplied by
// their rate; likewise the backup job (one `manage backup` run that finds nothing
// due, every BACKUP_CHECK_INTERVAL). Budgets: everything manage costs ≤ 0.7
// CPU-s/min (the original bash implementation's), agent RSS ≤ 80 MiB, one check
// ≤ 20 ms wall. Then the same with TLS on every link (a CA and node certificates made
// with openssl), in the same run: the node's CPU at rest (manage, redis-server and
// redis-sentinel together) with TLS ÷ without, budget 1.10 (issue 20). Exits 1 when a
// figure is over its budget.
import { execFileSync, spawnSync } from "node:child_process"
import { readFileSync, rmSync } from "node:fs"
import { exitIfOver, verdict } from "./budget.ts"
import { agentCheckScript, manageScript, startCluster } from "../test/support/cluster/Cluster.ts"
import { readTopology } from "../test/support/cluster/Topology.ts"
import { scratchDir } from "../test/support/scenario.ts"
import { makeTestPki } from "../test/support/tls.ts"

const seconds = Number(process.env.BENCH_SECONDS ?? 60)
const checkRuns = Number(process.env.BENCH_CHECKS ?? 200)
const budgets = { managePerMinute: 0.7, agentRssMiB: 80, checkWallMs: 20, tlsNodeRatio: 1.1 }
const healthInterval = 5
const checksPerMinute = 3 * (60 / healthInterval)
const backupChecksPerMinute = 60 / 300

const ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim())

/** utime + stime of a process, in seconds. */
const cpuOf = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? []
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond
}
const rssMiB = (pid: number): number => {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:")) ?? "VmRSS: 0 kB"
  return Number(line.split(/\s+/)[1]) / 1024
}

/** CPU seconds this process's waited-for children used while `f` ran. */
const childCpu = (f: () => void): number => {
  const start = readChildrenCpu()
  f()
  return readChildrenCpu() - start
}
/** cutime + cstime of this process (children that were waited for), in seconds. */
const readChildrenCpu = (): number => {
  const fields = readFileSync("/proc/self/stat", "utf8").split(") ")[1]?.split(" ") ?? []
  return (Number(fields[13]) + Number(fields[14])) / ticksPerSecond
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] ?? 0
}

interface AtRest {
  readonly minutes: number
  readonly agent: number
  readonly checkCpu: number
  readonly backupCpu: number
  readonly manage: number
  readonly redis: number
  readonly sentinel: number
  readonly rssPeak: number
  readonly wall: number
}

const measure = async (tls: boolean, pkiDir: string): Promise<AtRest> => {
  const root = scratchDir("bench-node")
  const pki = tls ? makeTestPki(pkiDir) : undefined
  const cluster = await startCluster({
    nodes: 3,
    root,
    consulPort: 0,
    env: { BACKUP_CHECK_INTERVAL: "5m" },
    ...(pki !== undefined ? { perNodeEnv: (i: number, addressOf: (j: number) => string) => pki.envFor(`node-${i}`, addressOf(i)) } : {})
  })
  try {
    const deadline = Date.now() + 60_000
    for (;;) {
      const t = await readTopology(cluster.consulAddress)
      if (t.masters.length === 1 && t.replicas.length === 2 && t.sentinels.length === 3) break
      if (Date.now() > deadline) throw new Error("the cluster did not come up")
      await new Promise((r) => setTimeout(r, 200))
    }
    // Let start-up work (syncs, the first backup check, Sentinel discovery) settle.
    await new Promise((r) => setTimeout(r, 15_000))
    const node = cluster.node(1)
    const pids = { agent: node.pid("agent"), redis: node.pid("redis-server"), sentinel: node.pid("redis-sentinel") }
    if (pids.agent === undefined || pids.redis === undefined || pids.sentinel === undefined) throw new Error(`missing a process: ${JSON.stringify(pids)}`)
    const at = (pid: number) => cpuOf(pid)
    const start = { agent: at(pids.agent), redis: at(pids.redis), sentinel: at(pids.sentinel), time: Date.now() }
    let rssPeak = 0
    while (Date.now() - start.time < seconds * 1000) {
      rssPeak = Math.max(rssPeak, rssMiB(pids.agent))
      await new Promise((r) => setTimeout(r, 1000))
    }
    const minutes = (Date.now() - start.time) / 60_000
    const perMinute = { agent: (at(pids.agent) - start.agent) / minutes, redis: (at(pids.redis) - start.redis) / minutes, sentinel: (at(pids.sentinel) - start.sentinel) / minutes }
    if (node.pid("agent") !== pids.agent) throw new Error("the agent restarted during the measurement")

    // One health check as ContainerPilot runs it, against the live agent.
    const checkArgs = ["/replica", node.address, "8008", String(healthInterval)]
    const walls: Array<number> = []
    const checkCpu = childCpu(() => {
      for (let i = 0; i < checkRuns; i++) {
        const t0 = process.hrtime.bigint()
        const r = spawnSync(agentCheckScript, checkArgs)
        walls.push(Number(process.hrtime.bigint() - t0) / 1e6)
        if (r.status === null) throw new Error("agent-check did not finish")
      }
    }) / checkRuns
    // One backup check that finds nothing due, as the backup job runs it.
    const backupCpu = childCpu(() => {
      spawnSync(process.execPath, [manageScript, "backup"], { env: { ...node.env, NODE_OPTIONS: "--max-semi-space-size=1" } })
    })
    const manage = perMinute.agent + checkCpu * checksPerMinute + backupCpu * backupChecksPerMinute
    return { minutes, agent: perMinute.agent, checkCpu, backupCpu, manage, redis: perMinute.redis, sentinel: perMinute.sentinel, rssPeak, wall: median(walls) }
  } finally {
    await cluster.close()
    rmSync(root, { recursive: true, force: true })
  }
}

const report = (label: string, r: AtRest): void => {
  const row = (name: string, value: number) => `${name.padEnd(44)} ${value.toFixed(3).padStart(7)} CPU-s/min`
  console.log(`${label}: node 1 of a 3-node cluster at rest, defaults (HEALTH_INTERVAL ${healthInterval}), ${r.minutes.toFixed(2)} min, Node ${process.version}`)
  console.log(row("agent (measured)", r.agent))
  console.log(row(`health checks (${checksPerMinute}/min × ${(r.checkCpu * 1000).toFixed(2)} ms)`, r.checkCpu * checksPerMinute))
  console.log(row(`backup job (${backupChecksPerMinute}/min × ${(r.backupCpu * 1000).toFixed(0)} ms)`, r.backupCpu * backupChecksPerMinute))
  console.log(row("everything manage runs", r.manage) + `   budget ${budgets.managePerMinute}   ${verdict(`${label} manage CPU-s/min`, r.manage, budgets.managePerMinute)}`)
  console.log(row("redis-server (same run)", r.redis))
  console.log(row("redis-sentinel (same run)", r.sentinel))
  console.log(`manage ÷ (redis-server + redis-sentinel): ${(r.manage / (r.redis + r.sentinel)).toFixed(2)}×`)
  console.log(`agent peak RSS ${r.rssPeak.toFixed(1)} MiB   budget ${budgets.agentRssMiB}   ${verdict(`${label} agent RSS MiB`, r.rssPeak, budgets.agentRssMiB)}`)
  console.log(`one check: median ${r.wall.toFixed(2)} ms wall (${checkRuns} runs)   budget ${budgets.checkWallMs}   ${verdict(`${label} check wall ms`, r.wall, budgets.checkWallMs)}`)
}

const pkiDir = scratchDir("bench-node-pki")
try {
  const plain = await measure(false, pkiDir)
  report("plaintext", plain)
  const tls = await measure(true, pkiDir)
  report("TLS", tls)
  const node = (r: AtRest) => r.manage + r.redis + r.sentinel
  const ratio = node(tls) / node(plain)
  console.log(`TLS ÷ plaintext, the node at rest (manage + redis-server + redis-sentinel): ${node(tls).toFixed(3)} ÷ ${node(plain).toFixed(3)} CPU-s/min = ${ratio.toFixed(3)}×   budget ${budgets.tlsNodeRatio}×   ${verdict("TLS node CPU ratio", ratio, budgets.tlsNodeRatio)}`)
  console.log(`TLS ÷ plaintext, manage alone: ${(tls.manage / plain.manage).toFixed(3)}×`)
} finally {
  rmSync(pkiDir, { recursive: true, force: true })
}
exitIfOver()
