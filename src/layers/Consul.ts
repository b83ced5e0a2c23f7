// The Consul service: the HTTP API subset the handlers use, through the `consul`
// package (the only file that imports it). Every call has a timeout and retries
// transport failures on one Schedule; replies are decoded with Schema. A lost race
// (CAS, acquire, release, renew of a dead session) is `false`, not an error.
//
// Guarantees, as Consul gives them: a lock is held by a session; sessions prefer
// liveness over safety, so a holder that stops renewing loses the lock between TTL
// and 2×TTL later, and the key then refuses every acquire for the lock-delay.
import type ConsulClient from "consul"
import { Agent as HttpsAgent } from "node:https"
import { Context, Duration, Effect, Layer, Option, Redacted, Schedule, Schema } from "effect"
import { type CheckStatus } from "../domain/ConsulNames.ts"
import { type Endpoint } from "../domain/Endpoint.ts"
import { Timings } from "../domain/Timings.ts"
import { measured } from "./CallMetrics.ts"
import { type ConsulWorld, makeMemoryConsul } from "./ConsulMemory.ts"
import { Settings } from "./Settings.ts"

export class ConsulError extends Schema.TaggedError<ConsulError>()("ConsulError", {
  operation: Schema.String,
  reason: Schema.Literals(["unreachable", "timeout", "rejected", "unexpected-reply"]),
  detail: Schema.String
}) {
  /** Transport trouble may pass; an answer Consul gave on purpose will not change on retry. */
  get retryable(): boolean {
    return this.reason === "unreachable" || this.reason === "timeout"
  }
  override get message(): string {
    return `Consul ${this.operation}: ${this.reason} (${this.detail})`
  }
}

export type { CheckStatus }

export interface ServiceInstance {
  readonly id: string
  readonly service: string
  /** The Consul node it is registered on, and that node's address: where its checks live. */
  readonly node: string
  readonly nodeAddress: string
  readonly address: string
  readonly port: number
  readonly checks: ReadonlyArray<{ readonly checkId: string; readonly status: CheckStatus; readonly output: string }>
  /** Every check, node checks included, is passing (what `?passing` filters on). */
  readonly passing: boolean
}

/** Where a registered instance listens. */
export const endpointOf = (i: ServiceInstance): Endpoint => ({ host: i.address, port: i.port })

export interface KvEntry {
  readonly key: string
  readonly value: string | null
  readonly session: Option.Option<string>
  readonly modifyIndex: number
  readonly lockIndex: number
}

export interface SessionOptions {
  readonly name: string
  readonly ttl: Duration.Duration
  readonly lockDelay: Duration.Duration
  readonly behavior: "release" | "delete"
}

/** A service as ContainerPilot registers a job: one TTL check `service:<id>`, no tags. */
export interface ServiceRegistration {
  readonly id: string
  readonly name: string
  readonly address: string
  readonly port: number
  readonly ttl: Duration.Duration
  readonly status: CheckStatus
}

/** A check registered on the agent this process talks to. */
export interface AgentCheck {
  readonly checkId: string
  readonly serviceId: string
  readonly status: CheckStatus
}

