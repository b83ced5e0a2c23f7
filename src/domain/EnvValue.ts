// Schemas for single environment values: each decodes the raw string an operator
// wrote into the one value every consumer reads the same way (the handlers,
// ContainerPilot's Go template and JSON5 parser, redis.conf, sentinel.conf), or
// rejects it. Nothing is trimmed: ContainerPilot renders values verbatim, so a value
// the handlers would trim could still break its configuration. Durations follow Go's
// syntax (`500ms`, `5s`, `1h30m`) because ContainerPilot reads some of them too.
import { Duration, Option, Schema, SchemaGetter } from "effect"

// ---------------------------------------------------------------- text every value must be

export interface TextRules {
  readonly maxLength: number
  /**
   * Only a private key may span lines (an `_env` file writes them as '#'); its parser
   * ignores the blank lines around it, so they are allowed too.
   */
  readonly multiline?: boolean
}

// C0 controls (tab and line breaks included), DEL and C1 controls: ContainerPilot's
// JSON5 parser rejects them inside strings, and in redis.conf they split or hide text.
const control = /[\u0000-\u001f\u007f-\u009f]/
const loneSurrogate = /\p{Cs}/u
const controlButNewline = /[\u0000-\u0009\u000b\u000c\u000e-\u001f\u007f-\u009f]/

/**
 * Why `text` cannot be any variable's value, as short phrases naming no part of it;
 * empty when it can. Node decodes invalid UTF-8 in the environment to U+FFFD, so a
 * value holding one is not the bytes the operator wrote.
 */
export const textFlaws = (text: string, rules: TextRules): ReadonlyArray<string> => {
  const flaws: Array<string> = []
  if (text.trim() === "") flaws.push("is only whitespace (an empty value means unset)")
  else if (text !== text.trim() && rules.multiline !== true) flaws.push("has leading or trailing whitespace")
  if ((rules.multiline === true ? controlButNewline : control).test(text)) flaws.push("holds a control character")
  if (loneSurrogate.test(text) || text.includes("\uFFFD")) flaws.push("is not valid UTF-8")
  if (text.length > rules.maxLength) flaws.push(`is longer than ${rules.maxLength} characters`)
  return flaws
}

/** A string that passes `textFlaws`: the base of every value schema below. */
export const Text = (rules: TextRules) => Schema.String.check(Schema.makeFilter((text: string) => textFlaws(text, rules).length === 0))

const matching = (pattern: RegExp, maxLength: number) => Text({ maxLength }).check(Schema.isPattern(pattern))

// ---------------------------------------------------------------- numbers and durations

/** Plain decimal without sign or leading zero: JSON5 (ContainerPilot) rejects `06379`. */
const canonicalInteger = /^(?:0|[1-9][0-9]*)$/

export const IntegerBetween = (minimum: number, maximum: number) =>
  matching(canonicalInteger, 10).pipe(
    Schema.decodeTo(Schema.Int, {
      decode: SchemaGetter.transform((text: string) => Number(text)),
      encode: SchemaGetter.transform((n: number) => String(n))
    }),
    Schema.check(Schema.isBetween({ minimum, maximum }))
  )

export const Port = IntegerBetween(1, 65_535)

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

/** Go's time.ParseDuration and ours agree on every string this accepts (a subset of Go's). */
export const GoDuration = (bounds: { readonly min: Duration.Duration; readonly max: Duration.Duration }) =>
  Text({ maxLength: 32 }).pipe(
    Schema.check(Schema.makeFilter((text: string) => Option.isSome(parseGoDuration(text)))),
    Schema.decodeTo(Schema.Duration, {
      decode: SchemaGetter.transform((text: string) => Duration.millis(Option.getOrElse(parseGoDuration(text), () => 0))),
      encode: SchemaGetter.transform(formatGoDuration)
    }),
    Schema.check(
      Schema.makeFilter((d: Duration.Duration) =>
        Duration.isGreaterThanOrEqualTo(d, bounds.min) && Duration.isLessThanOrEqualTo(d, bounds.max)
      )
    )
  )

/** Redis's memory units (config.c memtoull): k, m, g powers of 1000; kb, mb, gb of 1024; any case. */
const sizeUnits = { "": 1, k: 1_000, kb: 1_024, m: 1_000_000, mb: 1_048_576, g: 1_000_000_000, gb: 1_073_741_824 } as const
const sizePattern = /^(0|[1-9][0-9]{0,12})(k|kb|m|mb|g|gb)?$/i

/** Bytes of a size as redis.conf writes one (`64mb`, `1gb`, `1048576`), or None when it is not one. */
export const parseByteSize = (text: string): Option.Option<number> => {
  const m = sizePattern.exec(text)
  if (m === null) return Option.none()
  const unit = (m[2] ?? "").toLowerCase() as keyof typeof sizeUnits
  const bytes = Number(m[1]) * sizeUnits[unit]
  return Number.isSafeInteger(bytes) ? Option.some(bytes) : Option.none()
}

