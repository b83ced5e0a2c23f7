// ContainerPilot 3.8.0's configuration front end, for tests and the local runner:
// render the Go template exactly as ContainerPilot does (env map with
// missingkey=zero), parse the JSON5, and decode it into typed jobs checked against
// ContainerPilot's own validation rules. The template engine implements only the
// subset containerpilot.json5 uses and throws on anything else; it does not run jobs.
import { readFileSync } from "node:fs"
import JSON5 from "json5"

// ---------------------------------------------------------------- template

export type Env = Readonly<Record<string, string | undefined>>

/** A template value: env lookups and literals are strings/numbers; `split` yields a list. */
type Value = string | number | boolean | ReadonlyArray<string>

type Operand =
  | { readonly kind: "field"; readonly name: string }
  | { readonly kind: "string"; readonly value: string }
  | { readonly kind: "number"; readonly value: number }
  | { readonly kind: "function"; readonly name: string }
  | { readonly kind: "pipeline"; readonly pipeline: Pipeline }
type Command = ReadonlyArray<Operand>
interface Pipeline {
  readonly commands: ReadonlyArray<Command>
  readonly at: number
}
type Node =
  | { readonly kind: "text"; readonly text: string }
  | { readonly kind: "print"; readonly pipeline: Pipeline }
  | { readonly kind: "if"; readonly condition: Pipeline; readonly then: ReadonlyArray<Node>; readonly otherwise: ReadonlyArray<Node> }

export class TemplateError extends Error {
  override readonly name = "TemplateError"
}

/** ContainerPilot's extensions plus text/template's built-ins: names that exist but this renderer does not implement. */
const knownUnimplemented = new Set([
  "env", "join", "replaceAll", "regexReplaceAll", "loop",
  "and", "or", "not", "index", "slice", "print", "printf", "println", "html", "js", "urlquery", "call",
  "ne", "lt", "le", "gt", "ge"
])

const goString = (v: Value): string =>
  typeof v === "string" ? v : typeof v === "number" || typeof v === "boolean" ? String(v) : `[${v.join(" ")}]`

/** text/template's truth: empty string, zero, false and empty list are false. */
const isTrue = (v: Value): boolean => (typeof v === "string" || Array.isArray(v) ? v.length > 0 : v !== 0 && v !== false)

const wantString = (fn: string, v: Value | undefined): string => {
  if (typeof v !== "string") throw new TemplateError(`${fn}: expected a string argument, got ${v === undefined ? "none" : goString(v)}`)
  return v
}

const arity = (fn: string, args: ReadonlyArray<Value>, n: number): void => {
  if (args.length !== n) throw new TemplateError(`wrong number of args for ${fn}: want ${n} got ${args.length}`)
}

const functions: Readonly<Record<string, (args: ReadonlyArray<Value>) => Value>> = {
  // config/template/template.go defaultValue: the value when it is a non-empty string, else the default.
  default: (args) => {
    arity("default", args, 2)
    const [fallback, value] = args as [Value, Value]
    return typeof value === "string" && value !== "" ? value : goString(fallback)
  },
  // template.go split: the input is trimmed; an empty input yields no parts.
  split: (args) => {
    arity("split", args, 2)
    const sep = wantString("split", args[0])
    const s = wantString("split", args[1]).trim()
    if (sep === "") throw new TemplateError("split: an empty separator is not supported by this renderer")
    return s === "" ? [] : s.split(sep)
  },
  len: (args) => {
    arity("len", args, 1)
    const [v] = args as [Value]
    if (typeof v === "string") return Buffer.byteLength(v, "utf8")
    if (Array.isArray(v)) return v.length
    throw new TemplateError(`len of type ${typeof v}`)
  },
  eq: (args) => {
    if (args.length < 2) throw new TemplateError("missing argument for comparison")
    const [first, ...rest] = args as [Value, ...Array<Value>]
    return rest.some((other) => {
      if (Array.isArray(first) || Array.isArray(other)) throw new TemplateError("eq: non-comparable type")
      if (typeof first !== typeof other) throw new TemplateError("eq: incompatible types for comparison")
      return first === other
    })
  }
}

