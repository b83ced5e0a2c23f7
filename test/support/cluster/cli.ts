// `npm run cluster`: a local autopilot-redis cluster in the foreground (Ctrl-C stops
// every process it started), and the commands a second terminal sends it over
// `<root>/control.sock`. Prints `manage status` whenever the passing set in Consul
// changes. Node settings come from the environment variables the image reads.
import { existsSync, readdirSync, rmSync } from "node:fs"
import { join, resolve } from "node:path"
import { parseArgs } from "node:util"
import { variables } from "../../../src/domain/Settings.ts"
import { type Cluster, startCluster } from "./Cluster.ts"
import { type ControlRequest, type ControlServer, NoRunnerError, sendControl, serveControl } from "./ControlSocket.ts"
import { killAllGroups } from "./ProcessGroup.ts"
import { describeTopology, fullyUp, readTopology } from "./Topology.ts"

const help = `usage: npm run cluster -- [options]           run a cluster in the foreground
       npm run cluster -- <command>             talk to the running one

Runs N autopilot-redis nodes on this machine the way Docker + ContainerPilot would:
node i listens on 127.0.0.(10+i) with the standard ports (6379, 26379), runs the jobs
of containerpilot.json5 with real redis-server/redis-sentinel and dist/manage.mjs, and
keeps its files in <root>/node-<i>/{data,etc,logs}. Consul is an emulator on
127.0.0.1:8500, or the agent at CONSUL_HTTP_ADDR. Whenever the passing redis,
redis-replica or redis-sentinel instances change, the runner prints \`manage status\`.
Ctrl-C (SIGINT/SIGTERM) stops every node gracefully (like docker stop); a second
Ctrl-C kills everything at once.

Run options:
  --nodes <n>         nodes to start (default 3)
  --root <dir>        working directory (default .cluster); wiped at start
  --keep-data         do not wipe <root> at start (nodes resume from their data dirs)
  --env KEY=VALUE     add to every node's environment (repeatable)
Node settings also come from this shell: every variable of \`manage config --docs\`
(HEALTH_INTERVAL, HEALTH_TTL, HEALTH_TIMEOUT, SENTINEL_DOWN_AFTER, LOG_LEVEL, ...)
that is set is passed on, except the per-node HOSTNAME, ANNOUNCE_IP, BIND_ADDRESS,
DATA_DIR, CONFIG_DIR and CONSUL. For a quick local cluster:
  HEALTH_INTERVAL=1 HEALTH_TTL=3 HEALTH_TIMEOUT=1s SENTINEL_DOWN_AFTER=2s npm run cluster

Commands (sent to the running runner over <root>/control.sock):
  --add                   start one more node, prints its index
  --kill <i>              SIGKILL every process of node i (a crashed container)
  --stop <i>              stop node i gracefully, pre-stop included (docker stop)
  --start <i> [--wipe]    start node i again (--wipe: with an empty data dir)
  --kill-process <i> <job>  SIGKILL one job's process, e.g. redis-server
  --status [--json]       print \`manage status\` as node 1 sees it
  --help                  this text
`

const perNode = new Set(["HOSTNAME", "ANNOUNCE_IP", "BIND_ADDRESS", "DATA_DIR", "CONFIG_DIR", "CONSUL"])

const forwardedEnv = (extra: ReadonlyArray<string>): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const name of Object.keys(variables)) {
    const value = process.env[name]
    if (!perNode.has(name) && value !== undefined && value !== "") env[name] = value
  }
  for (const pair of extra) {
    const at = pair.indexOf("=")
    if (at <= 0) throw new Error(`--env ${pair}: expected KEY=VALUE`)
    env[pair.slice(0, at)] = pair.slice(at + 1)
  }
  return env
}

