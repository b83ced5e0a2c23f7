// Hosts of their own for the local cluster, as containers have: one network namespace
// per node (its own eth0 on a bridge, its own loopback, its own firewall), every
// node on one subnet with the test process and Consul at the bridge's address. A
// partition is a firewall rule inside a node's namespace (DROP, no TCP reset), so it
// dies with the namespace even when a test crashes; a frozen host is SIGSTOP of
// every process in its namespace. Needs root, iproute2 and iptables (CI has them);
// `networkSupport()` says why not otherwise. Names carry this process's PID and a
// count of its networks (`ar<pid in base 36>c<k>`: an interface name has at most 15 characters), so
// two runs or two clusters never collide and a crashed run's leftovers are removed.
import { execFileSync, spawnSync } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"

const run = (command: string, args: ReadonlyArray<string>): string =>
  execFileSync(command, [...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })

const tryRun = (command: string, args: ReadonlyArray<string>): boolean =>
  spawnSync(command, [...args], { stdio: "ignore" }).status === 0

const onPath = (name: string): boolean => ["/usr/sbin", "/sbin", "/usr/bin", "/bin"].some((d) => existsSync(`${d}/${name}`))

/** Undefined when namespaces can be used here, else why not. */
export const networkSupport = (): string | undefined => {
  if (process.platform !== "linux") return "network namespaces need Linux"
  if (process.getuid?.() !== 0) return "network namespaces need root"
  for (const tool of ["ip", "iptables"]) if (!onPath(tool)) return `${tool} is not installed (apt-get install iproute2 iptables)`
  return undefined
}

const prefix = "ar"
/** Networks made by this process so far: names stay unique when a test runs two clusters. */
let networks = 0

/**
 * The name of this machine (the test process, and what it serves, such as the Manta
 * emulator) as every node resolves it: `ip netns exec` mounts /etc/netns/<ns>/hosts
 * over /etc/hosts. RFC 6761 reserves .test.
 */
export const testHostName = "host.test"
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return e instanceof Error && "code" in e && e.code === "EPERM"
  }
}

/** PIDs of every process in a namespace (`ip netns pids`). */
const namespacePids = (ns: string): ReadonlyArray<number> => {
  try {
    return run("ip", ["netns", "pids", ns]).split("\n").filter((l) => l.trim() !== "").map(Number).filter((n) => n > 0)
  } catch {
    return []
  }
}

/** SIGKILL of every process in a namespace; returns once they are gone, reaped included (bounded). */
const killAll = (ns: string): void => {
  const killed = new Set<number>()
  for (let round = 0; round < 40; round++) {
    const pids = namespacePids(ns)
    for (const pid of pids) {
      killed.add(pid)
      try {
        process.kill(pid, "SIGKILL")
      } catch {
        // gone already
      }
    }
    // A killed process lingers until its parent (or init) reaps it.
    if (pids.length === 0 && [...killed].every((pid) => !existsSync(`/proc/${pid}`))) return
    spawnSync("sleep", ["0.05"])
  }
}

/** Removes namespaces, bridges and FORWARD rules of runs whose process is gone. */
const removeLeftovers = (): void => {
  const mine = new RegExp(`^${prefix}([0-9a-z]+)c\\d+[nb]`)
  for (const ns of run("ip", ["netns", "list"]).split("\n").map((l) => l.split(" ")[0] ?? "")) {
    const owner = mine.exec(ns)?.[1]
    if (owner === undefined || alive(Number.parseInt(owner, 36))) continue
    killAll(ns)
    tryRun("ip", ["netns", "del", ns])
    rmSync(`/etc/netns/${ns}`, { recursive: true, force: true })
  }
  for (const line of run("ip", ["-o", "link", "show", "type", "bridge"]).split("\n")) {
    const name = /^\d+: ([^:@]+)/.exec(line)?.[1]
    const owner = name === undefined ? undefined : mine.exec(name)?.[1]
    if (name === undefined || owner === undefined || alive(Number.parseInt(owner, 36))) continue
    while (tryRun("iptables", ["-D", "FORWARD", "-i", name, "-o", name, "-j", "ACCEPT"]));
    tryRun("ip", ["link", "del", name])
  }
}

