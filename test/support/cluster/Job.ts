// One ContainerPilot 3.8.0 job (jobs/jobs.go): its start event (once/each/startup/
// interval), restart budget, exec with timeout, health check feeding healthy/unhealthy
// and the Consul TTL heartbeat, and the cleanup that publishes stopping, waits for the
// job listening to that, SIGTERMs, deregisters and publishes stopped. The event bus,
// process spawning and Consul target come from the node (JobHost).
import { type Exec, type Job, type JobEvent, parseDuration } from "../containerpilot/template.ts"
import { describeExit, type ProcessExit, type ProcessGroup, succeeded } from "./ProcessGroup.ts"
import { type ServiceRegistration } from "./ServiceRegistration.ts"

export interface BusEvent {
  readonly code: JobEvent
  readonly source: string
}

/** Source of the `startup` and `shutdown` events that every job receives. */
export const GLOBAL = "global"

export interface JobHost {
  publish(event: BusEvent): void
  /** Resolves true when `event` is published, false after `timeoutMs` (undefined: no bound). */
  waitFor(event: BusEvent, timeoutMs: number | undefined): Promise<boolean>
  spawn(job: string, exec: Exec, timeoutMs: number | undefined): ProcessGroup
  log(line: string): void
  /** The job started by this job's `stopping` event (`once`), which this job waits for when it stops. */
  stoppingListener(job: string): string | undefined
}

type Status = "idle" | "unknown" | "healthy" | "unhealthy"

const sameEvent = (a: BusEvent, b: BusEvent): boolean => a.code === b.code && a.source === b.source

const restartLimit = (job: Job): number => {
  const r = job.restarts ?? (job.when !== undefined && "interval" in job.when ? "unlimited" : "never")
  return r === "unlimited" ? Number.POSITIVE_INFINITY : r === "never" ? 0 : r
}

export class JobRunner {
  readonly name: string
  private startEvent: BusEvent | undefined
  private startsRemain: number
  private restartsRemain: number
  private readonly frequencyMs: number | undefined
  private readonly execTimeoutMs: number | undefined
  private status: Status = "idle"
  private exec: ProcessGroup | undefined
  private check: ProcessGroup | undefined
  private readonly timers: Array<NodeJS.Timeout> = []
  private healthStarted = false
  /** The event loop has returned (jobHalt); cleanup runs or ran. */
  private halted = false
  /** Killed with the node: no more events, restarts or Consul calls. */
  private dead = false
  private completeResolve: () => void = () => {}
  readonly completed: Promise<void> = new Promise((resolve) => (this.completeResolve = resolve))

  private readonly job: Job
  private readonly host: JobHost
  readonly service: ServiceRegistration | undefined

  constructor(job: Job, host: JobHost, service: ServiceRegistration | undefined) {
    this.job = job
    this.host = host
    this.service = service
    this.name = job.name
    const when = job.when
    this.startEvent = when === undefined || "interval" in when
      ? { code: "startup", source: GLOBAL }
      : { code: "once" in when ? when.once : when.each, source: when.source }
    this.startsRemain = when !== undefined && "each" in when ? Number.POSITIVE_INFINITY : 1
    this.restartsRemain = restartLimit(job)
    this.frequencyMs = when !== undefined && "interval" in when ? parseDuration(when.interval) : undefined
    this.execTimeoutMs = job.timeout !== undefined ? parseDuration(job.timeout) : this.frequencyMs
  }

  /** PID of the job's own process while it runs (not its health check). */
  pid(): number | undefined {
    return this.exec?.running() === true ? this.exec.pid : undefined
  }

  /** Job.Run: timers that live from ContainerPilot's start, independent of the start event. */
  run(): void {
    if (this.frequencyMs !== undefined) this.timers.push(setInterval(() => this.onRunEvery(), this.frequencyMs))
  }

  onEvent(event: BusEvent): void {
    if (this.halted || this.dead) return
    if (event.source === GLOBAL && event.code === "shutdown") return this.onQuit()
    if (this.startEvent !== undefined && sameEvent(event, this.startEvent)) this.onStartEvent()
  }

  /** SIGKILL of everything this job runs, nothing published or deregistered: the container died. */
  crash(): void {
    this.dead = true
    this.halted = true
    this.clearTimers()
    this.exec?.signal("SIGKILL")
    this.check?.signal("SIGKILL")
    this.completeResolve()
  }

  /** A signal to the job's own process group only; after SIGKILL the restart policy applies as to any exit. */
  signalProcess(signal: "SIGKILL" | "SIGSTOP" | "SIGCONT"): boolean {
    if (this.exec?.running() !== true) return false
    this.exec.signal(signal)
    return true
  }