/** A size in bytes, written as Redis reads it, within `bounds` (bytes). */
export const ByteSize = (bounds: { readonly min: number; readonly max: number }) =>
  Text({ maxLength: 16 }).pipe(
    Schema.check(Schema.makeFilter((text: string) => Option.isSome(parseByteSize(text)))),
    Schema.decodeTo(Schema.Int, {
      decode: SchemaGetter.transform((text: string) => Option.getOrElse(parseByteSize(text), () => 0)),
      encode: SchemaGetter.transform((bytes: number) => String(bytes))
    }),
    Schema.check(Schema.isBetween({ minimum: bounds.min, maximum: bounds.max }))
  )

/** One of a few words, in any case (ContainerPilot lower-cases its log settings too). */
export const Literal = <const L extends ReadonlyArray<string>>(...literals: L) =>
  Text({ maxLength: 16 }).pipe(
    Schema.decodeTo(Schema.Literals(literals), {
      decode: SchemaGetter.transform((text: string) => text.toLowerCase()),
      encode: SchemaGetter.transform((l: string) => l)
    })
  )

// ---------------------------------------------------------------- names

/**
 * A ContainerPilot job and Consul service name (`^[a-z][a-zA-Z0-9\-]+$`, so at least
 * two characters) that stays a DNS label (63) with `-sentinel` appended.
 */
export const ServiceName = matching(/^[a-z](?:[a-z0-9-]{0,52}[a-z0-9])$/, 54)

/** Sentinel master names appear unquoted in sentinel.conf. */
export const MasterName = matching(/^[A-Za-z0-9._-]{1,64}$/, 64)

/** A host name: part of Consul service and check IDs, which appear in URL paths. */
export const NodeName = matching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/, 253)

/** A Triton login (account or subuser): a letter, then letters, digits, '_', '.' or '@'. */
export const Login = matching(/^[A-Za-z][A-Za-z0-9_.@]{1,63}$/, 64)

export const RoleList = matching(/^[A-Za-z0-9._-]{1,64}(?:,[A-Za-z0-9._-]{1,64})*$/, 1024)

/** Sent as an HTTP header by Node and by ContainerPilot's Go client: visible ASCII only. */
export const AclToken = matching(/^[\x21-\x7e]+$/, 256)

/**
 * Printable text without spaces or quotes. redis.conf quotes it, but Sentinel writes
 * `auth-pass` and `sentinel-pass` back into sentinel.conf unquoted whenever it
 * rewrites the file (seen on 7.0.15; Redis's current sentinel.c prints them with a bare
 * %s too): a space or a quote would stop a restarted redis-sentinel reading its own file.
 */
export const Password = matching(/^[^ "']+$/, 1024)

/** The users the ACL setup defines itself (RedisAcl.ts). */
export const reservedAclUsers: ReadonlySet<string> = new Set(["default", "manage", "replication", "sentinel"])

/** A Redis ACL user name other than ours: a bare word in `user` lines and AUTH. */
export const AclUserName = matching(/^[A-Za-z0-9_-]{1,64}$/, 64).check(Schema.makeFilter((name: string) => !reservedAclUsers.has(name.toLowerCase())))

// ---------------------------------------------------------------- Manta keys

const md5KeyId = /^(?:MD5:)?((?:[0-9a-fA-F]{2}:){15}[0-9a-fA-F]{2})$/
const sha256KeyId = /^SHA256:([A-Za-z0-9+/]{43})=?$/

/**
 * A key fingerprint as `ssh-keygen -l` prints it: MD5 `aa:bb:…` (the `MD5:` prefix
 * optional, any case) or `SHA256:…` (padding optional). Decodes to `aa:bb:…` in lower
 * case or `SHA256:…` unpadded, the forms MantaKey computes.
 */
export const KeyId = Text({ maxLength: 64 }).pipe(
  Schema.check(Schema.makeFilter((text: string) => md5KeyId.test(text) || sha256KeyId.test(text))),
  Schema.decodeTo(Schema.String, {
    decode: SchemaGetter.transform((text: string) => {
      const md5 = md5KeyId.exec(text)?.[1]
      return md5 !== undefined ? md5.toLowerCase() : `SHA256:${sha256KeyId.exec(text)?.[1] ?? ""}`
    }),
    encode: SchemaGetter.transform((id: string) => id)
  })
)

/**
 * A key's text is a few KiB; RSA-16384 in PEM is about 12.5 KiB. Here rather than in
 * MantaKey.ts, which loads the key parser, so the environment's table can name it.
 */
export const maxKeyBytes = 16 * 1024

/**
 * A private key's text with newlines written as '#' (an `_env` line) or as real
 * newlines; decodes to the text with newlines. Whether it is a usable key is
 * MantaKey's question, asked with the rest of the environment.
 */
export const PrivateKeyText = Text({ maxLength: 16 * 1024 + 512, multiline: true }).pipe(
  Schema.decodeTo(Schema.String, {
    decode: SchemaGetter.transform((text: string) => text.trim().replaceAll("#", "\n").replaceAll("\r\n", "\n").replaceAll("\r", "\n")),
    encode: SchemaGetter.transform((text: string) => text.replaceAll("\n", "#"))
  }),
  Schema.check(Schema.isPattern(/^-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\n/))
)
