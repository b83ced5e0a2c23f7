// One node's ContainerPilot 3.8.0, as one container runs it: renders
// containerpilot.json5 over the node's environment, runs its jobs on one event bus
// (core/app.go: every job subscribes, then `startup` is published), stops them the
// way a SIGTERM to PID 1 does, or dies at once like a killed container. Since many
// nodes share one runner process, each node gets a stand-in "PID 1" (a sleeping
// child): its PID is CONTAINERPILOT_PID, and a SIGTERM to it stops the node.
// Not emulated: watches, telemetry, the control socket, maintenance, `when.timeout`.
import { type ContainerPilotConfig, type Exec, loadContainerPilotConfig, parseDuration, parseExec } from "../containerpilot/template.ts"
import { type BusEvent, GLOBAL, type JobHost, JobRunner } from "./Job.ts"
import { appendLine, type ProcessGroup, spawnGroup } from "./ProcessGroup.ts"
import { ServiceRegistration } from "./ServiceRegistration.ts"

/** What a node's runner needs of its ContainerPilot, the emulator or the real binary (RealContainerPilot). */
export interface Pilot {
  /** Resolves once every process of the node is gone, with how it ended. */
  readonly exited: Promise<ContainerExit>
  /** The running process of `job` (undefined for exec-less jobs and between restarts). */
  pid(job: string): number | undefined
  /** A signal to one job's process; false when it was not running. */
  signalProcess(job: string, signal: "SIGKILL" | "SIGSTOP" | "SIGCONT"): boolean
  /** Graceful, like `docker stop`. */
  stop(): Promise<void>
  /** Like `docker kill`: everything at once, nothing deregistered. */
  kill(): Promise<void>
}

export type PilotOptions = ContainerPilotOptions

export interface ContainerPilotOptions {
  readonly configPath: string
  /** The container's environment: the template sees exactly this, children get it plus CONTAINERPILOT_*. */
  readonly env: Readonly<Record<string, string>>
  /** `<job>.log` per job and `containerpilot.log` go here. */
  readonly logDir: string
  readonly cwd: string
}

/** How a node ended: `stop()`, a SIGTERM/SIGINT to its PID 1 (a graceful exit), `kill()`, or PID 1 dying otherwise. */
export type ContainerExit = "stopped" | "terminated" | "killed" | "crashed"

/** Bound on waiting for jobs to finish their cleanup, beyond the longest job stopTimeout: a guard, not a semantic. */
const cleanupGuardMs = 30_000

const envName = (job: string): string => job.toUpperCase().replaceAll("-", "_")

const staticAddress = (job: string, interfaces: ReadonlyArray<string> | undefined): string => {
  const found = (interfaces ?? []).find((i) => i.startsWith("static:"))
  if (found === undefined) {
    throw new Error(`job ${job}: interfaces ${JSON.stringify(interfaces ?? ["eth0:inet"])} cannot be resolved by the local runner; it needs 'static:<ip>' (set ANNOUNCE_IP)`)
  }
  return found.slice("static:".length)
}

const unsupported = (config: ContainerPilotConfig): ReadonlyArray<string> => [
  ...(config.watches !== undefined && config.watches.length > 0 ? ["watches"] : []),
  ...config.jobs.flatMap((j) => (j.when !== undefined && "timeout" in j.when && j.when.timeout !== undefined ? [`job ${j.name}: when.timeout`] : []))
]

export class ContainerPilot implements Pilot {
  private readonly jobs: Array<JobRunner> = []
  private readonly groups = new Set<ProcessGroup>()
  private readonly queue: Array<BusEvent> = []
  private draining = false
  private readonly waiters = new Set<{ readonly event: BusEvent; readonly resolve: (came: boolean) => void }>()
  private readonly childEnv: Record<string, string>
  private readonly logFile: string
  private pid1: ProcessGroup | undefined
  private ending: Promise<void> | undefined
  private exitResolve: (how: ContainerExit) => void = () => {}
  /** Resolves once every process of the node is gone, with how it ended. */
  readonly exited: Promise<ContainerExit> = new Promise((resolve) => (this.exitResolve = resolve))

  private readonly options: ContainerPilotOptions
  private readonly config: ContainerPilotConfig

  private constructor(options: ContainerPilotOptions, config: ContainerPilotConfig) {
    this.options = options
    this.config = config
    this.logFile = `${options.logDir}/containerpilot.log`
    this.childEnv = { ...options.env }
  }