  private onStartEvent(): void {
    if (this.startsRemain === 0) return this.halt()
    if (this.startsRemain !== Number.POSITIVE_INFINITY) {
      this.startsRemain--
      // Never receive the start event again while the exec from this one still runs.
      if (this.startsRemain === 0 || this.restartsRemain === 0) this.startEvent = undefined
    }
    this.startJobExec()
  }

  private onRunEvery(): void {
    if (this.halted || this.dead) return
    if (this.restartsRemain <= 0) {
      this.startEvent = undefined
      return this.halt()
    }
    if (this.exec?.running() === true) {
      this.host.log(`${this.name}: interval elapsed while the previous run is still going; not started twice`)
      return
    }
    this.restartsRemain--
    this.startJobExec()
  }

  private onQuit(): void {
    this.restartsRemain = 0
    const code = this.startEvent?.code
    if ((code === "stopping" || code === "stopped") && this.job.exec !== undefined) {
      // pre-stop style jobs ignore the global shutdown and end with their own exit.
      if (this.startsRemain === Number.POSITIVE_INFINITY) this.startsRemain = 1
      return
    }
    this.startsRemain = 0
    this.startEvent = undefined
    this.halt()
  }

  private startJobExec(): void {
    this.status = "unknown"
    this.startHealth()
    if (this.job.exec === undefined) return
    if (this.exec?.running() === true) {
      this.host.log(`${this.name}: already running (pid ${this.exec.pid ?? "?"}); not started twice`)
      return
    }
    const exec = this.host.spawn(this.name, this.job.exec, this.execTimeoutMs)
    this.exec = exec
    this.host.log(`${this.name}: started pid ${exec.pid ?? "(none)"}`)
    void exec.exited.then((exit) => this.onExecExit(exit))
  }

  private onExecExit(exit: ProcessExit): void {
    if (this.dead) return
    this.host.log(`${this.name}: pid ${this.exec?.pid ?? "?"} ${describeExit(exit)}`)
    this.host.publish({ code: succeeded(exit) ? "exitSuccess" : "exitFailed", source: this.name })
    if (this.halted || this.frequencyMs !== undefined) return // periodic jobs ignore their exits
    if (this.restartsRemain > 0) {
      this.restartsRemain--
      this.startJobExec()
      return
    }
    if (this.startsRemain !== 0) return
    this.startEvent = undefined
    this.status = "unknown"
    this.halt()
  }

  private startHealth(): void {
    const health = this.job.health
    if (health === undefined || this.healthStarted) return
    this.healthStarted = true
    this.runCheck()
    this.timers.push(setInterval(() => this.runCheck(), health.interval * 1000))
  }

  private runCheck(): void {
    const health = this.job.health
    if (health === undefined || this.halted || this.dead || this.status === "idle") return
    if (this.check?.running() === true) return // ContainerPilot never runs two checks of a job at once
    const timeoutMs = health.timeout !== undefined ? parseDuration(health.timeout) : health.interval * 1000
    const check = this.host.spawn(this.name, health.exec, timeoutMs)
    this.check = check
    void check.exited.then((exit) => {
      if (this.halted || this.dead) return
      const passed = succeeded(exit)
      const next: Status = passed ? "healthy" : "unhealthy"
      if (next !== this.status) this.host.log(`${this.name}: ${next}${passed ? "" : ` (health check ${describeExit(exit)})`}`)
      this.status = next
      this.host.publish({ code: next, source: this.name })
      if (passed) void this.service?.heartbeat()
    })
  }

  private clearTimers(): void {
    for (const t of this.timers.splice(0)) clearInterval(t)
  }

  private halt(): void {
    if (this.halted) return
    this.halted = true
    void this.cleanup()
  }

  private async cleanup(): Promise<void> {
    const listener = this.host.stoppingListener(this.name)
    const waited = listener === undefined
      ? Promise.resolve(true)
      : this.host.waitFor({ code: "stopped", source: listener }, this.job.stopTimeout !== undefined ? parseDuration(this.job.stopTimeout) : undefined)
    this.host.publish({ code: "stopping", source: this.name })
    if (listener !== undefined) {
      this.host.log(`${this.name}: stopping, waiting for ${listener}`)
      if (!(await waited)) this.host.log(`${this.name}: ${listener} did not finish within stopTimeout ${this.job.stopTimeout ?? ""}`)
    }
    if (this.dead) return
    this.clearTimers()
    if (this.exec?.running() === true) this.host.log(`${this.name}: SIGTERM to pid ${this.exec.pid ?? "?"}`)
    this.exec?.signal("SIGTERM")
    this.check?.signal("SIGTERM")
    if (this.service !== undefined) await this.service.deregister()
    this.completeResolve()
    this.host.publish({ code: "stopped", source: this.name })
  }
}