const position = (text: string, at: number): string => {
  const before = text.slice(0, at).split("\n")
  return `${before.length}:${(before.at(-1)?.length ?? 0) + 1}`
}

/** Splits the inside of one action into tokens; strings keep their quotes. */
const tokenize = (source: string, fail: (message: string) => never): Array<string> => {
  const tokens: Array<string> = []
  let i = 0
  while (i < source.length) {
    const c = source.charAt(i)
    if (/\s/.test(c)) {
      i++
    } else if (c === "|" || c === "(" || c === ")") {
      tokens.push(c)
      i++
    } else if (c === "\"") {
      let j = i + 1
      while (j < source.length && source.charAt(j) !== "\"") j += source.charAt(j) === "\\" ? 2 : 1
      if (j >= source.length) fail("unterminated quoted string")
      tokens.push(source.slice(i, j + 1))
      i = j + 1
    } else {
      const word = /^[^\s|()"]+/.exec(source.slice(i))?.[0] ?? c
      tokens.push(word)
      i += word.length
    }
  }
  return tokens
}

const unquote = (token: string, fail: (message: string) => never): string =>
  token.slice(1, -1).replace(/\\(.)/g, (_, ch: string) => {
    const escapes: Record<string, string> = { "\\": "\\", "\"": "\"", n: "\n", t: "\t" }
    return escapes[ch] ?? fail(`unsupported escape \\${ch} in string literal`)
  })

const parsePipeline = (tokens: ReadonlyArray<string>, at: number, fail: (message: string) => never): Pipeline => {
  let i = 0
  const pipeline = (): Pipeline => {
    const commands: Array<Command> = []
    let command: Array<Operand> = []
    while (i < tokens.length && tokens[i] !== ")") {
      const token = tokens[i++] ?? ""
      if (token === "|") {
        if (command.length === 0) fail("missing command before '|'")
        commands.push(command)
        command = []
      } else if (token === "(") {
        const inner = pipeline()
        if (tokens[i++] !== ")") fail("unclosed left paren")
        command.push({ kind: "pipeline", pipeline: inner })
      } else if (token.startsWith("\"")) {
        command.push({ kind: "string", value: unquote(token, fail) })
      } else if (/^\d+$/.test(token)) {
        command.push({ kind: "number", value: Number(token) })
      } else if (/^\.[A-Za-z_][A-Za-z0-9_]*$/.test(token)) {
        command.push({ kind: "field", name: token.slice(1) })
      } else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(token)) {
        if (!(token in functions)) {
          fail(knownUnimplemented.has(token)
            ? `function "${token}" exists in ContainerPilot but this renderer does not implement it`
            : `function "${token}" not defined (ContainerPilot 3.8.0 has no such template function)`)
        }
        if (command.length > 0) fail(`function "${token}" must start a command`)
        command.push({ kind: "function", name: token })
      } else {
        fail(`unsupported syntax "${token}" (this renderer knows fields, string and integer literals, functions, pipes and parentheses)`)
      }
    }
    if (command.length === 0) fail("empty command")
    commands.push(command)
    return { commands, at }
  }
  const result = pipeline()
  if (i < tokens.length) fail(`unexpected "${tokens[i] ?? ""}"`)
  return result
}

const evaluate = (pipeline: Pipeline, env: Env, fail: (message: string) => never): Value => {
  let piped: Value | undefined
  for (const command of pipeline.commands) {
    const [head, ...rest] = command
    const operand = (o: Operand): Value => {
      switch (o.kind) {
        case "field":
          return env[o.name] ?? "" // missingkey=zero over a map[string]string
        case "string":
        case "number":
          return o.value
        case "pipeline":
          return evaluate(o.pipeline, env, fail)
        case "function":
          return fail(`function "${o.name}" used as an argument`)
      }
    }
    if (head?.kind === "function") {
      const args = rest.map(operand)
      if (piped !== undefined) args.push(piped)
      const fn = functions[head.name]
      if (fn === undefined) return fail(`function "${head.name}" not defined`)
      try {
        piped = fn(args)
      } catch (e) {
        return fail(e instanceof Error ? e.message : String(e))
      }
    } else {
      if (head === undefined || rest.length > 0 || piped !== undefined) return fail("can't give argument to non-function")
      piped = operand(head)
    }
  }
  return piped ?? fail("empty pipeline")
}

