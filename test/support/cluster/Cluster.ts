// The local cluster runner: N nodes on one machine the way Docker + ContainerPilot
// run them, each with its own address and the standard ports, real
// redis-server/redis-sentinel processes and the built `dist/manage.mjs` as `manage`.
// Two modes (clusterMode()):
// - real (CONTAINERPILOT_BIN and CONSUL_BIN given, root, iproute2 and iptables): each
//   node is a network namespace of its own (Network.ts) running the real ContainerPilot
//   over the shipped containerpilot.json5, with no ANNOUNCE_IP or BIND_ADDRESS (the
//   image's defaults), and every node talks to one real Consul agent at the bridge's
//   address. Partitions and frozen hosts need this mode.
// - emulated: nodes on 127.0.0.(10+i) in this machine's network, the ContainerPilot
//   emulator, and the Consul emulator (or the Consul at CONSUL_HTTP_ADDR).
// It starts, stops and cuts nodes; it never decides anything the handlers decide.
import { execFile } from "node:child_process"
import { chmodSync, existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { type ConsulEmulator, startConsulEmulator } from "../consul/ConsulEmulator.ts"
import { type RealConsul, startRealConsul } from "../consul/RealConsul.ts"
import { ClusterNode, type NodeLayout } from "./ClusterNode.ts"
import { ContainerPilot } from "./ContainerPilot.ts"
import { type CutDirection, type Network, networkSupport, type NodeHost, startNetwork, testHostName } from "./Network.ts"
import { type TestPki } from "../tls.ts"
import { RealContainerPilot } from "./RealContainerPilot.ts"

export const repoRoot = fileURLToPath(new URL("../../../", import.meta.url))
export const manageScript = join(repoRoot, "dist", "manage.mjs")
/** The health checks' thin client, installed in the image as /usr/local/bin/agent-check. */
export const agentCheckScript = join(repoRoot, "scripts", "agent-check")
const configPath = join(repoRoot, "containerpilot.json5")

export type ClusterMode = "real" | "emulated"

/**
 * real when CONTAINERPILOT_BIN and CONSUL_BIN are given and namespaces can be made
 * here (CLUSTER_MODE=emulated forces the emulators); emulated otherwise.
 */
export const clusterMode = (): ClusterMode =>
  process.env["CLUSTER_MODE"] !== "emulated" && realBinaries() !== undefined && networkSupport() === undefined ? "real" : "emulated"

/** Why clusterMode() is not real, for a test that needs it to say why it is skipped. */
export const whyNotReal = (): string | undefined =>
  process.env["CLUSTER_MODE"] === "emulated"
    ? "CLUSTER_MODE=emulated"
    : realBinaries() === undefined
    ? "CONTAINERPILOT_BIN and CONSUL_BIN are not both set (.ci/run sets them from ../shared/bin)"
    : networkSupport()

/**
 * Where a service the test process runs (the Manta emulator) is reached from the
 * nodes, and the address it listens on for that: in real mode every node resolves
 * host.test to its network's gateway, so the service listens on every interface.
 */
export const testHost = (): { readonly name: string; readonly listen: string } =>
  clusterMode() === "real" ? { name: testHostName, listen: "0.0.0.0" } : { name: "127.0.0.1", listen: "127.0.0.1" }

const realBinaries = (): { readonly containerpilot: string; readonly consul: string } | undefined => {
  const containerpilot = process.env["CONTAINERPILOT_BIN"]
  const consul = process.env["CONSUL_BIN"]
  if (containerpilot === undefined || consul === undefined || containerpilot === "" || consul === "") return undefined
  if (!existsSync(containerpilot) || !existsSync(consul)) return undefined
  return { containerpilot: resolve(containerpilot), consul: resolve(consul) }
}

const consulHttpsPort = 8501

export interface ClusterOptions {
  readonly nodes: number
  /** Added to every node's environment (and seen by containerpilot.json5's template). */
  readonly env?: Readonly<Record<string, string>>
  /** `addressOf(j)`: node j's address, also of a node not started yet (for PEERS). */
  readonly perNodeEnv?: (i: number, addressOf: (j: number) => string) => Readonly<Record<string, string>>
  /** Default `.cluster` (relative to the working directory); in real mode not under /tmp (each node has a /tmp of its own). */
  readonly root?: string
  /** Use this Consul (host:port); else CONSUL_HTTP_ADDR; else start one (emulated mode only). */
  readonly consul?: { readonly address: string }
  /** Port of the emulator when the runner starts one: default 8500, 0 for any free port. */
  readonly consulPort?: number
  /** Emulated mode: node i gets `<addressPrefix>.<10+i>`; default "127.0.0" (must stay inside 127.0.0.0/8). */
  readonly addressPrefix?: string
  /** Default clusterMode(). */
  readonly mode?: ClusterMode
  /**
   * Real mode only: the nodes reach Consul over HTTPS (port 8501, a certificate this
   * CA signed, CONSUL_HTTP_SSL and CONSUL_CACERT set); plain HTTP stays on 8500 for the test's reads.
   */
  readonly consulHttps?: TestPki
}

export interface NodeInfo {
  readonly index: number
  readonly address: string
  readonly redisPort: number
  readonly sentinelPort: number
  readonly dataDir: string
  readonly configDir: string
  readonly logDir: string
  readonly env: Readonly<Record<string, string>>
  running(): boolean
  pid(job: string): number | undefined
}

export type ConsulMode = "normal" | "down" | "hang"

/** Consul as the runner controls it, the emulator or the real agent alike. */
export interface ConsulControl {
  /** Fault injection as every node sees it: down = refused, hang = accepted and never answered; state survives. */
  setMode(mode: ConsulMode): Promise<void>
  /** Consul lost its whole state (a server replaced, its volume gone). */
  restartEmpty(): Promise<void>
  services(): Promise<ReadonlyArray<{ readonly id: string; readonly name: string; readonly address: string; readonly port: number }>>
}

export interface Cluster {
  readonly mode: ClusterMode
  /** Undefined when the runner uses a Consul it did not start. */
  readonly consul: ConsulControl | undefined
  /** The emulator, when the runner started one. */
  readonly emulator: ConsulEmulator | undefined
  /** host:port */
  readonly consulAddress: string
  readonly root: string
  node(i: number): NodeInfo
  /** Indexes of every node ever added (running or not), ascending. */
  nodes(): ReadonlyArray<number>
  addNode(): Promise<number>
  stopNode(i: number): Promise<void>
  killNode(i: number): Promise<void>
  killProcess(i: number, job: string): void
  /** SIGSTOP (a frozen process: a stuck VM, a long GC pause) or SIGCONT of one job's process. */
  freezeProcess(i: number, job: string, frozen: boolean): void
  startNode(i: number, options?: { readonly wipeData?: boolean }): Promise<void>
  /** Stops these nodes all at once (gracefully, like `docker stop` of each), as a host shutdown does. */
  stopNodes(is: ReadonlyArray<number>): Promise<void>
  /**
   * Starts these nodes at the same instant (as a host boot or `docker compose up`
   * does): every check first, then every container in one loop; `wipeData` removes
   * those nodes' data directories first (a lost volume).
   */
  startNodes(is: ReadonlyArray<number>, options?: { readonly wipeData?: ReadonlyArray<number> }): Promise<void>
  /** `manage <args>` inside node i, as `docker exec` runs it: stdout, or an error carrying stderr. */
  manage(i: number, args: ReadonlyArray<string>, options?: { readonly timeoutMs?: number }): Promise<string>
  status(json?: boolean): Promise<string>
  /**
   * Real mode: packets between nodes i and j dropped (no TCP reset); `direction` as
   * node i sees it; with `port`, only node i's connections to that port of node j.
   */
  cut(i: number, j: number, direction?: CutDirection, port?: number): void
  /** Real mode: node i cut from every other node (and from Consul when `consul`). */
  isolate(i: number, options?: { readonly consul?: boolean }): void
  /** Removes every cut. */
  heal(): void
  /** Real mode: SIGSTOP/SIGCONT of every process of node i (a frozen VM or host). */
  freezeNode(i: number, frozen: boolean): void
  close(): Promise<void>
}

/** Environment a container would have without the host's: nothing of the developer's shell leaks into a node. */
const baseEnvironment = (): Record<string, string> => {
  const keep = ["HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"]
  return Object.fromEntries(keep.flatMap((k) => (process.env[k] !== undefined ? [[k, process.env[k] ?? ""]] : [])))
}

const stripScheme = (address: string): string => address.replace(/^https?:\/\//, "").replace(/\/+$/, "")

const writeManageShim = (binDir: string): void => {
  mkdirSync(binDir, { recursive: true })
  const shim = join(binDir, "manage")
  const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`
  writeFileSync(shim, `#!/bin/sh\nexec ${q(process.execPath)} ${q(manageScript)} "$@"\n`)
  chmodSync(shim, 0o755)
  const check = join(binDir, "agent-check")
  rmSync(check, { force: true })
  symlinkSync(agentCheckScript, check)
}

const startEmulator = async (port: number): Promise<ConsulEmulator> => {
  try {
    return await startConsulEmulator({ host: "127.0.0.1", port })
  } catch (e) {
    const busy = e instanceof Error && "code" in e && e.code === "EADDRINUSE"
    throw new Error(busy
      ? `127.0.0.1:${port} is in use (another \`npm run cluster\`, or a Consul agent?): stop it, or set CONSUL_HTTP_ADDR to use that Consul`
      : `cannot start the Consul emulator: ${e instanceof Error ? e.message : String(e)}`)
  }
}

const needsReal = (what: string, mode: ClusterMode): void => {
  if (mode !== "real") throw new Error(`${what} needs the real mode (network namespaces): ${whyNotReal() ?? "not chosen"}`)
}

export const startCluster = async (options: ClusterOptions): Promise<Cluster> => {
  if (!existsSync(manageScript)) throw new Error(`${manageScript} is missing: run \`npm run build\` first`)
  const mode = options.mode ?? clusterMode()
  if (options.consulHttps !== undefined && mode !== "real") throw new Error("consulHttps needs the real mode (a real Consul)")
  const root = resolve(options.root ?? ".cluster")
  if (mode === "real" && (root === "/tmp" || root.startsWith("/tmp/"))) {
    throw new Error(`root ${root}: each node has a /tmp of its own in real mode, so the cluster's files cannot live under /tmp (use scratchDir())`)
  }
  if (mode === "real" && repoRoot.startsWith("/tmp/")) {
    // Found the hard way: every node's ContainerPilot then exits "could not read config file".
    throw new Error(`checkout ${repoRoot}: each node has a /tmp of its own in real mode and would not see this checkout's containerpilot.json5 and manage; clone it elsewhere or set CLUSTER_MODE=emulated`)
  }
  const prefix = options.addressPrefix ?? "127.0.0"
  if (!/^127\.\d{1,3}\.\d{1,3}$/.test(prefix)) throw new Error(`addressPrefix ${JSON.stringify(prefix)}: expected 127.<n>.<n>`)
  const binDir = join(root, "bin")
  mkdirSync(root, { recursive: true })
  writeManageShim(binDir)

  const bins = realBinaries()
  if (mode === "real" && bins === undefined) throw new Error(`real mode: ${whyNotReal() ?? ""}`)
  const network: Network | undefined = mode === "real" ? startNetwork() : undefined
  const external = options.consul?.address ?? (mode === "emulated" ? process.env["CONSUL_HTTP_ADDR"] : undefined)
  let emulator: ConsulEmulator | undefined
  let realConsul: RealConsul | undefined
  try {
    if (external === undefined && network !== undefined && bins !== undefined) {
      const https = options.consulHttps === undefined
        ? undefined
        : { port: consulHttpsPort, ...options.consulHttps.issue("consul", network.gateway) }
      realConsul = await startRealConsul({ bin: bins.consul, bind: network.gateway, logFile: join(root, "consul.log"), ...(https !== undefined ? { https } : {}) })
    } else if (external === undefined) {
      emulator = await startEmulator(options.consulPort ?? 8500)
    }
  } catch (e) {
    network?.close()
    throw e
  }
  const consulAddress = realConsul?.address ?? emulator?.address ?? stripScheme(external ?? "")
  const token = options.consul === undefined ? process.env["CONSUL_HTTP_TOKEN"] : undefined

  const nodes = new Map<number, ClusterNode>()
  const hostOf = (i: number): NodeHost | undefined => network?.host(i)
  const addressOf = (j: number): string => network?.addressOf(j) ?? `${prefix}.${10 + j}`
  const layout = (i: number): NodeLayout => {
    const dir = join(root, `node-${i}`)
    const host = hostOf(i)
    const address = host?.address ?? `${prefix}.${10 + i}`
    const given = { ...options.env, ...options.perNodeEnv?.(i, addressOf) }
    const env: Record<string, string> = {
      ...baseEnvironment(),
      HOSTNAME: `node-${i}`,
      // A container announces its eth0 address and listens on every interface (the
      // image's defaults); on the shared loopback each node must name its own.
      ...(host === undefined ? { ANNOUNCE_IP: address, BIND_ADDRESS: address } : {}),
      DATA_DIR: join(dir, "data"),
      CONFIG_DIR: join(dir, "etc"),
      BACKUP_DIR: join(root, "backups"),
      CONSUL: consulAddress,
      ...(options.consulHttps !== undefined && network !== undefined
        ? { CONSUL: `${network.gateway}:${consulHttpsPort}`, CONSUL_HTTP_SSL: "true", CONSUL_CACERT: options.consulHttps.caFile }
        : {}),
      ...(token !== undefined && token !== "" ? { CONSUL_HTTP_TOKEN: token } : {}),
      ...given
    }
    env["PATH"] = `${binDir}:${given["PATH"] ?? process.env["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"}`
    return {
      index: i,
      address: env["ANNOUNCE_IP"] ?? address,
      redisPort: Number(env["REDIS_PORT"] ?? 6379),
      sentinelPort: Number(env["SENTINEL_PORT"] ?? 26379),
      dir,
      dataDir: env["DATA_DIR"] ?? join(dir, "data"),
      configDir: env["CONFIG_DIR"] ?? join(dir, "etc"),
      logDir: join(dir, "logs"),
      env,
      configPath,
      startPilot: host !== undefined && bins !== undefined
        ? (o) => RealContainerPilot.start(o, host, bins.containerpilot)
        : (o) => ContainerPilot.start(o)
    }
  }
  const get = (i: number): ClusterNode => {
    const n = nodes.get(i)
    if (n === undefined) throw new Error(`no node ${i} (nodes: ${[...nodes.keys()].join(", ") || "none"})`)
    return n
  }
  const addNode = async (): Promise<number> => {
    const i = Math.max(0, ...nodes.keys()) + 1
    if (10 + i > 254) throw new Error("no address left for another node")
    const node = new ClusterNode(layout(i))
    nodes.set(i, node)
    await node.start()
    return i
  }
  const manage = (i: number, args: ReadonlyArray<string>, o: { readonly timeoutMs?: number } = {}): Promise<string> => {
    const env = get(i).layout.env
    const host = hostOf(i)
    const { command, args: argv } = host === undefined
      ? { command: process.execPath, args: [manageScript, ...args] }
      : host.wrap(process.execPath, [manageScript, ...args])
    return runCommand(command, argv, env, args, o.timeoutMs)
  }

  const consulFaults: Array<() => void> = []
  const consul: ConsulControl | undefined = emulator !== undefined
    ? {
      setMode: (m) => emulator?.setMode(m) ?? Promise.resolve(),
      restartEmpty: () => emulator?.restartEmpty() ?? Promise.resolve(),
      services: () => Promise.resolve(emulator?.services() ?? [])
    }
    : realConsul !== undefined && network !== undefined
    ? {
      setMode: async (m) => {
        for (const undo of consulFaults.splice(0)) undo()
        if (m === "hang") {
          realConsul?.freeze(true)
          consulFaults.push(() => realConsul?.freeze(false))
        }
        if (m === "down") {
          for (const i of nodes.keys()) {
            const host = network.host(i)
            host.block(network.gateway, 8500, "refuse")
            consulFaults.push(() => host.unblock())
          }
        }
      },
      restartEmpty: () => realConsul?.restartEmpty() ?? Promise.resolve(),
      services: () => realConsul?.services() ?? Promise.resolve([])
    }
    : undefined

  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    closing ??= (async () => {
      for (const undo of consulFaults.splice(0)) undo()
      // Tearing down is not what a test asserts: kill, like removing every container.
      await Promise.allSettled([...nodes.values()].map((n) => (network !== undefined ? n.kill() : n.stop())))
      await emulator?.close()
      await realConsul?.close()
      network?.close()
    })()
    return closing
  }

  const cluster: Cluster = {
    mode,
    consul,
    emulator,
    consulAddress,
    root,
    node: (i) => {
      const n = get(i)
      const l = n.layout
      return {
        index: i,
        address: l.address,
        redisPort: l.redisPort,
        sentinelPort: l.sentinelPort,
        dataDir: l.dataDir,
        configDir: l.configDir,
        logDir: l.logDir,
        env: l.env,
        running: () => n.running(),
        pid: (job) => n.pid(job)
      }
    },
    nodes: () => [...nodes.keys()].sort((a, b) => a - b),
    addNode,
    stopNode: (i) => get(i).stop(),
    killNode: (i) => get(i).kill(),
    killProcess: (i, job) => get(i).signalProcess(job, "SIGKILL"),
    freezeProcess: (i, job, frozen) => get(i).signalProcess(job, frozen ? "SIGSTOP" : "SIGCONT"),
    startNode: (i, o) => get(i).start(o ?? {}),
    stopNodes: async (is) => {
      await Promise.all(is.map((i) => get(i).stop()))
    },
    startNodes: async (is, o) => {
      const nodesToStart = is.map(get)
      await Promise.all(nodesToStart.map((n, k) => n.prepare({ wipeData: o?.wipeData?.includes(is[k] ?? -1) ?? false })))
      for (const n of nodesToStart) n.go()
    },
    manage,
    status: (json = false) => {
      const first = [...nodes.keys()].sort((a, b) => a - b)[0]
      if (first === undefined) return Promise.reject(new Error("status: the cluster has no node"))
      return manage(first, ["status", ...(json ? ["--json"] : [])])
    },
    cut: (i, j, direction = "both", port) => {
      needsReal("cut", mode)
      get(j)
      network?.host(i).cut(get(j).layout.address, direction, port)
    },
    isolate: (i, o) => {
      needsReal("isolate", mode)
      for (const j of nodes.keys()) if (j !== i) network?.host(i).cut(get(j).layout.address, "both")
      if (o?.consul === true && network !== undefined) network.host(i).cut(network.gateway, "both")
    },
    heal: () => {
      if (network === undefined) return
      for (const i of nodes.keys()) network.host(i).heal()
    },
    freezeNode: (i, frozen) => {
      needsReal("freezeNode", mode)
      get(i)
      network?.host(i).freeze(frozen)
    },
    close
  }

  try {
    await Promise.all(Array.from({ length: options.nodes }, () => addNode()))
  } catch (e) {
    await close()
    throw e
  }
  return cluster
}

const runCommand = (command: string, argv: ReadonlyArray<string>, env: Readonly<Record<string, string>>, args: ReadonlyArray<string>, timeoutMs: number | undefined): Promise<string> =>
  new Promise((resolvePromise, reject) => {
    execFile(command, [...argv], { env, timeout: timeoutMs ?? 30_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`manage ${args.join(" ")} failed (${error.message.split("\n")[0] ?? ""}): ${String(stderr).trim()}`))
      else resolvePromise(String(stdout))
    })
  })

/** Runs `manage <args>` with a node's environment on this machine's network; stdout, or an error carrying stderr. Killed after `timeoutMs` (30 s). */
export const runManage = (env: Readonly<Record<string, string>>, args: ReadonlyArray<string>, options: { readonly timeoutMs?: number } = {}): Promise<string> =>
  runCommand(process.execPath, [manageScript, ...args], env, args, options.timeoutMs)
