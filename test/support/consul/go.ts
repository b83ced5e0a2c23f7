// The Go-flavoured parsing Consul's HTTP layer does (time.ParseDuration,
// strconv.ParseBool/ParseUint, encoding/json's case-insensitive fields), so the
// emulator accepts and rejects the same input, with the same error text.

/** An answer Consul gives on purpose: status and text/plain body. */
export class ApiError extends Error {
  readonly status: number
  constructor(status: number, message: string) {
    super(message)
    this.status = status
  }
}

/** 400 "Request decode failed: …", what Consul answers for a body it cannot decode. */
export const decodeFailed = (reason: string): ApiError => new ApiError(400, `Request decode failed: ${reason}`)

const quote = (s: string): string => JSON.stringify(s)

const UNIT_NS: Readonly<Record<string, number>> = {
  ns: 1,
  us: 1e3,
  "µs": 1e3,
  "μs": 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9
}

/** time.ParseDuration, in nanoseconds; throws Error with Go's message. */
export const parseGoDuration = (input: string): number => {
  let s = input
  let negative = false
  if (s.startsWith("-") || s.startsWith("+")) {
    negative = s.startsWith("-")
    s = s.slice(1)
  }
  if (s === "0") return 0
  if (s === "") throw new Error(`time: invalid duration ${quote(input)}`)
  let total = 0
  while (s !== "") {
    const number = /^(\d*)(?:\.(\d*))?/.exec(s)
    const whole = number?.[1] ?? ""
    const fraction = number?.[2] ?? ""
    if (number === null || (whole === "" && fraction === "")) throw new Error(`time: invalid duration ${quote(input)}`)
    s = s.slice(number[0].length)
    const unit = /^[^\d.]+/.exec(s)?.[0]
    if (unit === undefined) throw new Error(`time: missing unit in duration ${quote(input)}`)
    const scale = UNIT_NS[unit]
    if (scale === undefined) throw new Error(`time: unknown unit ${quote(unit)} in duration ${quote(input)}`)
    s = s.slice(unit.length)
    total += Number(`${whole === "" ? "0" : whole}.${fraction === "" ? "0" : fraction}`) * scale
  }
  return Math.round(negative ? -total : total)
}

const trimmed = (n: number): string => String(Number(n.toFixed(9)))

/** time.Duration.String(). */
export const formatGoDuration = (ns: number): string => {
  if (ns === 0) return "0s"
  let rest = Math.abs(ns)
  let out: string
  if (rest < 1e9) {
    out = rest < 1e3 ? `${rest}ns` : rest < 1e6 ? `${trimmed(rest / 1e3)}µs` : `${trimmed(rest / 1e6)}ms`
  } else {
    const h = Math.floor(rest / 3600e9)
    rest -= h * 3600e9
    const m = Math.floor(rest / 60e9)
    rest -= m * 60e9
    const sec = `${trimmed(rest / 1e9)}s`
    out = h > 0 ? `${h}h${m}m${sec}` : m > 0 ? `${m}m${sec}` : sec
  }
  return ns < 0 ? `-${out}` : out
}

/** strconv.ParseBool; undefined when Go would fail. */
export const parseGoBool = (s: string): boolean | undefined => {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(s)) return true
  if (["0", "f", "F", "FALSE", "false", "False"].includes(s)) return false
  return undefined
}

const UINT64_MAX = (1n << 64n) - 1n

/** strconv.ParseUint(s, 10, 64); throws Error with Go's message (Consul answers it with a 500). */
export const parseUint64 = (s: string): bigint => {
  if (!/^\d+$/.test(s)) throw new Error(`strconv.ParseUint: parsing ${quote(s)}: invalid syntax`)
  const n = BigInt(s)
  if (n > UINT64_MAX) throw new Error(`strconv.ParseUint: parsing ${quote(s)}: value out of range`)
  return n
}

const queryEscape = (s: string): string =>
  encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, "+")

/** url.Values.Encode(): keys sorted, values in order. */
export const encodeGoQuery = (params: URLSearchParams): string =>
  [...new Set(params.keys())].sort().flatMap((k) => params.getAll(k).map((v) => `${queryEscape(k)}=${queryEscape(v)}`)).join("&")