export type CutDirection = "both" | "in" | "out"

export interface NodeHost {
  /** The node's address on the subnet (its eth0). */
  readonly address: string
  readonly namespace: string
  /**
   * The argv that runs `command args` inside this host; `container` gives it what a
   * container has besides: a /tmp of its own and its own host name (ContainerPilot
   * names its services after the kernel's host name, not $HOSTNAME).
   */
  wrap(command: string, args: ReadonlyArray<string>, options?: { readonly container?: { readonly hostname: string } }): { readonly command: string; readonly args: ReadonlyArray<string> }
  /** Every process running in this host. */
  pids(): ReadonlyArray<number>
  /** The first process whose command line matches. */
  findProcess(matches: (argv: ReadonlyArray<string>) => boolean): number | undefined
  /** SIGKILL of every process in the host (a host that lost power, or `docker kill`). */
  killAll(): void
  /** SIGSTOP / SIGCONT of every process in the host (a frozen VM). */
  freeze(frozen: boolean): void
  /**
   * Drops packets between this host and `peer` (in: from it, out: to it), no TCP
   * reset; with `port`, only this host's connections to that port of the peer.
   */
  cut(peer: string, direction: CutDirection, port?: number): void
  /** Removes every rule cut added. */
  heal(): void
  /** Connections to peer:port refused at once (TCP reset: a service that is down) or dropped (unreachable). */
  block(peer: string, port: number, how: "refuse" | "drop"): void
  /** Removes every rule block added. */
  unblock(): void
}

export interface Network {
  /** The bridge's address on the subnet: where the test process and Consul listen. */
  readonly gateway: string
  /** Node `index`'s address, whether its host exists yet or not. */
  addressOf(index: number): string
  host(index: number): NodeHost
  /** Kills everything in every host, removes the namespaces, the bridge and its rule. */
  close(): void
}

const argvOf = (pid: number): ReadonlyArray<string> => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((a) => a !== "")
  } catch {
    return []
  }
}

const signalAll = (pids: ReadonlyArray<number>, signal: NodeJS.Signals): void => {
  for (const pid of pids) {
    try {
      process.kill(pid, signal)
    } catch {
      // gone already
    }
  }
}

/** A subnet 10.231.<k>.0/24 no interface here uses yet. */
const freeSubnet = (): number => {
  const used = new Set([...run("ip", ["-o", "-4", "addr", "show"]).matchAll(/10\.231\.(\d+)\./g)].map((m) => Number(m[1])))
  for (let k = 0; k < 256; k++) if (!used.has(k)) return k
  throw new Error("no free 10.231.<k>.0/24 subnet for the test network")
}