  /** Loads the configuration (throws on an invalid or unsupported one, before anything runs) and starts the jobs. */
  static start(options: ContainerPilotOptions): ContainerPilot {
    const config = loadContainerPilotConfig(options.configPath, options.env)
    const missing = unsupported(config)
    if (missing.length > 0) throw new Error(`not supported by the local ContainerPilot runner: ${missing.join(", ")}`)
    const cp = new ContainerPilot(options, config)
    cp.boot()
    return cp
  }

  private boot(): void {
    const services = this.config.jobs.map((job) => {
      if (job.port === undefined || job.port === 0 || job.health === undefined) return undefined
      const address = staticAddress(job.name, job.interfaces)
      this.childEnv[`CONTAINERPILOT_${envName(job.name)}_IP`] = address
      const id = `${job.name}-${this.options.env["HOSTNAME"] ?? "localhost"}`
      return new ServiceRegistration(
        {
          address: `${this.config.consul.scheme}://${this.config.consul.address}`,
          ...(this.options.env["CONSUL_HTTP_TOKEN"] ? { token: this.options.env["CONSUL_HTTP_TOKEN"] } : {})
        },
        {
          id,
          name: job.name,
          address,
          port: job.port,
          ttl: job.health.ttl,
          ...(job.tags !== undefined ? { tags: job.tags } : {}),
          ...(job.consul?.enableTagOverride !== undefined ? { enableTagOverride: job.consul.enableTagOverride } : {}),
          ...(job.consul?.deregisterCriticalServiceAfter !== undefined ? { deregisterCriticalServiceAfter: job.consul.deregisterCriticalServiceAfter } : {})
        },
        (line) => this.log(line)
      )
    })
    const host: JobHost = {
      publish: (event) => this.publish(event),
      waitFor: (event, timeoutMs) => this.waitFor(event, timeoutMs),
      spawn: (job, exec, timeoutMs) => this.spawn(job, exec, timeoutMs),
      log: (line) => this.log(line),
      stoppingListener: (job) =>
        this.config.jobs.findLast((j) => j.when !== undefined && "once" in j.when && j.when.source === job && j.when.once === "stopping")?.name
    }
    this.config.jobs.forEach((job, i) => this.jobs.push(new JobRunner(job, host, services[i])))
    // Last: nothing may throw once a process runs.
    this.pid1 = spawnGroup({ command: "sleep", args: ["infinity"], env: this.options.env, cwd: this.options.cwd, logFile: this.logFile })
    const pid1 = this.pid1
    if (pid1.pid === undefined) throw new Error("cannot start the node's stand-in PID 1 (sleep infinity)")
    this.childEnv["CONTAINERPILOT_PID"] = String(pid1.pid)
    this.groups.add(pid1)
    void pid1.exited.then((exit) => {
      this.groups.delete(pid1)
      if (this.ending !== undefined) return
      this.log(`PID 1 stand-in (pid ${pid1.pid ?? "?"}) got ${exit.signal ?? `exit ${exit.code ?? "?"}`}`)
      if (exit.signal === "SIGTERM" || exit.signal === "SIGINT") void this.shutdown("terminated")
      else void this.crashAll("crashed")
    })
    this.log(`started: pid 1 stand-in ${pid1.pid}, jobs ${this.jobs.map((j) => j.name).join(", ")}, consul ${this.config.consul.scheme}://${this.config.consul.address}`)
    for (const job of this.jobs) job.run()
    this.publish({ code: "startup", source: GLOBAL })
  }

  /** The running process of `job` (undefined for exec-less jobs and between restarts). */
  pid(job: string): number | undefined {
    return this.jobs.find((j) => j.name === job)?.pid()
  }

  /** A signal to one job's process group (SIGKILL a crash, SIGSTOP/SIGCONT a freeze); false when it was not running. */
  signalProcess(job: string, signal: "SIGKILL" | "SIGSTOP" | "SIGCONT"): boolean {
    const runner = this.jobs.find((j) => j.name === job)
    if (runner === undefined) throw new Error(`no job named ${JSON.stringify(job)} (jobs: ${this.jobs.map((j) => j.name).join(", ")})`)
    this.log(`operator: ${signal} ${job}`)
    return runner.signalProcess(signal)
  }

  /** Graceful, like `docker stop`: pre-stop style jobs run, every job is cleaned up, then stopTimeout bounds the rest. */
  stop(): Promise<void> {
    return this.shutdown("stopped")
  }