const parse = (text: string): ReadonlyArray<Node> => {
  let at = 0
  const block = (closers: ReadonlyArray<string>): { nodes: Array<Node>; closer: string } => {
    const nodes: Array<Node> = []
    for (;;) {
      const open = text.indexOf("{{", at)
      if (open === -1) {
        if (closers.length > 0) throw new TemplateError(`template: ${position(text, at)}: unexpected EOF, missing {{ end }}`)
        nodes.push({ kind: "text", text: text.slice(at) })
        return { nodes, closer: "" }
      }
      if (open > at) nodes.push({ kind: "text", text: text.slice(at, open) })
      const fail = (message: string): never => {
        throw new TemplateError(`template: ${position(text, open)}: ${message}`)
      }
      let close = open + 2
      while (close < text.length && !text.startsWith("}}", close)) {
        if (text.charAt(close) === "\"") {
          close++
          while (close < text.length && text.charAt(close) !== "\"") close += text.charAt(close) === "\\" ? 2 : 1
        }
        close++
      }
      if (close >= text.length) fail("unclosed action")
      const inside = text.slice(open + 2, close)
      at = close + 2
      if (/^-\s/.test(inside) || /\s-$/.test(inside)) fail("trim markers ({{- and -}}) are not supported by this renderer")
      if (inside.startsWith("/*")) fail("comments are not supported by this renderer")
      const tokens = tokenize(inside, fail)
      const [keyword, ...rest] = tokens
      if (keyword === "end" || keyword === "else") {
        if (rest.length > 0) fail(keyword === "else" ? "else-if chains are not supported by this renderer" : "unexpected tokens after end")
        if (!closers.includes(keyword)) fail(`unexpected {{ ${keyword} }}`)
        return { nodes, closer: keyword }
      }
      if (keyword === "if") {
        if (rest.length === 0) fail("missing value for if")
        const condition = parsePipeline(rest, open, fail)
        const then = block(["else", "end"])
        const otherwise = then.closer === "else" ? block(["end"]).nodes : []
        nodes.push({ kind: "if", condition, then: then.nodes, otherwise })
      } else if (keyword !== undefined && ["range", "with", "define", "template", "block", "break", "continue"].includes(keyword)) {
        fail(`{{ ${keyword} }} is not supported by this renderer`)
      } else if (keyword === undefined) {
        fail("missing value for command")
      } else {
        nodes.push({ kind: "print", pipeline: parsePipeline(tokens, open, fail) })
      }
    }
  }
  return block([]).nodes
}

/**
 * Renders a ContainerPilot configuration template over `env` the way ContainerPilot
 * 3.8.0 does: a missing or empty variable renders as "", `default` replaces an empty
 * string. Throws TemplateError, with line:column, on any syntax it does not implement.
 */
export const renderContainerPilotTemplate = (text: string, env: Env): string => {
  const run = (nodes: ReadonlyArray<Node>): string =>
    nodes.map((node) => {
      const fail = (message: string): never => {
        throw new TemplateError(`template: ${position(text, node.kind === "text" ? 0 : node.kind === "if" ? node.condition.at : node.pipeline.at)}: ${message}`)
      }
      switch (node.kind) {
        case "text":
          return node.text
        case "print":
          return goString(evaluate(node.pipeline, env, fail))
        case "if":
          return run(isTrue(evaluate(node.condition, env, fail)) ? node.then : node.otherwise)
      }
    }).join("")
  return run(parse(text))
}

// ---------------------------------------------------------------- configuration

export type JobEvent =
  | "startup" | "shutdown" | "healthy" | "unhealthy" | "exitSuccess" | "exitFailed"
  | "stopping" | "stopped" | "changed" | "enterMaintenance" | "exitMaintenance"
const jobEvents: ReadonlyArray<JobEvent> = [
  "startup", "shutdown", "healthy", "unhealthy", "exitSuccess", "exitFailed",
  "stopping", "stopped", "changed", "enterMaintenance", "exitMaintenance"
]