export const startNetwork = (): Network => {
  const why = networkSupport()
  if (why !== undefined) throw new Error(`cannot create the test network: ${why}`)
  removeLeftovers()
  const id = `${prefix}${process.pid.toString(36)}c${++networks}`
  const bridge = `${id}b`
  const k = freeSubnet()
  const subnet = `10.231.${k}`
  const gateway = `${subnet}.1`
  run("ip", ["link", "add", bridge, "type", "bridge"])
  run("ip", ["addr", "add", `${gateway}/24`, "dev", bridge])
  run("ip", ["link", "set", bridge, "up"])
  // A Docker engine on this machine sets FORWARD's policy to DROP, which bridged
  // traffic meets when br_netfilter is loaded.
  run("iptables", ["-I", "FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT"])
  const hosts = new Map<number, NodeHost>()
  let closed = false

  const makeHost = (index: number): NodeHost => {
    const ns = `${id}n${index}`
    const veth = `${id}v${index}`
    const address = `${subnet}.${10 + index}`
    mkdirSync(`/etc/netns/${ns}`, { recursive: true })
    writeFileSync(`/etc/netns/${ns}/hosts`, `127.0.0.1 localhost\n${address} node-${index}\n${gateway} ${testHostName}\n`)
    run("ip", ["netns", "add", ns])
    run("ip", ["link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns])
    run("ip", ["link", "set", veth, "master", bridge, "up"])
    run("ip", ["-n", ns, "addr", "add", `${address}/24`, "dev", "eth0"])
    run("ip", ["-n", ns, "link", "set", "eth0", "up"])
    run("ip", ["-n", ns, "link", "set", "lo", "up"])
    run("ip", ["-n", ns, "route", "add", "default", "via", gateway])
    const cuts: Array<ReadonlyArray<string>> = []
    const blocks: Array<ReadonlyArray<string>> = []
    const addRule = (to: Array<ReadonlyArray<string>>, rule: ReadonlyArray<string>): void => {
      run("ip", ["netns", "exec", ns, "iptables", "-I", ...rule])
      to.push(rule)
    }
    const removeRules = (from: Array<ReadonlyArray<string>>): void => {
      for (const rule of from.splice(0)) tryRun("ip", ["netns", "exec", ns, "iptables", "-D", ...rule])
    }
    const pids = () => namespacePids(ns)
    return {
      address,
      namespace: ns,
      wrap: (command, args, options) =>
        options?.container === undefined
          ? { command: "ip", args: ["netns", "exec", ns, command, ...args] }
          : {
            command: "ip",
            args: [
              "netns", "exec", ns, "unshare", "--uts", "/bin/sh", "-c",
              'echo "$1" > /proc/sys/kernel/hostname && mount -t tmpfs -o size=64m,mode=1777 tmpfs /tmp && shift && exec "$@"',
              "node-host", options.container.hostname, command, ...args
            ]
          },
      pids,
      findProcess: (matches) => pids().find((pid) => matches(argvOf(pid))),
      killAll: () => killAll(ns),
      freeze: (frozen) => signalAll(pids(), frozen ? "SIGSTOP" : "SIGCONT"),
      cut: (peer, direction, port) => {
        const to = port === undefined ? [] : ["-p", "tcp", "--dport", String(port)]
        const from = port === undefined ? [] : ["-p", "tcp", "--sport", String(port)]
        if (direction !== "out") addRule(cuts, ["INPUT", "-s", peer, ...from, "-j", "DROP"])
        if (direction !== "in") addRule(cuts, ["OUTPUT", "-d", peer, ...to, "-j", "DROP"])
      },
      heal: () => removeRules(cuts),
      block: (peer, port, how) =>
        addRule(blocks, ["OUTPUT", "-d", peer, "-p", "tcp", "--dport", String(port), "-j", ...(how === "refuse" ? ["REJECT", "--reject-with", "tcp-reset"] : ["DROP"])]),
      unblock: () => removeRules(blocks)
    }
  }

  const close = (): void => {
    if (closed) return
    closed = true
    for (const h of hosts.values()) {
      h.freeze(false)
      h.killAll()
      tryRun("ip", ["netns", "del", h.namespace])
      rmSync(`/etc/netns/${h.namespace}`, { recursive: true, force: true })
    }
    while (tryRun("iptables", ["-D", "FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT"]));
    tryRun("ip", ["link", "del", bridge])
  }
  process.once("exit", close)
  // A signal ends the process without "exit": clean up, then die of it as before.
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = () => {
      close()
      process.kill(process.pid, signal)
    }
    if (process.listenerCount(signal) === 0) process.once(signal, onSignal)
  }

  return {
    gateway,
    addressOf: (index) => `${subnet}.${10 + index}`,
    host: (index) => {
      if (closed) throw new Error("the test network is closed")
      if (index < 1 || index > 200) throw new Error(`node index ${index}: expected 1-200`)
      const existing = hosts.get(index)
      if (existing !== undefined) return existing
      const created = makeHost(index)
      hosts.set(index, created)
      return created
    },
    close
  }
}
