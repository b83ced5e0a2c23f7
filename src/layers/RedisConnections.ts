// ioredis connections (the only file that imports ioredis), for a one-shot handler
// run and for the long-lived agent alike. The fail-fast profile of
// reference/ioredis.md: no reconnects, no offline queue, no hidden retries; RESP2
// without HELLO, CLIENT SETINFO or the INFO ready check, so a server that accepts and
// never answers costs one command timeout, not three. Connections are opened on first
// use per endpoint, replaced by a fresh one on the next call after they broke (the
// agent's reconnect is its next command, paced by its own Schedule), and closed with
// the scope. Pub/Sub gets a connection of its own per subscription. ioredis itself is
// loaded on first use, so handlers that never talk to Redis do not pay for it.
import type { Redis } from "ioredis"
import { Cause, Duration, Effect, Option, Queue, Redacted, Schema, type Scope, Stream } from "effect"
import { type Endpoint, formatEndpoint } from "../domain/Endpoint.ts"
import { type Tls } from "../domain/Settings.ts"
import { measured } from "./CallMetrics.ts"

export class RedisError extends Schema.TaggedError<RedisError>()("RedisError", {
  server: Schema.Literals(["Redis", "Sentinel"]),
  endpoint: Schema.String,
  command: Schema.String,
  reason: Schema.Literals(["unreachable", "timeout", "refused", "unexpected-reply"]),
  detail: Schema.String
}) {
  get retryable(): boolean {
    return this.reason === "unreachable" || this.reason === "timeout"
  }
  override get message(): string {
    return `${this.server} ${this.endpoint} ${this.command}: ${this.reason} (${this.detail})`
  }
}

export interface PubSubMessage {
  readonly channel: string
  readonly message: string
}

export interface Connections {
  /** Sends one command and returns the raw reply, bounded by the command timeout. */
  readonly run: (endpoint: Endpoint, command: string, args: ReadonlyArray<string | number>) => Effect.Effect<unknown, RedisError>
  /**
   * Every message published on a channel matching `pattern`, on a connection of its
   * own; the stream fails (never ends) when that connection is lost, so the caller's
   * retry Schedule decides when to subscribe again.
   */
  readonly subscribe: (endpoint: Endpoint, pattern: string) => Stream.Stream<PubSubMessage, RedisError>
}

const ReplyFailure = Schema.Struct({ name: Schema.optionalKey(Schema.String), message: Schema.optionalKey(Schema.String) })

const describe = (cause: unknown): { readonly name: string; readonly message: string } => {
  const f = Option.getOrUndefined(Schema.decodeUnknownOption(ReplyFailure)(cause))
  return { name: f?.name ?? "", message: f?.message ?? String(cause) }
}

/**
 * What a TLS connection presents and trusts: this node's certificate and key (a
 * replica presents the same to its master), and the cluster's CA. Only the chain is
 * verified, not the host name: nodes are reached by address, and Redis itself checks
 * no more on its replication and Sentinel links.
 */
export interface TlsMaterial {
  readonly ca: string
  readonly cert: string
  readonly key: string
}

/** Settings' TLS as connections use it. */
export const tlsMaterialOf = (tls: Option.Option<Tls>): Option.Option<TlsMaterial> =>
  Option.map(tls, (t) => ({ ca: t.ca, cert: t.cert, key: Redacted.value(t.key) }))