/** A command: a string is split on single spaces (no shell), an array is taken as is. */
export type Exec = string | ReadonlyArray<string>

/** `interval` jobs also fire at startup; event jobs fire on `source`'s event, once or each time. */
export type When =
  | { readonly interval: string }
  | { readonly source: string; readonly once: JobEvent; readonly timeout?: string }
  | { readonly source: string; readonly each: JobEvent; readonly timeout?: string }

export interface Health {
  readonly exec: Exec
  /** Seconds between checks. */
  readonly interval: number
  /** Seconds Consul keeps the check passing after a heartbeat. */
  readonly ttl: number
  /** Go duration; the check is SIGKILLed after it. */
  readonly timeout?: string
}

export type Restarts = "unlimited" | "never" | number

export interface Job {
  readonly name: string
  readonly exec?: Exec
  readonly when?: When
  /** Go duration after which the exec is SIGKILLed (interval jobs: defaults to the interval). */
  readonly timeout?: string
  readonly restarts?: Restarts
  /** Go duration this job waits, when stopping, for the job listening to its `stopping` event. */
  readonly stopTimeout?: string
  readonly health?: Health
  readonly port?: number
  readonly interfaces?: ReadonlyArray<string>
  readonly tags?: ReadonlyArray<string>
  readonly consul?: { readonly enableTagOverride?: boolean; readonly deregisterCriticalServiceAfter?: string }
  readonly logging?: { readonly raw: boolean }
}

export interface Watch {
  readonly name: string
  readonly interval: number
  readonly tag?: string
  readonly dc?: string
}

/** The `consul` block as ContainerPilot decodes either form (discovery/config.go). */
export interface ConsulConfig {
  /** host:port, as ContainerPilot hands it to Consul's client. */
  readonly address: string
  readonly scheme: "http" | "https"
  /** Whether Consul's certificate is verified (ContainerPilot skips it unless `tls.verify` or CONSUL_HTTP_SSL_VERIFY says so). */
  readonly verify: boolean
  readonly token?: string
}

export interface ContainerPilotConfig {
  readonly consul: ConsulConfig
  readonly logging?: { readonly level?: string; readonly format?: string; readonly output?: string }
  /** Seconds between the last job stopping and SIGKILL of everything left (ContainerPilot's default: 5). */
  readonly stopTimeout: number
  readonly control?: { readonly socket: string }
  readonly jobs: ReadonlyArray<Job>
  readonly watches?: ReadonlyArray<Watch>
}

export class ConfigError extends Error {
  override readonly name = "ConfigError"
}

/** ContainerPilot's rule for service names (config/services/names.go). */
export const jobNamePattern = /^[a-z][a-zA-Z0-9\-]+$/

/** ContainerPilot's commands/args.go: strings are trimmed and split on single spaces. */
export const parseExec = (exec: Exec): { readonly command: string; readonly args: ReadonlyArray<string> } => {
  const parts = typeof exec === "string" ? (exec === "" ? [] : exec.trim().split(" ")) : exec
  const [command, ...args] = parts
  if (command === undefined) throw new ConfigError("received zero-length argument")
  return { command, args }
}

const goUnits: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** ContainerPilot's config/timing: an integer string is seconds, anything else Go's time.ParseDuration. In milliseconds. */
export const parseDuration = (text: string): number => {
  if (/^[+-]?\d+$/.test(text)) return Number(text) * 1000
  const sign = text.startsWith("-") ? -1 : 1
  const body = text.replace(/^[+-]/, "")
  if (body === "0") return 0
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y
  let total = 0
  let at = 0
  while (at < body.length) {
    part.lastIndex = at
    const match = part.exec(body)
    if (match === null) throw new ConfigError(`time: invalid duration "${text}"`)
    total += Number(match[1]) * (goUnits[match[2] ?? ""] ?? Number.NaN)
    at = part.lastIndex
  }
  if (body === "") throw new ConfigError(`time: invalid duration "${text}"`)
  return sign * total
}