// --- JSON bodies, decoded the way encoding/json fills Consul's structs ---

export type JsonObject = { readonly [key: string]: unknown }

export const isJsonObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v)

/** Parses a request body; an empty body is `{}` (Go decodes nothing into the zero struct). */
export const parseJsonBody = (body: Buffer): JsonObject => {
  const text = body.toString("utf8")
  if (text.trim() === "") return {}
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (e) {
    throw decodeFailed(e instanceof Error ? e.message : String(e))
  }
  if (!isJsonObject(value)) throw decodeFailed(`json: cannot unmarshal ${jsonType(value)} into Go value of type struct`)
  return value
}

const jsonType = (v: unknown): string =>
  v === null ? "null" : Array.isArray(v) ? "array" : typeof v === "object" ? "object" : typeof v === "boolean" ? "bool" : typeof v

/** Field names match case-insensitively (encoding/json) and ignoring "_" (Consul's snake_case aliases). */
const normalise = (k: string): string => k.replace(/_/g, "").toLowerCase()

export const hasField = (obj: JsonObject, name: string): boolean => Object.keys(obj).some((k) => normalise(k) === normalise(name))

export const field = (obj: JsonObject, name: string): unknown => {
  let found: unknown
  for (const [k, v] of Object.entries(obj)) {
    if (k === name) return v
    if (normalise(k) === normalise(name)) found = v
  }
  return found
}

const mismatch = (v: unknown, name: string, goType: string): ApiError =>
  decodeFailed(`json: cannot unmarshal ${jsonType(v)} into Go struct field .${name} of type ${goType}`)

export const optString = (obj: JsonObject, name: string): string | undefined => {
  const v = field(obj, name)
  if (v === undefined || v === null) return undefined
  if (typeof v !== "string") throw mismatch(v, name, "string")
  return v
}

export const optInt = (obj: JsonObject, name: string): number | undefined => {
  const v = field(obj, name)
  if (v === undefined || v === null) return undefined
  if (typeof v !== "number" || !Number.isInteger(v)) throw mismatch(v, name, "int")
  return v
}

export const optBool = (obj: JsonObject, name: string): boolean | undefined => {
  const v = field(obj, name)
  if (v === undefined || v === null) return undefined
  if (typeof v !== "boolean") throw mismatch(v, name, "bool")
  return v
}

export const optObject = (obj: JsonObject, name: string): JsonObject | undefined => {
  const v = field(obj, name)
  if (v === undefined || v === null) return undefined
  if (!isJsonObject(v)) throw mismatch(v, name, "struct")
  return v
}

export const optArray = (obj: JsonObject, name: string): ReadonlyArray<unknown> | undefined => {
  const v = field(obj, name)
  if (v === undefined || v === null) return undefined
  if (!Array.isArray(v)) throw mismatch(v, name, "slice")
  return v
}

export const optStringArray = (obj: JsonObject, name: string): ReadonlyArray<string> | undefined => {
  const items = optArray(obj, name)
  if (items === undefined) return undefined
  return items.map((v) => {
    if (typeof v !== "string") throw mismatch(v, name, "string")
    return v
  })
}

export const optStringMap = (obj: JsonObject, name: string): Readonly<Record<string, string>> | undefined => {
  const v = optObject(obj, name)
  if (v === undefined) return undefined
  const out: Record<string, string> = {}
  for (const [k, item] of Object.entries(v)) {
    if (typeof item !== "string") throw mismatch(item, name, "string")
    out[k] = item
  }
  return out
}

/** A Go duration field: a duration string, or a number of nanoseconds. */
export const optDuration = (obj: JsonObject, name: string): number | undefined => {
  const v = field(obj, name)
  if (v === undefined || v === null) return undefined
  if (typeof v === "number") return Math.round(v)
  if (typeof v !== "string") throw mismatch(v, name, "time.Duration")
  try {
    return parseGoDuration(v)
  } catch (e) {
    throw decodeFailed(e instanceof Error ? e.message : String(e))
  }
}