export const makeConnections = (options: {
  readonly server: "Redis" | "Sentinel"
  readonly password: Option.Option<string>
  /** The ACL user to log in as; None: the default user. */
  readonly username?: Option.Option<string>
  readonly timeout: Duration.Duration
  /** TLS on every connection; None: plaintext. */
  readonly tls?: Option.Option<TlsMaterial>
}): Effect.Effect<Connections, never, Scope.Scope> =>
  Effect.gen(function*() {
    // One connection per endpoint, shared by concurrent commands while it is set up.
    // `waiting`: callers awaiting the connection while it is set up.
    const clients = new Map<string, { readonly client: Redis; readonly ready: Promise<Redis>; waiting: number }>()
    // Every client ever made is closed with the scope: a client left open keeps the
    // handler process (pre-start) running, and Redis from starting.
    const made = new Set<Redis>()
    const timeoutMs = Duration.toMillis(options.timeout)
    const library = yield* Effect.cached(Effect.promise(() => import("ioredis")))
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const client of made) client.disconnect()
        made.clear()
        clients.clear()
      })
    )

    const failure = (endpoint: Endpoint, command: string, reason: RedisError["reason"], detail: string) =>
      new RedisError({ server: options.server, endpoint: formatEndpoint(endpoint), command, reason, detail })

    const usable = new Set(["wait", "connecting", "connect", "ready"])

    const tls = options.tls ?? Option.none()
    const clientOptions = (endpoint: Endpoint) => ({
      host: endpoint.host,
      port: endpoint.port,
      ...(Option.isSome(options.password) ? { password: options.password.value } : {}),
      ...Option.match(options.username ?? Option.none(), { onNone: () => ({}), onSome: (username) => ({ username }) }),
      ...(Option.isSome(tls) ? { tls: { ca: tls.value.ca, cert: tls.value.cert, key: tls.value.key, checkServerIdentity: () => undefined } } : {}),
      lazyConnect: true,
      connectTimeout: timeoutMs,
      commandTimeout: timeoutMs,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      enableReadyCheck: false,
      retryStrategy: () => null,
      disableClientInfo: true,
      protocol: 2 as const
    })

    /** A long-lived process replaces broken clients; the old ones must not pile up. */
    const discard = (client: Redis) => {
      client.disconnect()
      made.delete(client)
    }

    /** The next command to `endpoint` opens a fresh connection. */
    const forget = (endpoint: Endpoint, client: Redis) => {
      const key = formatEndpoint(endpoint)
      if (clients.get(key)?.client === client) clients.delete(key)
      discard(client)
    }

    // Built when run, not when constructed: a retry re-runs this Effect and must get a
    // fresh client, not connect() twice.
    const connect = (endpoint: Endpoint): Effect.Effect<Redis, RedisError> =>
      Effect.flatMap(library, ({ Redis }) => {
        const key = formatEndpoint(endpoint)
        let entry = clients.get(key)
        if (entry === undefined || !usable.has(entry.client.status)) {
          if (entry !== undefined) discard(entry.client)
          const client = new Redis(clientOptions(endpoint))
          // Errors surface through the rejected promise; without a listener ioredis prints them.
          client.on("error", () => {})
          made.add(client)
          const ready = client.connect().then(() => client)
          ready.catch(() => {})
          entry = { client, ready, waiting: 0 }
          clients.set(key, entry)
        }
        const current = entry
        current.waiting += 1
        return Effect.tryPromise({
          try: () => current.ready,
          catch: (cause) => failure(endpoint, "connect", "unreachable", describe(cause).message)
        }).pipe(
          // Given up on, by a failure or by the last caller's own bound (a look gives a
          // peer that was silent 100 ms): across a cut a connection attempt's SYN is lost
          // and the kernel's next try comes only a second later, so a peer back
          // meanwhile would look silent for as long; the next call makes a fresh attempt.
          Effect.onExit(() =>
            Effect.sync(() => {
              current.waiting -= 1
              if (current.waiting > 0 || current.client.status === "ready") return
              discard(current.client)
              if (clients.get(key) === current) clients.delete(key)
            })
          )
        )
      })

    // Suspended: a retry (or the next call) looks up the client again, so a connection
    // closed meanwhile (Sentinel's CLIENT KILL when it reconfigures a replica) is
    // replaced, never reused.
    const run: Connections["run"] = (endpoint, command, args) => Effect.suspend(() => runNow(endpoint, command, args))
    const runNow: Connections["run"] = (endpoint, command, args) => {
      const label = command.toUpperCase() === "SENTINEL" || command.toUpperCase() === "CLIENT" || command.toUpperCase() === "INFO"
        ? [command, args[0]].join(" ").toUpperCase()
        : command.toUpperCase()
      const ready = clients.get(formatEndpoint(endpoint))
      // A connected client's commands are bounded by its own commandTimeout; only a new
      // connection needs the outer deadline (a server that accepts TCP and never answers).
      const client = ready !== undefined && ready.client.status === "ready"
        ? Effect.succeed(ready.client)
        : connect(endpoint).pipe(
          Effect.timeoutOrElse({
            duration: Duration.times(options.timeout, 2),
            orElse: () => Effect.fail(failure(endpoint, label, "timeout", `no connection within ${Duration.format(Duration.times(options.timeout, 2))}`))
          })
        )
      return measured(
        options.server === "Redis" ? "redis" : "sentinel",
        label,
        Effect.flatMap(client, (c) =>
          Effect.tryPromise({
            try: () => c.call(command, ...args),
            catch: (cause) => {
              const { name, message } = describe(cause)
              if (/timed out/i.test(message)) return failure(endpoint, label, "timeout", message)
              if (name === "ReplyError") return failure(endpoint, label, "refused", message)
              return failure(endpoint, label, "unreachable", message)
            }
          }).pipe(
            // A command that timed out may still be answered later, and ioredis pairs
            // replies with commands in order: the connection is out of step for good.
            Effect.tapError((e) => (e.reason === "timeout" ? Effect.sync(() => forget(endpoint, c)) : Effect.void)),
            // Likewise one its caller stopped waiting for (a look ends once the sentinels
            // that answered decide): across a cut TCP retransmits on a growing backoff,
            // so a connection that lost packets can stay mute for seconds after the
            // network heals, while a fresh one answers at once.
            Effect.onInterrupt(() => Effect.sync(() => forget(endpoint, c)))
          )),
        formatEndpoint(endpoint)
      )
    }

    const subscribe: Connections["subscribe"] = (endpoint, pattern) =>
      Stream.callback<PubSubMessage, RedisError>((queue) =>
        Effect.gen(function*() {
          const { Redis } = yield* library
          const client = yield* Effect.acquireRelease(
            Effect.sync(() => {
              const c = new Redis(clientOptions(endpoint))
              c.on("error", () => {})
              return c
            }),
            (c) => Effect.sync(() => c.disconnect())
          )
          const lost = (detail: string) =>
            Queue.failCauseUnsafe(queue, Cause.fail(failure(endpoint, `PSUBSCRIBE ${pattern}`, "unreachable", detail)))
          client.on("pmessage", (_pattern: string, channel: string, message: string) => {
            Queue.offerUnsafe(queue, { channel, message })
          })
          yield* Effect.tryPromise({
            try: () => client.connect().then(() => client.psubscribe(pattern)),
            catch: (cause) => {
              const { message } = describe(cause)
              return failure(endpoint, `PSUBSCRIBE ${pattern}`, /timed out/i.test(message) ? "timeout" : "unreachable", message)
            }
          })
          client.once("close", () => lost("connection closed"))
        })
      )

    return { run, subscribe }
  })