// A tiny decoder over unknown JSON: each reader names the path it failed at.
type Obj = Readonly<Record<string, unknown>>
const fail = (path: string, message: string): never => {
  throw new ConfigError(`${path}: ${message}`)
}
const object = (path: string, v: unknown, allowed: ReadonlyArray<string>): Obj => {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return fail(path, "expected an object")
  const unknownKeys = Object.keys(v).filter((k) => !allowed.includes(k))
  if (unknownKeys.length > 0) fail(path, `unknown keys ${unknownKeys.join(", ")} (ContainerPilot rejects unknown keys)`)
  return v as Obj
}
const string = (path: string, v: unknown): string => (typeof v === "string" ? v : fail(path, "expected a string"))
// mapstructure's WeaklyTypedInput: a number is accepted where a string is expected.
const weakString = (path: string, v: unknown): string => (typeof v === "number" ? String(v) : string(path, v))
const integer = (path: string, v: unknown): number => {
  const n = typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v
  return typeof n === "number" && Number.isInteger(n) ? n : fail(path, "expected an integer")
}
const duration = (path: string, v: unknown): string => {
  const text = weakString(path, v)
  try {
    parseDuration(text)
  } catch (e) {
    fail(path, e instanceof Error ? e.message : String(e))
  }
  return text
}
const strings = (path: string, v: unknown): ReadonlyArray<string> =>
  typeof v === "string" ? [v] : Array.isArray(v) ? v.map((x, i) => string(`${path}[${i}]`, x)) : fail(path, "expected a string or a list of strings")
const exec = (path: string, v: unknown): Exec => {
  const value = typeof v === "string" ? v : strings(path, v)
  try {
    parseExec(value)
  } catch (e) {
    fail(path, e instanceof Error ? e.message : String(e))
  }
  return value
}
const event = (path: string, v: unknown): JobEvent => {
  const name = string(path, v)
  return jobEvents.find((e) => e === name) ?? fail(path, `unknown event "${name}"`)
}
/** `{}` when the key is absent, else `{ key: decoded }`: never an explicit undefined. */
const optional = <K extends string, A>(o: Obj, key: K, path: string, read: (path: string, v: unknown) => A): { [P in K]?: A } =>
  (o[key] === undefined ? {} : { [key]: read(`${path}.${key}`, o[key]) }) as { [P in K]?: A }

const decodeWhen = (path: string, v: unknown): When => {
  const o = object(path, v, ["interval", "source", "once", "each", "timeout"])
  const set = ["interval", "once", "each"].filter((k) => o[k] !== undefined)
  if (set.length !== 1) fail(path, "exactly one of 'interval', 'once' or 'each' must be set")
  if (o["interval"] !== undefined) {
    if (o["source"] !== undefined || o["timeout"] !== undefined) fail(path, "'interval' is the only field permitted with it")
    const interval = duration(`${path}.interval`, o["interval"])
    if (parseDuration(interval) < 1) fail(`${path}.interval`, "cannot be less than 1ms")
    return { interval }
  }
  const source = string(`${path}.source`, o["source"])
  const timeout = optional(o, "timeout", path, duration)
  return o["once"] !== undefined
    ? { source, once: event(`${path}.once`, o["once"]), ...timeout }
    : { source, each: event(`${path}.each`, o["each"]), ...timeout }
}

const decodeHealth = (path: string, v: unknown): Health => {
  const o = object(path, v, ["exec", "interval", "ttl", "timeout"])
  const interval = integer(`${path}.interval`, o["interval"])
  const ttl = integer(`${path}.ttl`, o["ttl"])
  if (interval < 1) fail(`${path}.interval`, "must be > 0")
  if (ttl < 1) fail(`${path}.ttl`, "must be > 0")
  return { exec: exec(`${path}.exec`, o["exec"]), interval, ttl, ...optional(o, "timeout", path, duration) }
}

const decodeRestarts = (path: string, v: unknown): Restarts =>
  v === "unlimited" || v === "never" ? v : (() => {
    const n = integer(path, v)
    return n >= 0 ? n : fail(path, `accepts positive integers, "unlimited", or "never"`)
  })()