  /** Like `docker kill` or a crash: SIGKILL everything at once, nothing deregistered. */
  kill(): Promise<void> {
    return this.crashAll("killed")
  }

  private shutdown(how: ContainerExit): Promise<void> {
    this.ending ??= (async () => {
      this.log(`shutdown (${how})`)
      const longestWait = Math.max(0, ...this.config.jobs.map((j) => (j.stopTimeout !== undefined ? parseDuration(j.stopTimeout) : 0)))
      this.publish({ code: "shutdown", source: GLOBAL })
      const cleaned = await within(Promise.all(this.jobs.map((j) => j.completed)), longestWait + cleanupGuardMs)
      if (!cleaned) this.log(`jobs still not cleaned up after ${longestWait + cleanupGuardMs} ms: killing`)
      // As core/app.go: once every job is done, the whole stopTimeout passes before
      // whatever still runs is killed and ContainerPilot exits, even when nothing runs.
      await new Promise((resolve) => setTimeout(resolve, this.config.stopTimeout * 1000))
      this.log(`stopTimeout ${this.config.stopTimeout}s over: killing what is left`)
      for (const job of this.jobs) job.crash()
      for (const g of this.groups) g.signal("SIGKILL")
      await this.allExited(undefined)
      this.log(`exited (${how})`)
      this.exitResolve(how)
    })()
    return this.ending
  }

  /** Also cuts short a graceful shutdown in progress, as `docker kill` does to `docker stop`. */
  private async crashAll(how: ContainerExit): Promise<void> {
    const graceful = this.ending
    this.ending = (async () => {
      this.log(`killed (${how}): SIGKILL to every process`)
      for (const job of this.jobs) job.crash()
      for (const g of this.groups) g.signal("SIGKILL")
      for (const w of [...this.waiters]) w.resolve(false)
      this.waiters.clear()
      await this.allExited(undefined)
      await graceful
      this.exitResolve(how)
    })()
    return this.ending
  }

  private async allExited(timeoutMs: number | undefined): Promise<boolean> {
    const all = Promise.all([...this.groups].map((g) => g.exited))
    return timeoutMs === undefined ? all.then(() => true) : within(all, timeoutMs)
  }

  private spawn(job: string, exec: Exec, timeoutMs: number | undefined): ProcessGroup {
    const { command, args } = parseExec(exec)
    const env: Record<string, string> = { ...this.childEnv }
    for (const j of this.jobs) {
      const pid = j.pid()
      if (pid !== undefined) env[`CONTAINERPILOT_${envName(j.name)}_PID`] = String(pid)
    }
    const group = spawnGroup({
      command,
      args,
      env,
      cwd: this.options.cwd,
      logFile: `${this.options.logDir}/${job}.log`,
      ...(timeoutMs !== undefined ? { timeoutMs } : {})
    })
    if (group.pid !== undefined) {
      this.groups.add(group)
      void group.exited.then(() => this.groups.delete(group))
    }
    return group
  }

  private publish(event: BusEvent): void {
    this.queue.push(event)
    if (this.draining) return
    this.draining = true
    try {
      for (let next = this.queue.shift(); next !== undefined; next = this.queue.shift()) {
        const e = next
        if (e.code !== "healthy" && e.code !== "unhealthy") this.log(`event ${e.code} ${e.source}`)
        for (const job of this.jobs) job.onEvent(e)
        for (const w of [...this.waiters]) {
          if (w.event.code === e.code && w.event.source === e.source) {
            this.waiters.delete(w)
            w.resolve(true)
          }
        }
      }
    } finally {
      this.draining = false
    }
  }

  private waitFor(event: BusEvent, timeoutMs: number | undefined): Promise<boolean> {
    return new Promise((resolve) => {
      const waiter = {
        event,
        resolve: (came: boolean) => {
          clearTimeout(timer)
          resolve(came)
        }
      }
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => {
        this.waiters.delete(waiter)
        resolve(false)
      }, timeoutMs)
      this.waiters.add(waiter)
    })
  }

  private log(line: string): void {
    appendLine(this.logFile, line)
  }
}

/** Resolves true when `promise` settles first, false after `ms`; the timer never outlives the race. */
export const within = async (promise: Promise<unknown>, ms: number): Promise<boolean> => {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)))
  try {
    return await Promise.race([promise.then(() => true), timeout])
  } finally {
    clearTimeout(timer)
  }
}
