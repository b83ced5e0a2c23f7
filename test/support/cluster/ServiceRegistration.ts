// ContainerPilot's discovery/service.go over plain fetch: a service is registered on
// its first passing check (with one TTL check, `service:<id>`), every later pass is a
// TTL heartbeat, and registration is cached for the life of the process, so a service
// Consul removed is never registered again. Consul failures are logged and retried at
// the next check; they never reject.

export interface ConsulTarget {
  /** "host:port" as rendered in containerpilot.json5, or a URL. */
  readonly address: string
  readonly token?: string
}

export interface ServiceDefinition {
  /** `<job name>-<HOSTNAME>` */
  readonly id: string
  readonly name: string
  readonly address: string
  readonly port: number
  /** Seconds. */
  readonly ttl: number
  readonly tags?: ReadonlyArray<string>
  readonly enableTagOverride?: boolean
  readonly deregisterCriticalServiceAfter?: string
}

/** Bound of one Consul call: a hanging agent must not pile up heartbeats. */
const callTimeoutMs = 2_000

const baseUrl = (address: string): string => (/^https?:\/\//.test(address) ? address.replace(/\/+$/, "") : `http://${address}`)

export const consulPut = async (target: ConsulTarget, path: string, body?: unknown): Promise<void> => {
  const response = await fetch(`${baseUrl(target.address)}${path}`, {
    method: "PUT",
    headers: { ...(target.token !== undefined ? { "X-Consul-Token": target.token } : {}), "Content-Type": "application/json" },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(callTimeoutMs)
  })
  const text = await response.text()
  if (!response.ok) throw new Error(`PUT ${path}: HTTP ${response.status} ${text.trim().slice(0, 200)}`)
}

const message = (e: unknown): string =>
  e instanceof Error ? (e.cause instanceof Error ? `${e.message}: ${e.cause.message}` : e.message) : String(e)

export class ServiceRegistration {
  private wasRegistered = false
  private inFlight = false

  private readonly consul: ConsulTarget
  readonly definition: ServiceDefinition
  private readonly log: (line: string) => void

  constructor(consul: ConsulTarget, definition: ServiceDefinition, log: (line: string) => void) {
    this.consul = consul
    this.definition = definition
    this.log = log
  }

  get checkId(): string {
    return `service:${this.definition.id}`
  }

  /** Registers once (status passing), then passes the TTL check. Skipped while the previous call is still out. */
  async heartbeat(): Promise<void> {
    if (this.inFlight) {
      this.log(`heartbeat for ${this.definition.id} skipped: the previous Consul call has not returned`)
      return
    }
    this.inFlight = true
    try {
      if (!this.wasRegistered) {
        const d = this.definition
        try {
          await consulPut(this.consul, "/v1/agent/service/register", {
            ID: d.id,
            Name: d.name,
            Tags: d.tags ?? [],
            Port: d.port,
            Address: d.address,
            EnableTagOverride: d.enableTagOverride ?? false,
            Check: {
              TTL: `${d.ttl}s`,
              Status: "passing",
              Notes: `TTL for ${d.name} set by containerpilot`,
              ...(d.deregisterCriticalServiceAfter !== undefined ? { DeregisterCriticalServiceAfter: d.deregisterCriticalServiceAfter } : {})
            }
          })
          this.wasRegistered = true
          this.log(`service registered: ${d.id} (${d.address}:${d.port})`)
        } catch (e) {
          this.log(`service registration failed: ${d.id}: ${message(e)}`)
        }
      }
      try {
        await consulPut(this.consul, `/v1/agent/check/pass/${encodeURIComponent(this.checkId)}?note=ok`)
      } catch (e) {
        this.log(`service update TTL failed: ${this.checkId}: ${message(e)}`)
      }
    } finally {
      this.inFlight = false
    }
  }

  /** At the job's cleanup, as ContainerPilot does; the cached registration is kept. */
  async deregister(): Promise<void> {
    try {
      await consulPut(this.consul, `/v1/agent/service/deregister/${encodeURIComponent(this.definition.id)}`)
      this.log(`service deregistered: ${this.definition.id}`)
    } catch (e) {
      this.log(`deregistering failed: ${this.definition.id}: ${message(e)}`)
    }
  }
}