const decodeJob = (path: string, v: unknown): Job => {
  const o = object(path, v, [
    "name", "exec", "when", "timeout", "restarts", "stopTimeout", "health", "port", "interfaces", "tags", "consul", "logging"
  ])
  const name = string(`${path}.name`, o["name"])
  const job: Job = {
    name,
    ...optional(o, "exec", path, exec),
    ...optional(o, "when", path, decodeWhen),
    ...optional(o, "timeout", path, duration),
    ...optional(o, "restarts", path, decodeRestarts),
    ...optional(o, "stopTimeout", path, duration),
    ...optional(o, "health", path, decodeHealth),
    ...optional(o, "port", path, integer),
    ...optional(o, "interfaces", path, strings),
    ...optional(o, "tags", path, strings),
    ...optional(o, "consul", path, (p, c) => {
      const x = object(p, c, ["enableTagOverride", "deregisterCriticalServiceAfter"])
      const flag = x["enableTagOverride"]
      if (flag !== undefined && typeof flag !== "boolean") fail(`${p}.enableTagOverride`, "expected a boolean")
      return {
        ...(typeof flag === "boolean" ? { enableTagOverride: flag } : {}),
        ...optional(x, "deregisterCriticalServiceAfter", p, duration)
      }
    }),
    ...optional(o, "logging", path, (p, l) => {
      const raw = object(p, l, ["raw"])["raw"]
      return { raw: typeof raw === "boolean" ? raw : fail(`${p}.raw`, "expected a boolean") }
    })
  }
  // jobs/config.go: a port makes the job advertised, which needs a valid name and a health check.
  if (job.port !== undefined && job.port !== 0) {
    if (!jobNamePattern.test(name)) fail(`${path}.name`, `"${name}" must match ${String(jobNamePattern)}`)
    if (job.health === undefined) fail(path, `job[${name}].health must be set if 'port' is set`)
  }
  if (job.restarts === "unlimited" && job.when !== undefined && "each" in job.when) {
    fail(`${path}.restarts`, "'unlimited' may not be used when 'when.each' is set")
  }
  return job
}

// logrus 1.0.0's ParseLevel and config/logger's formats, after ContainerPilot lower-cases them.
const logLevels = new Set(["panic", "fatal", "error", "warn", "warning", "info", "debug"])
const logFormats = new Set(["default", "text", "json"])

const decodeLogging = (p: string, l: unknown) => {
  const x = object(p, l, ["level", "format", "output"])
  const level = optional(x, "level", p, string)
  const format = optional(x, "format", p, string)
  if (level.level !== undefined && !logLevels.has(level.level.toLowerCase())) fail(`${p}.level`, `Unknown log level '${level.level}'`)
  if (format.format !== undefined && !logFormats.has(format.format.toLowerCase())) fail(`${p}.format`, `Unknown log format '${format.format}'`)
  return { ...level, ...format, ...optional(x, "output", p, string) }
}