export class Consul extends Context.Service<Consul, {
  /** All instances of a service with their checks; `passing` tells which ones `?passing` would return. */
  readonly instances: (service: string) => Effect.Effect<ReadonlyArray<ServiceInstance>, ConsulError>
  readonly get: (key: string) => Effect.Effect<Option.Option<KvEntry>, ConsulError>
  /** Every entry under a prefix. */
  readonly list: (prefix: string) => Effect.Effect<ReadonlyArray<KvEntry>, ConsulError>
  /** Plain set, or compare-and-set on ModifyIndex (`cas: 0` creates only). */
  readonly put: (key: string, value: string, options?: { readonly cas?: number }) => Effect.Effect<boolean, ConsulError>
  readonly createSession: (options: SessionOptions) => Effect.Effect<string, ConsulError>
  /** `false` when Consul no longer knows the session (it was invalidated). */
  readonly renewSession: (id: string) => Effect.Effect<boolean, ConsulError>
  readonly destroySession: (id: string) => Effect.Effect<void, ConsulError>
  readonly acquire: (key: string, value: string, session: string) => Effect.Effect<boolean, ConsulError>
  /** Clears the holder and writes `value` (Consul writes the release body as the new value). */
  readonly release: (key: string, value: string, session: string) => Effect.Effect<boolean, ConsulError>
  /** Registers (or re-registers, keeping the check's status) a service and its TTL check on the agent. */
  readonly register: (service: ServiceRegistration) => Effect.Effect<void, ConsulError>
  /** The checks registered on the agent this process talks to (in compose: every node's). */
  readonly agentChecks: Effect.Effect<ReadonlyArray<AgentCheck>, ConsulError>
  /** Plain delete of a key; true when it is gone. */
  readonly remove: (key: string) => Effect.Effect<boolean, ConsulError>
  /** Sets a TTL check's status; `false` when the agent has no such TTL check. */
  readonly setCheck: (checkId: string, status: CheckStatus, note: string) => Effect.Effect<boolean, ConsulError>
  /**
   * Marks a check of another node critical in the catalog. With an agent per node
   * (CONSUL_AGENT) a node's checks live in its own agent, which no other agent can
   * update; a dead or cut-off node's agent updates nothing, and Consul's gossip takes
   * seconds to declare it failed. A live agent overwrites it with its own state when
   * that changes or at its periodic full sync.
   */
  readonly failInCatalog: (instance: ServiceInstance, checkId: string, note: string) => Effect.Effect<void, ConsulError>
}>()("autopilot-redis/Consul") {
  static readonly layer: Layer.Layer<Consul, never, Settings> = Layer.effect(Consul, Effect.gen(function*() {
    const settings = yield* Settings
    const timings = yield* Timings
    const token = Option.map(settings.consul.token, Redacted.value)
    let created: ConsulClient | undefined
    // The package is loaded and the client made on first use: many health runs never call Consul.
    const client = yield* Effect.cached(Effect.promise(async () => {
      const { default: ConsulClient } = await import("consul")
      created = new ConsulClient({
        host: settings.consul.host,
        port: settings.consul.port,
        defaults: Option.isSome(token) ? { token: token.value } : {},
        ...Option.match(settings.consul.https, {
          onNone: () => ({}),
          // Verified always (the CA given, else the system's); ContainerPilot is told to verify too.
          onSome: (https) => ({
            secure: true,
            agent: new HttpsAgent({
              keepAlive: true,
              ...Option.match(https.ca, { onNone: () => ({}), onSome: (ca) => ({ ca }) }),
              ...Option.match(https.serverName, { onNone: () => ({}), onSome: (servername) => ({ servername }) })
            })
          })
        })
      })
      return created
    }))
    yield* Effect.addFinalizer(() => Effect.sync(() => created?.destroy()))
    return makeConsul(client, timings.consulCall, consulRetry(timings.retryBase, timings.consulRetries))
  }))

  /** In memory, shared by every simulated node given the same world. */
  static readonly layerTest = (world: ConsulWorld, node?: string): Layer.Layer<Consul> => Layer.succeed(Consul, makeMemoryConsul(world, node))
}

/** Retries transport failures `times` times, quickly: callers bound the whole operation with their own deadline. */
export const consulRetry = (base: Duration.Duration, times: number) =>
  Schedule.exponential(base).pipe(
    Schedule.upTo({ times }),
    Schedule.setInputType<ConsulError>(),
    Schedule.while(({ input }) => input.retryable)
  )

const TransportFailure = Schema.Struct({
  code: Schema.optionalKey(Schema.String),
  statusCode: Schema.optionalKey(Schema.Number),
  isTimeout: Schema.optionalKey(Schema.Boolean),
  message: Schema.optionalKey(Schema.String)
})

