// The Dns service: every IPv4 address a host name resolves to. Asked first of the DNS
// servers of /etc/resolv.conf (Docker's embedded DNS, which answers a compose service
// name or `tasks.<service>` with every container of it), through c-ares, which can be
// cancelled: a server that never answers costs the lookup's bound and nothing after.
// getaddrinfo cannot be cancelled, and a pending one holds the process's exit until
// glibc gives up (10 s: Swarm's DNS forwards a name it does not hold yet, such as
// tasks.redis before any task passed, to the host's resolvers). So getaddrinfo is
// asked only when DNS answered that the name has no address, for /etc/hosts, which it
// then reads at once. An IPv4 literal is itself; the test layer answers from a table.
import { lookup, Resolver } from "node:dns/promises"
import { Context, Duration, Effect, Layer, Schema } from "effect"
import { isIPv4 } from "../domain/EnvAddress.ts"
import { Timings } from "../domain/Timings.ts"

export class DnsError extends Schema.TaggedError<DnsError>()("DnsError", {
  host: Schema.String,
  reason: Schema.Literals(["not-found", "timeout", "failed"]),
  detail: Schema.String
}) {
  override get message(): string {
    return `DNS lookup of ${this.host}: ${this.reason} (${this.detail})`
  }
}

const Addresses = Schema.Array(Schema.Struct({ address: Schema.String }))
const Failure = Schema.Struct({ code: Schema.optionalKey(Schema.String), message: Schema.optionalKey(Schema.String) })

export class Dns extends Context.Service<Dns, {
  /** Every IPv4 address of `host`, in the resolver's order, without repeats; never empty. */
  readonly resolve: (host: string) => Effect.Effect<ReadonlyArray<string>, DnsError>
}>()("autopilot-redis/Dns") {
  static readonly layer: Layer.Layer<Dns> = Layer.effect(Dns, Effect.suspend(() => Dns.make({})))

  /** The live service; `servers` (host:port) instead of /etc/resolv.conf's, for tests. */
  static readonly make = (options: { readonly servers?: ReadonlyArray<string> }) =>
    Effect.gen(function*() {
      const { dnsLookup } = yield* Timings
      const failed = (host: string) => (cause: unknown): DnsError => {
        const f = Schema.decodeUnknownOption(Failure)(cause)
        const code = f._tag === "Some" ? f.value.code ?? "" : ""
        const detail = f._tag === "Some" ? f.value.message ?? String(cause) : String(cause)
        return new DnsError({ host, reason: code === "ENOTFOUND" || code === "ENODATA" ? "not-found" : "failed", detail })
      }
      const timedOut = (host: string) => new DnsError({ host, reason: "timeout", detail: `no answer within ${Duration.format(dnsLookup)}` })
      const fromDns = (host: string) =>
        Effect.suspend(() => {
          // One resolver per lookup: cancel() ends every query of its resolver.
          const resolver = new Resolver({ timeout: Duration.toMillis(dnsLookup), tries: 1 })
          if (options.servers !== undefined) resolver.setServers([...options.servers])
          return Effect.tryPromise({ try: () => resolver.resolve4(host), catch: failed(host) }).pipe(
            Effect.timeoutOrElse({ duration: dnsLookup, orElse: () => Effect.fail(timedOut(host)) }),
            Effect.onExit(() => Effect.sync(() => resolver.cancel()))
          )
        })
      const fromHostsFile = (host: string) =>
        Effect.tryPromise({ try: () => lookup(host, { all: true, family: 4 }), catch: failed(host) }).pipe(
          Effect.timeoutOrElse({ duration: dnsLookup, orElse: () => Effect.fail(timedOut(host)) }),
          Effect.flatMap((raw) => Schema.decodeUnknownEffect(Addresses)(raw)),
          Effect.mapError((e) => e._tag === "DnsError" ? e : new DnsError({ host, reason: "failed", detail: e.message.split("\n")[0] ?? "" })),
          Effect.map((addresses) => addresses.map((a) => a.address))
        )
      return Dns.of({
        resolve: Effect.fn("Dns.resolve")(function*(host: string) {
          if (isIPv4(host)) return [host]
          const found = yield* fromDns(host).pipe(
            Effect.catchIf((e) => e.reason !== "timeout", () => fromHostsFile(host))
          )
          const unique = [...new Set(found)]
          if (unique.length === 0) return yield* new DnsError({ host, reason: "not-found", detail: "no IPv4 address" })
          return unique
        })
      })
    })

  /** Names answered from `table`; a name missing from it does not exist. */
  static readonly layerTest = (table: ReadonlyMap<string, ReadonlyArray<string>>): Layer.Layer<Dns> =>
    Layer.succeed(Dns, Dns.of({
      resolve: (host) =>
        Effect.suspend(() => {
          if (isIPv4(host)) return Effect.succeed([host])
          const found = table.get(host) ?? []
          return found.length > 0 ? Effect.succeed(found) : Effect.fail(new DnsError({ host, reason: "not-found", detail: "not in the test table" }))
        })
    }))
}