/** A string is a URI (scheme optional, http by default); a block names address, scheme, token and tls. */
const decodeConsul = (path: string, v: unknown): ConsulConfig => {
  if (typeof v === "string") {
    const scheme = v.startsWith("https://") ? "https" : "http"
    return { address: v.replace(/^https?:\/\//, ""), scheme, verify: false }
  }
  const o = object(path, v, ["address", "scheme", "token", "tls"])
  const scheme = o["scheme"] === undefined ? "" : string(`${path}.scheme`, o["scheme"])
  if (scheme !== "http" && scheme !== "https") fail(`${path}.scheme`, `expected http or https, got ${JSON.stringify(scheme)}`)
  const tls = o["tls"] === undefined
    ? {}
    : object(`${path}.tls`, o["tls"], ["cafile", "capath", "clientcert", "clientkey", "servername", "verify"])
  for (const key of ["cafile", "capath", "clientcert", "clientkey", "servername"]) {
    if (tls[key] !== undefined) string(`${path}.tls.${key}`, tls[key])
  }
  const verify = tls["verify"] === undefined ? false : tls["verify"] === true || tls["verify"] === false ? tls["verify"] : fail(`${path}.tls.verify`, "expected a boolean")
  return {
    address: string(`${path}.address`, o["address"]),
    scheme: scheme === "https" ? "https" : "http",
    verify,
    ...(o["token"] !== undefined ? { token: string(`${path}.token`, o["token"]) } : {})
  }
}

/** Decodes a parsed (rendered) configuration with ContainerPilot's validation rules. */
export const decodeContainerPilotConfig = (raw: unknown): ContainerPilotConfig => {
  const o = object("config", raw, ["consul", "logging", "stopTimeout", "jobs", "watches", "control", "telemetry"])
  if (o["telemetry"] !== undefined) fail("config.telemetry", "not supported by this loader")
  const jobs = Array.isArray(o["jobs"]) ? o["jobs"].map((j, i) => decodeJob(`config.jobs[${i}]`, j)) : fail("config.jobs", "expected a list")
  return {
    consul: decodeConsul("config.consul", o["consul"]),
    stopTimeout: o["stopTimeout"] === undefined ? 5 : integer("config.stopTimeout", o["stopTimeout"]),
    jobs,
    ...optional(o, "logging", "config", decodeLogging),
    ...optional(o, "control", "config", (p, c) => ({ socket: string(`${p}.socket`, object(p, c, ["socket"])["socket"]) })),
    ...optional(o, "watches", "config", (p, w) =>
      Array.isArray(w)
        ? w.map((x, i): Watch => {
          const wp = `${p}[${i}]`
          const wo = object(wp, x, ["name", "interval", "tag", "dc"])
          return {
            name: string(`${wp}.name`, wo["name"]),
            interval: integer(`${wp}.interval`, wo["interval"]),
            ...optional(wo, "tag", wp, string),
            ...optional(wo, "dc", wp, string)
          }
        })
        : fail(p, "expected a list"))
  }
}

const flynnEscapes = new Set(["b", "f", "n", "r", "t", "\\", "/", "\"", "'", "\n", "\r", "u"])

/**
 * ContainerPilot parses with github.com/flynn/json5, stricter than the json5 package
 * used below: a byte below 0x20 inside a string, or an escape other than
 * b f n r t \ / " ' u and a line continuation, is a syntax error there. Comments
 * are skipped like the scanner does.
 */
export const checkFlynnStrings = (rendered: string): void => {
  /** The index of the last character of `marker` after `from`, or the end. */
  const through = (marker: string, from: number): number => {
    const at = rendered.indexOf(marker, from)
    return at === -1 ? rendered.length : at + marker.length - 1
  }
  let quote: string | undefined
  for (let i = 0; i < rendered.length; i++) {
    const c = rendered.charAt(i)
    if (quote === undefined) {
      if (rendered.startsWith("//", i)) i = through("\n", i)
      else if (rendered.startsWith("/*", i)) i = through("*/", i + 2)
      else if (c === "'" || c === "\"") quote = c
      else if (c.charCodeAt(0) < 0x20 && !" \t\r\n".includes(c)) throw new ConfigError(`rendered configuration: invalid character ${JSON.stringify(c)} looking for beginning of value`)
    } else if (c === quote) {
      quote = undefined
    } else if (c === "\\") {
      const next = rendered.charAt(++i)
      if (!flynnEscapes.has(next)) throw new ConfigError(`rendered configuration: invalid character ${JSON.stringify(next)} in string escape code`)
    } else if (c.charCodeAt(0) < 0x20) {
      throw new ConfigError(`rendered configuration: invalid character ${JSON.stringify(c)} in string literal`)
    }
  }
}

/** Renders, parses and decodes a configuration text. */
export const parseContainerPilotConfig = (text: string, env: Env): ContainerPilotConfig => {
  const rendered = renderContainerPilotTemplate(text, env)
  checkFlynnStrings(rendered)
  let raw: unknown
  try {
    raw = JSON5.parse(rendered)
  } catch (e) {
    throw new ConfigError(`rendered configuration is not valid JSON5: ${e instanceof Error ? e.message : String(e)}`)
  }
  return decodeContainerPilotConfig(raw)
}

/** Reads, renders and decodes the configuration file at `path`, as ContainerPilot would at start-up. */
export const loadContainerPilotConfig = (path: string, env: Env): ContainerPilotConfig =>
  parseContainerPilotConfig(readFileSync(path, "utf8"), env)
