// The Dns service: every IPv4 address a host name resolves to, through the system
// resolver (getaddrinfo: /etc/hosts and Docker's embedded DNS alike, which answers a
// compose service name with every container of the service). An IPv4 literal is
// itself. Each lookup is bounded; the test layer answers from a table.
import { lookup } from "node:dns/promises"
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
  static readonly layer: Layer.Layer<Dns> = Layer.effect(Dns, Effect.gen(function*() {
    const { dnsLookup } = yield* Timings
    const failed = (host: string) => (cause: unknown): DnsError => {
      const f = Schema.decodeUnknownOption(Failure)(cause)
      const code = f._tag === "Some" ? f.value.code ?? "" : ""
      const detail = f._tag === "Some" ? f.value.message ?? String(cause) : String(cause)
      return new DnsError({ host, reason: code === "ENOTFOUND" || code === "ENODATA" ? "not-found" : "failed", detail })
    }
    return Dns.of({
      resolve: Effect.fn("Dns.resolve")(function*(host: string) {
        if (isIPv4(host)) return [host]
        // getaddrinfo cannot be cancelled: on timeout its answer is dropped, never awaited.
        const raw = yield* Effect.tryPromise({ try: () => lookup(host, { all: true, family: 4 }), catch: failed(host) }).pipe(
          Effect.timeoutOrElse({
            duration: dnsLookup,
            orElse: () => Effect.fail(new DnsError({ host, reason: "timeout", detail: `no answer within ${Duration.format(dnsLookup)}` }))
          })
        )
        const addresses = yield* Schema.decodeUnknownEffect(Addresses)(raw).pipe(
          Effect.mapError((e) => new DnsError({ host, reason: "failed", detail: e.message.split("\n")[0] ?? "" }))
        )
        const unique = [...new Set(addresses.map((a) => a.address))]
        if (unique.length === 0) return yield* new DnsError({ host, reason: "not-found", detail: "no IPv4 address" })
        return unique
      })
    })
  }))

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
