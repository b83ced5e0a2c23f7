// Schemas for single environment values: each decodes the raw string an operator
// wrote into the typed value the handlers use, and rejects anything else. Durations
// follow Go's syntax (`500ms`, `5s`, `1h30m`) because ContainerPilot reads some of
// the same variables as Go durations.
import { Duration, Option, Schema, SchemaGetter } from "effect"

const durationUnits = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const
const durationPart = /(\d+)(ms|s|m|h)/g
const wholeDuration = /^(?:\d+(?:ms|s|m|h))+$/

/** Milliseconds of a Go-style duration string, or None when it is not one. */
export const parseGoDuration = (text: string): Option.Option<number> => {
  if (!wholeDuration.test(text)) return Option.none()
  let millis = 0
  for (const [, amount, unit] of text.matchAll(durationPart)) {
    millis += Number(amount) * durationUnits[unit as keyof typeof durationUnits]
  }
  return Number.isSafeInteger(millis) ? Option.some(millis) : Option.none()
}

/** The shortest Go-style spelling of a duration, for rendering defaults and configs. */
export const formatGoDuration = (d: Duration.Duration): string => {
  const ms = Duration.toMillis(d)
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`
  if (ms % 1_000 === 0) return `${ms / 1_000}s`
  return `${ms}ms`
}

export const GoDuration = (bounds: { readonly min: Duration.Duration; readonly max: Duration.Duration }) =>
  Schema.String.pipe(
    Schema.check(Schema.makeFilter((text: string) => Option.isSome(parseGoDuration(text.trim())))),
    Schema.decodeTo(Schema.Duration, {
      decode: SchemaGetter.transform((text: string) => Duration.millis(Option.getOrElse(parseGoDuration(text.trim()), () => 0))),
      encode: SchemaGetter.transform(formatGoDuration)
    }),
    Schema.check(
      Schema.makeFilter((d: Duration.Duration) =>
        Duration.isGreaterThanOrEqualTo(d, bounds.min) && Duration.isLessThanOrEqualTo(d, bounds.max)
      )
    )
  )

export const IntegerBetween = (minimum: number, maximum: number) =>
  Schema.String.pipe(
    Schema.check(Schema.isPattern(/^\s*-?\d+\s*$/)),
    Schema.decodeTo(Schema.Int, {
      decode: SchemaGetter.transform((text: string) => Number(text.trim())),
      encode: SchemaGetter.transform((n: number) => String(n))
    }),
    Schema.check(Schema.isBetween({ minimum, maximum }))
  )

export const Port = IntegerBetween(1, 65_535)

const ipv4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/
export const IPv4 = Schema.String.check(Schema.isPattern(ipv4))
export const isIPv4 = (text: string): boolean => ipv4.test(text)

const hostname = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

/** `host[:port]`; the port defaults to Consul's HTTP port. */
export const HostPort = (defaultPort: number) =>
  Schema.String.pipe(
    Schema.check(
      Schema.makeFilter((text: string) => {
        const [host = "", port, ...rest] = text.split(":")
        if (rest.length > 0 || !(hostname.test(host) || ipv4.test(host))) return false
        if (port === undefined) return true
        return /^\d+$/.test(port) && Number(port) >= 1 && Number(port) <= 65_535
      })
    ),
    Schema.decodeTo(Schema.Struct({ host: Schema.String, port: Schema.Number }), {
      decode: SchemaGetter.transform((text: string) => {
        const [host = "", port] = text.split(":")
        return { host, port: port === undefined ? defaultPort : Number(port) }
      }),
      encode: SchemaGetter.transform((hp: { readonly host: string; readonly port: number }) => `${hp.host}:${hp.port}`)
    })
  )

/** A name usable as a ContainerPilot job and a Consul service (`^[a-z][a-zA-Z0-9\-]+$`). */
export const ServiceName = Schema.String.check(Schema.isPattern(/^[a-z][a-z0-9-]{0,62}$/))

/** Sentinel master names appear unquoted in sentinel.conf. */
export const MasterName = Schema.String.check(Schema.isPattern(/^[A-Za-z0-9._-]{1,64}$/))

export const AbsolutePath = Schema.String.check(Schema.isPattern(/^\/[^\0\n\r]*$/))

export const HttpUrl = Schema.String.check(Schema.isPattern(/^https?:\/\/[^\s/:]+(:\d+)?(\/\S*)?$/))

/** Values written into redis.conf / sentinel.conf must not break out of their line. */
export const SingleLine = Schema.String.check(Schema.isPattern(/^[^\r\n]+$/))

export const Literal = <const L extends ReadonlyArray<string>>(...literals: L) =>
  Schema.String.pipe(
    Schema.decodeTo(Schema.Literals(literals), {
      decode: SchemaGetter.transform((text: string) => text.trim().toLowerCase()),
      encode: SchemaGetter.transform((l: string) => l)
    })
  )
