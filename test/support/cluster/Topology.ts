// What Consul says the cluster is: the passing instances of the three services
// (DESIGN.md §3), read over the HTTP API so it works on the emulator and on a real
// Consul alike. Used by the CLI to notice topology changes and by tests to wait for them.

export interface PassingInstance {
  readonly id: string
  readonly address: string
  readonly port: number
}

export interface Topology {
  readonly masters: ReadonlyArray<PassingInstance>
  readonly replicas: ReadonlyArray<PassingInstance>
  readonly sentinels: ReadonlyArray<PassingInstance>
}

const isRecord = (v: unknown): v is Readonly<Record<string, unknown>> => typeof v === "object" && v !== null && !Array.isArray(v)

/** GET /v1/health/service/<name>?passing, decoded to id/address/port, sorted by address. */
export const passingInstances = async (consulAddress: string, service: string, token?: string): Promise<ReadonlyArray<PassingInstance>> => {
  const base = /^https?:\/\//.test(consulAddress) ? consulAddress : `http://${consulAddress}`
  const response = await fetch(`${base}/v1/health/service/${encodeURIComponent(service)}?passing`, {
    headers: token !== undefined ? { "X-Consul-Token": token } : {},
    signal: AbortSignal.timeout(2_000)
  })
  if (!response.ok) throw new Error(`GET /v1/health/service/${service}: HTTP ${response.status}`)
  const body: unknown = await response.json()
  if (!Array.isArray(body)) throw new Error(`GET /v1/health/service/${service}: not a list`)
  return body
    .flatMap((entry: unknown) => {
      const s = isRecord(entry) ? entry["Service"] : undefined
      if (!isRecord(s) || typeof s["ID"] !== "string" || typeof s["Port"] !== "number") return []
      const node = isRecord(entry) ? entry["Node"] : undefined
      const address = typeof s["Address"] === "string" && s["Address"] !== ""
        ? s["Address"]
        : isRecord(node) && typeof node["Address"] === "string" ? node["Address"] : ""
      return [{ id: s["ID"], address, port: s["Port"] }]
    })
    .sort((a, b) => a.address.localeCompare(b.address, "en", { numeric: true }) || a.port - b.port)
}

export const readTopology = async (consulAddress: string, serviceName = "redis", token?: string): Promise<Topology> => {
  const [masters, replicas, sentinels] = await Promise.all([
    passingInstances(consulAddress, serviceName, token),
    passingInstances(consulAddress, `${serviceName}-replica`, token),
    passingInstances(consulAddress, `${serviceName}-sentinel`, token)
  ])
  return { masters, replicas, sentinels }
}

const list = (xs: ReadonlyArray<PassingInstance>): string => (xs.length === 0 ? "none" : xs.map((x) => x.address).join(", "))

/** One line, stable for equal topologies (the CLI prints when it changes). */
export const describeTopology = (t: Topology): string =>
  `master: ${list(t.masters)} | replicas: ${list(t.replicas)} | sentinels: ${list(t.sentinels)}`

/** One master, every other node a replica, a sentinel on each node. */
export const fullyUp = (t: Topology, nodes: number): boolean =>
  t.masters.length === 1 && t.replicas.length === nodes - 1 && t.sentinels.length === nodes
