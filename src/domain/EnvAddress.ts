// Schemas for the environment's addresses, URLs and paths: IPv4 addresses a peer can
// actually reach, Consul's host[:port], Manta's endpoint, and absolute paths that
// survive every file they are written into (redis.conf, sentinel.conf, the quoted
// strings of containerpilot.json5). Each decodes to one normalised value or fails.
import { Schema, SchemaGetter } from "effect"
import { Text } from "./EnvValue.ts"

const octet = "(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)"
const dottedQuad = new RegExp(`^${octet}\\.${octet}\\.${octet}\\.${octet}$`)

/** The four octets of a dotted quad without leading zeros, or undefined. */
const octets = (text: string): readonly [number, number, number, number] | undefined => {
  const m = dottedQuad.exec(text)
  return m === null ? undefined : [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])]
}

export const isIPv4 = (text: string): boolean => octets(text) !== undefined

export const isLoopback = (text: string): boolean => octets(text)?.[0] === 127

/**
 * An address others can send to: not 0.0.0.0/8 ("this host", what a wildcard bind
 * reports), not multicast (224/4), not reserved or the broadcast address (240/4).
 * Loopback is usable: the local test cluster gives each node its own 127.0.0.x.
 */
export const isUsableAddress = (text: string): boolean => {
  const o = octets(text)
  return o !== undefined && o[0] !== 0 && o[0] < 224
}

export const IPv4 = Text({ maxLength: 15 }).check(Schema.isPattern(dottedQuad))

/** ANNOUNCE_IP: an address peers, Consul and Sentinel can reach. */
export const UsableIPv4 = IPv4.check(Schema.makeFilter(isUsableAddress))

/** BIND_ADDRESS: 0.0.0.0 (every interface) or one usable address. */
export const BindableIPv4 = IPv4.check(Schema.makeFilter((text: string) => text === "0.0.0.0" || isUsableAddress(text)))

const hostname = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/
const isHost = (text: string): boolean => isIPv4(text) ? isUsableAddress(text) : hostname.test(text) && !/^[0-9.]+$/.test(text)
/** A DNS name (not an address): what a certificate is checked against. */
export const DnsName = Text({ maxLength: 253 }).check(Schema.makeFilter((text: string) => hostname.test(text) && !/^[0-9.]+$/.test(text)))

const port = /^[1-9][0-9]{0,4}$/
const isPort = (text: string): boolean => port.test(text) && Number(text) <= 65_535

/** `host[:port]`; the port defaults to `defaultPort` (Consul's HTTP port). */
export const HostPort = (defaultPort: number) =>
  Text({ maxLength: 260 }).pipe(
    Schema.check(
      Schema.makeFilter((text: string) => {
        const [host = "", p, ...rest] = text.split(":")
        return rest.length === 0 && isHost(host) && (p === undefined || isPort(p))
      })
    ),
    Schema.decodeTo(Schema.Struct({ host: Schema.String, port: Schema.Number }), {
      decode: SchemaGetter.transform((text: string) => {
        const [host = "", p] = text.split(":")
        return { host, port: p === undefined ? defaultPort : Number(p) }
      }),
      encode: SchemaGetter.transform((hp: { readonly host: string; readonly port: number }) => `${hp.host}:${hp.port}`)
    })
  )

const httpUrl = /^(https?):\/\/([^/:@\s]+)(?::([^/]*))?\/?$/i

/**
 * An http(s) origin: scheme, host and an optional port, nothing else. No credentials
 * (the key signs every request; a password in a URL would only leak), no path or query.
 * Decodes to `scheme://host[:port]` with scheme and host in lower case.
 */
export const HttpUrl = Text({ maxLength: 300 }).pipe(
  Schema.check(
    Schema.makeFilter((text: string) => {
      const m = httpUrl.exec(text)
      return m !== null && isHost(m[2] ?? "") && (m[3] === undefined || isPort(m[3]))
    })
  ),
  Schema.decodeTo(Schema.String, {
    decode: SchemaGetter.transform((text: string) => {
      const m = httpUrl.exec(text)
      const [scheme = "", host = "", p] = [m?.[1], m?.[2], m?.[3]]
      return `${scheme.toLowerCase()}://${host.toLowerCase()}${p === undefined ? "" : `:${p}`}`
    }),
    encode: SchemaGetter.transform((url: string) => url)
  })
)

/**
 * Written into redis.conf and sentinel.conf (quoted) and into single-quoted
 * containerpilot.json5 strings, where a quote or backslash would end or escape the
 * string. One spelling per directory: no '.' or '..' parts, no '//', no trailing '/'.
 */
export const isCleanAbsolutePath = (text: string): boolean =>
  text === "/" ||
  (text.startsWith("/") && !/['"\\]/.test(text) && text.slice(1).split("/").every((part) => part !== "" && part !== "." && part !== ".."))

export const AbsolutePath = Text({ maxLength: 1024 }).check(Schema.makeFilter(isCleanAbsolutePath))

/**
 * PEERS: comma-separated hosts without ports (each node's ports are REDIS_PORT and
 * SENTINEL_PORT), a name standing for every address it resolves to. Decodes to the
 * hosts in order, without repeats.
 */
export const HostList = Text({ maxLength: 1024 }).pipe(
  Schema.check(Schema.makeFilter((text: string) => text.split(",").every(isHost))),
  Schema.decodeTo(Schema.Array(Schema.String), {
    decode: SchemaGetter.transform((text: string) => [...new Set(text.split(","))]),
    encode: SchemaGetter.transform((hosts: ReadonlyArray<string>) => hosts.join(","))
  })
)