/** OpenSSL's verification failures as Node reports them (the rest are ERR_TLS_* and ERR_SSL_*). */
const tlsRefusals = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "EPROTO"
])

const unreachableCodes = new Set(["ECONNREFUSED", "ECONNRESET", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN", "EPIPE", "ETIMEDOUT"])

const classify = (operation: string) => (cause: unknown): ConsulError => {
  const failure = Option.getOrElse(Schema.decodeUnknownOption(TransportFailure)(cause), () => ({}) as typeof TransportFailure.Type)
  const detail = failure.message ?? String(cause)
  if (failure.isTimeout === true) return new ConsulError({ operation, reason: "timeout", detail })
  if (failure.code !== undefined && unreachableCodes.has(failure.code)) return new ConsulError({ operation, reason: "unreachable", detail })
  // Its certificate not trusted, or no TLS where HTTPS was asked for: a retry meets the same.
  if (failure.code !== undefined && (tlsRefusals.has(failure.code) || failure.code.startsWith("ERR_TLS_") || failure.code.startsWith("ERR_SSL_"))) {
    return new ConsulError({ operation, reason: "rejected", detail: `${detail} (${failure.code}): check CONSUL_CACERT, CONSUL_TLS_SERVER_NAME and CONSUL_HTTP_SSL` })
  }
  if (failure.statusCode !== undefined) {
    // A 5xx other than Consul's own refusals means the server is in trouble: worth a retry.
    const reason = failure.statusCode >= 500 && !/invalid session|does not have associated TTL/.test(detail) ? "unreachable" : "rejected"
    return new ConsulError({ operation, reason, detail: `HTTP ${failure.statusCode}: ${detail}` })
  }
  return new ConsulError({ operation, reason: "unexpected-reply", detail })
}

const statusOf = (cause: unknown): number | undefined =>
  Option.getOrUndefined(Schema.decodeUnknownOption(TransportFailure)(cause))?.statusCode

const HealthEntry = Schema.Struct({
  Node: Schema.Struct({ Node: Schema.String, Address: Schema.String }),
  Service: Schema.Struct({ ID: Schema.String, Service: Schema.String, Address: Schema.String, Port: Schema.Int }),
  Checks: Schema.Array(Schema.Struct({
    CheckID: Schema.String,
    Status: Schema.Literals(["passing", "warning", "critical"]),
    Output: Schema.optionalKey(Schema.String)
  }))
})

type CheckListOptions = NonNullable<Parameters<ConsulClient["agent"]["check"]["list"]>[0]>

const AgentChecks = Schema.Record(
  Schema.String,
  Schema.Struct({ CheckID: Schema.String, ServiceID: Schema.optionalKey(Schema.String), Status: Schema.Literals(["passing", "warning", "critical"]) })
)

const KvItem = Schema.Struct({
  Key: Schema.String,
  Value: Schema.NullOr(Schema.String),
  Session: Schema.optionalKey(Schema.String),
  ModifyIndex: Schema.Int,
  LockIndex: Schema.Int
})

const toEntry = (item: typeof KvItem.Type): KvEntry => ({
  key: item.Key,
  value: item.Value,
  session: Option.fromUndefinedOr(item.Session),
  modifyIndex: item.ModifyIndex,
  lockIndex: item.LockIndex
})

/**
 * KV writes answer `true` or `false`; the package only passes a truthy body on, so a
 * `false` (a lost race) arrives as `undefined`.
 */
const WriteOutcome = Schema.UndefinedOr(Schema.Boolean)
const won = (outcome: boolean | undefined): boolean => outcome === true

const goDuration = (d: Duration.Duration): string => `${Math.max(1, Math.round(Duration.toMillis(d)))}ms`

export const makeConsul = (
  connect: Effect.Effect<ConsulClient>,
  callTimeout: Duration.Duration,
  retry: ReturnType<typeof consulRetry>
): Consul["Service"] => {
  const timeout = Duration.toMillis(callTimeout)

  /** The deadline, retry policy and metrics every Consul call shares. */
  const bounded = <A>(operation: string, effect: Effect.Effect<A, ConsulError>) =>
    measured(
      "consul",
      operation.split(" ")[0] ?? operation,
      effect.pipe(
        Effect.timeoutOrElse({
          duration: callTimeout,
          orElse: () => Effect.fail(new ConsulError({ operation, reason: "timeout", detail: `no answer within ${Duration.format(callTimeout)}` }))
        })
      )
    ).pipe(Effect.retry(retry))

  /** A call whose reply is decoded; `refusal` turns an expected HTTP refusal into a value. */
  const call = <S extends Schema.Top & { readonly DecodingServices: never }>(
    operation: string,
    run: (client: ConsulClient) => Promise<unknown>,
    reply: S,
    refusal: (cause: unknown) => Option.Option<S["Type"]> = () => Option.none()
  ): Effect.Effect<S["Type"], ConsulError> =>
    bounded(
      operation,
      Effect.flatMap(connect, (client) => Effect.tryPromise({ try: () => run(client), catch: (cause) => cause })).pipe(
        Effect.flatMap((raw) =>
          Schema.decodeUnknownEffect(reply)(raw).pipe(
            Effect.mapError((e) => new ConsulError({ operation, reason: "unexpected-reply", detail: e.message.split("\n")[0] ?? "" }))
          )
        ),
        Effect.catch((cause) =>
          cause instanceof ConsulError
            ? Effect.fail(cause)
            : Option.match(refusal(cause), { onNone: () => Effect.fail(classify(operation)(cause)), onSome: Effect.succeed })
        )
      )
    )

  const withTimeout = <O extends object>(options: O) => ({ ...options, timeout })

  return Consul.of({
    instances: (service) =>
      call(`health.service ${service}`, (client) => client.health.service(withTimeout({ service })), Schema.Array(HealthEntry)).pipe(
        Effect.map((entries) =>
          entries.map((e) => ({
            id: e.Service.ID,
            service: e.Service.Service,
            node: e.Node.Node,
            nodeAddress: e.Node.Address,
            address: e.Service.Address !== "" ? e.Service.Address : e.Node.Address,
            port: e.Service.Port,
            checks: e.Checks.map((c) => ({ checkId: c.CheckID, status: c.Status, output: c.Output ?? "" })),
            passing: e.Checks.every((c) => c.Status === "passing")
          }))
        )
      ),

    get: (key) =>
      call(`kv.get ${key}`, (client) => client.kv.get(withTimeout({ key })), Schema.UndefinedOr(Schema.NullOr(KvItem))).pipe(
        Effect.map((item) => (item === undefined || item === null ? Option.none() : Option.some(toEntry(item))))
      ),

    list: (prefix) =>
      call(
        `kv.get ${prefix} recurse`,
        (client) => client.kv.get(withTimeout({ key: prefix, recurse: true })),
        Schema.UndefinedOr(Schema.NullOr(Schema.Union([Schema.Array(KvItem), KvItem])))
      ).pipe(
        Effect.map((items) => (items === undefined || items === null ? [] : Array.isArray(items) ? items : [items])),
        Effect.map((items: ReadonlyArray<typeof KvItem.Type>) => items.map(toEntry))
      ),

    put: (key, value, options) =>
      call(
        `kv.set ${key}`,
        (client) => client.kv.set(withTimeout(options?.cas === undefined ? { key, value } : { key, value, cas: options.cas })),
        WriteOutcome
      ).pipe(Effect.map(won)),

    createSession: (options) =>
      call(
        `session.create ${options.name}`,
        (client) =>
          client.session.create(withTimeout({
            name: options.name,
            ttl: goDuration(options.ttl),
            lockdelay: goDuration(options.lockDelay),
            behavior: options.behavior,
            // No serfHealth: the session lives exactly as long as we renew it.
            checks: []
          })),
        Schema.Struct({ ID: Schema.String })
      ).pipe(Effect.map((r) => r.ID)),

    renewSession: (id) =>
      call(`session.renew ${id}`, (client) => client.session.renew(withTimeout({ id })), Schema.Unknown, (cause) =>
        statusOf(cause) === 404 ? Option.some(false) : Option.none()).pipe(Effect.map((r) => r !== false)),

    destroySession: (id) => call(`session.destroy ${id}`, (client) => client.session.destroy(withTimeout({ id })), Schema.Unknown).pipe(Effect.asVoid),

    acquire: (key, value, session) =>
      call(`kv.acquire ${key}`, (client) => client.kv.set(withTimeout({ key, value, acquire: session })), WriteOutcome).pipe(Effect.map(won)),

    release: (key, value, session) =>
      call(`kv.release ${key}`, (client) => client.kv.set(withTimeout({ key, value, release: session })), WriteOutcome).pipe(Effect.map(won)),

    register: (service) =>
      call(
        `agent.service.register ${service.id}`,
        (client) =>
          client.agent.service.register(withTimeout({
            id: service.id,
            name: service.name,
            tags: [],
            address: service.address,
            port: service.port,
            // The same check ContainerPilot registers, so its heartbeats keep feeding it.
            // `timeout` is required by the package's typings; Consul ignores it on TTL checks.
            check: {
              // Consul's default name, which ContainerPilot's registration gets.
              name: `Service '${service.name}' check`,
              ttl: goDuration(service.ttl),
              status: service.status,
              notes: `TTL for ${service.name} set by containerpilot`,
              timeout: goDuration(callTimeout)
            }
          })),
        Schema.Unknown
      ).pipe(Effect.asVoid),

    agentChecks: call("agent.check.list", (client) => {
      const options: CheckListOptions & { readonly timeout: number } = { timeout }
      return client.agent.check.list(options)
    }, AgentChecks).pipe(
      Effect.map((checks) =>
        Object.values(checks).map((c): AgentCheck => ({ checkId: c.CheckID, serviceId: c.ServiceID ?? "", status: c.Status }))
      )
    ),

    remove: (key) => call(`kv.del ${key}`, (client) => client.kv.del(withTimeout({ key })), WriteOutcome).pipe(Effect.map((r) => r !== false)),

    setCheck: (checkId, status, note) => {
      const options = withTimeout({ id: checkId, note })
      const run = (client: ConsulClient) =>
        status === "passing"
          ? client.agent.check.pass(options)
          : status === "warning"
          ? client.agent.check.warn(options)
          : client.agent.check.fail(options)
      // Consul answers 404 for an unknown check ID and 500 for a check without a TTL.
      return call(`agent.check ${checkId}`, run, Schema.Unknown, (cause) =>
        statusOf(cause) === 404 || (statusOf(cause) === 500 && /does not have associated TTL/i.test(String(cause))) ? Option.some(false) : Option.none()).pipe(
          Effect.map((r) => r !== false)
        )
    },

    failInCatalog: (instance, checkId, note) =>
      call(
        `catalog.register ${instance.node} ${checkId}`,
        (client) =>
          client.catalog.register(withTimeout({
            node: instance.node,
            address: instance.nodeAddress,
            skipnodeupdate: true,
            // Consul replaces the whole check. Its name is kept; the package cannot send
            // Output, so the reason goes into Notes (the check of a dead node needs no more).
            check: { node: instance.node, checkid: checkId, serviceid: instance.id, name: `Service '${instance.service}' check`, notes: note, status: "critical" }
          })),
        Schema.Unknown
      ).pipe(Effect.asVoid)
  })
}
