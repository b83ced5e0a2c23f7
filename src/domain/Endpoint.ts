// A Redis or Sentinel address as the cluster announces it: an IPv4 host and a port.
// Equality is by value, because the same node is reported by Consul, Sentinel and
// Redis itself in separately decoded replies.

export interface Endpoint {
  readonly host: string
  readonly port: number
}

export const endpoint = (host: string, port: number): Endpoint => ({ host, port })

export const formatEndpoint = (e: Endpoint): string => `${e.host}:${e.port}`

/** `host:port` as formatEndpoint writes it; undefined for anything else. */
export const parseEndpoint = (text: string): Endpoint | undefined => {
  const m = /^([^:\s]+):(\d{1,5})$/.exec(text)
  return m?.[1] === undefined ? undefined : { host: m[1], port: Number(m[2]) }
}

export const sameEndpoint = (a: Endpoint, b: Endpoint): boolean => a.host === b.host && a.port === b.port

/** Distinct endpoints, first occurrence first. */
export const uniqueEndpoints = (endpoints: Iterable<Endpoint>): ReadonlyArray<Endpoint> => {
  const seen = new Map<string, Endpoint>()
  for (const e of endpoints) if (!seen.has(formatEndpoint(e))) seen.set(formatEndpoint(e), e)
  return [...seen.values()]
}

/** Orders IPv4 endpoints numerically (10.0.0.9 before 10.0.0.10), then by port. */
export const compareEndpoints = (a: Endpoint, b: Endpoint): number => {
  const octets = (e: Endpoint) => e.host.split(".").map(Number)
  const [x, y] = [octets(a), octets(b)]
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0)
    if (d !== 0) return d
  }
  return a.port - b.port
}