const positive = (flag: string, value: string | undefined): number => {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag}: expected a positive integer, got ${JSON.stringify(value ?? "")}`)
  return n
}

const stamp = (t0: number): string => `[+${((Date.now() - t0) / 1000).toFixed(1)}s]`

const wipe = (root: string): void => {
  if (!existsSync(root)) return
  for (const entry of readdirSync(root)) {
    if (/^node-\d+$/.test(entry) || entry === "backups" || entry === "bin") rmSync(join(root, entry), { recursive: true, force: true })
  }
}

const handle = async (cluster: Cluster, request: ControlRequest): Promise<string> => {
  switch (request.cmd) {
    case "add": {
      const i = await cluster.addNode()
      return `added node ${i} at ${cluster.node(i).address}`
    }
    case "kill":
      await cluster.killNode(request.node)
      return `node ${request.node} killed`
    case "stop":
      await cluster.stopNode(request.node)
      return `node ${request.node} stopped`
    case "start":
      await cluster.startNode(request.node, { wipeData: request.wipeData })
      return `node ${request.node} started${request.wipeData ? " with an empty data dir" : ""}`
    case "kill-process":
      cluster.killProcess(request.node, request.job)
      return `node ${request.node}: ${request.job} killed`
    case "status":
      return cluster.status(request.json)
  }
}

const run = async (options: { nodes: number; root: string; keepData: boolean; env: Record<string, string> }): Promise<void> => {
  const t0 = Date.now()
  const socketPath = join(options.root, "control.sock")
  let starting: Promise<Cluster> | undefined
  let control: ControlServer | undefined
  let stopping = false
  let interrupts = 0
  const shutdown = async (signal: string): Promise<void> => {
    interrupts++
    if (interrupts > 1) {
      console.log(`${stamp(t0)} ${signal} again: killing every process now`)
      killAllGroups()
      process.exit(1)
    }
    stopping = true
    console.log(`${stamp(t0)} ${signal}: stopping every node (Ctrl-C again to kill at once)`)
    await control?.close()
    // A Ctrl-C during start-up waits for the start to settle, then stops what it started.
    await (await starting?.catch(() => undefined))?.close()
    console.log(`${stamp(t0)} stopped`)
    process.exit(0)
  }
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => void shutdown(signal))

  if (existsSync(socketPath)) {
    const alive = await sendControl(socketPath, { cmd: "status", json: false }, 2_000).then(() => true, () => false)
    if (alive) throw new Error(`a cluster runner is already running in ${options.root} (use --add, --kill, ... or stop it first)`)
  }
  if (!options.keepData) wipe(options.root)
  console.log(`${stamp(t0)} starting ${options.nodes} node(s) in ${options.root} (logs: ${options.root}/node-<i>/logs)`)
  starting = startCluster({ nodes: options.nodes, root: options.root, env: options.env })
  const running = await starting
  if (stopping) return
  console.log(`${stamp(t0)} Consul at ${running.consulAddress}${running.consul !== undefined ? " (emulator)" : ""}; nodes ${running.nodes().map((i) => running.node(i).address).join(", ")}`)
  try {
    control = await serveControl(socketPath, (request) => handle(running, request))
  } catch (e) {
    await running.close()
    throw e
  }
  console.log(`${stamp(t0)} control socket ${socketPath}: \`npm run cluster -- --help\` lists the commands`)

  let last = ""
  let wasFullyUp = false
  const serviceName = options.env["SERVICE_NAME"] ?? "redis"
  while (!stopping) {
    const started = Date.now()
    try {
      const topology = await readTopology(running.consulAddress, serviceName, options.env["CONSUL_HTTP_TOKEN"] ?? process.env["CONSUL_HTTP_TOKEN"])
      const line = describeTopology(topology)
      if (line !== last && !stopping) {
        last = line
        console.log(`\n${stamp(t0)} ${line}`)
        const up = fullyUp(topology, running.nodes().filter((i) => running.node(i).running()).length)
        if (up && !wasFullyUp) console.log(`${stamp(t0)} fully passing: one master, every other node a replica, every sentinel`)
        wasFullyUp = up
        console.log(await running.status().catch((e: unknown) => `(manage status failed: ${e instanceof Error ? e.message : String(e)})`))
      }
    } catch (e) {
      const line = `Consul not answering: ${e instanceof Error ? e.message : String(e)}`
      if (line !== last) console.log(`\n${stamp(t0)} ${(last = line)}`)
    }
    await new Promise((r) => setTimeout(r, Math.max(0, 1_000 - (Date.now() - started))))
  }
}

const main = async (): Promise<void> => {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      help: { type: "boolean", short: "h" },
      nodes: { type: "string" },
      root: { type: "string" },
      "keep-data": { type: "boolean" },
      env: { type: "string", multiple: true },
      add: { type: "boolean" },
      kill: { type: "string" },
      stop: { type: "string" },
      start: { type: "string" },
      wipe: { type: "boolean" },
      "kill-process": { type: "string" },
      status: { type: "boolean" },
      json: { type: "boolean" }
    }
  })
  if (values.help === true) return void process.stdout.write(help)
  const root = resolve(values.root ?? ".cluster")
  const request: ControlRequest | undefined = values.add === true
    ? { cmd: "add" }
    : values.kill !== undefined
    ? { cmd: "kill", node: positive("--kill", values.kill) }
    : values.stop !== undefined
    ? { cmd: "stop", node: positive("--stop", values.stop) }
    : values.start !== undefined
    ? { cmd: "start", node: positive("--start", values.start), wipeData: values.wipe === true }
    : values["kill-process"] !== undefined
    ? { cmd: "kill-process", node: positive("--kill-process", values["kill-process"]), job: positionals[0] ?? "redis-server" }
    : values.status === true
    ? { cmd: "status", json: values.json === true }
    : undefined
  if (request !== undefined) {
    const response = await sendControl(join(root, "control.sock"), request, 120_000)
    if (!response.ok) throw new Error(response.error)
    return void process.stdout.write(response.output.endsWith("\n") ? response.output : `${response.output}\n`)
  }
  if (positionals.length > 0) throw new Error(`unexpected argument ${JSON.stringify(positionals[0])} (see --help)`)
  await run({ nodes: values.nodes === undefined ? 3 : positive("--nodes", values.nodes), root, keepData: values["keep-data"] === true, env: forwardedEnv(values.env ?? []) })
}

main().catch(async (e: unknown) => {
  console.error(e instanceof NoRunnerError ? e.message : `cluster: ${e instanceof Error ? e.message : String(e)}`)
  killAllGroups()
  process.exit(1)
})
