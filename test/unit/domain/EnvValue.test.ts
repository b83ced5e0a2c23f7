// Single environment values: Go-style durations (which ContainerPilot reads too) and
// their rendering, and the small validators Settings is built from.
import { assert, describe, it } from "@effect/vitest"
import { Duration, Option, Result, Schema } from "effect"
import fc from "fast-check"
import { formatGoDuration, HostPort, IntegerBetween, isIPv4, parseGoDuration, SingleLine } from "../../../src/domain/EnvValue.ts"

describe("parseGoDuration", () => {
  it("reads ms, s, m, h and sums of them", () => {
    assert.deepStrictEqual(parseGoDuration("500ms"), Option.some(500))
    assert.deepStrictEqual(parseGoDuration("5s"), Option.some(5_000))
    assert.deepStrictEqual(parseGoDuration("24h"), Option.some(86_400_000))
    assert.deepStrictEqual(parseGoDuration("1h30m"), Option.some(5_400_000))
    assert.deepStrictEqual(parseGoDuration("1m5s250ms"), Option.some(65_250))
  })

  it("rejects what is not a whole Go duration", () => {
    for (const text of ["", "5", "s", "-5s", "1.5s", "5 s", "5sec", "1d", "1h 30m", "ms5", "5us"]) {
      assert.isTrue(Option.isNone(parseGoDuration(text)), text)
    }
  })

  it("rejects amounts beyond exact integer milliseconds instead of rounding them", () => {
    assert.isTrue(Option.isNone(parseGoDuration("9999999999999999999h")))
  })
})

describe("formatGoDuration", () => {
  it("writes the shortest spelling", () => {
    assert.strictEqual(formatGoDuration(Duration.hours(24)), "24h")
    assert.strictEqual(formatGoDuration(Duration.minutes(90)), "90m")
    assert.strictEqual(formatGoDuration(Duration.seconds(5)), "5s")
    assert.strictEqual(formatGoDuration(Duration.millis(1_500)), "1500ms")
    assert.strictEqual(formatGoDuration(Duration.zero), "0s")
  })

  it("round-trips through parseGoDuration for every whole number of milliseconds", () => {
    fc.assert(
      fc.property(fc.nat(1_000 * 3_600_000), (ms) => {
        assert.deepStrictEqual(parseGoDuration(formatGoDuration(Duration.millis(ms))), Option.some(ms))
      }),
      { numRuns: 500 }
    )
  })
})

describe("value schemas", () => {
  const decodes = <A>(schema: Schema.Codec<A, string>, text: string): boolean => Result.isSuccess(Schema.decodeUnknownResult(schema)(text))

  it("IntegerBetween trims, and rejects non-integers and out-of-range values", () => {
    const quorum = IntegerBetween(1, 100)
    assert.deepStrictEqual(Schema.decodeUnknownResult(quorum)(" 3 "), Result.succeed(3))
    for (const bad of ["0", "101", "2.0", "1e1", "0x10", "two", ""]) assert.isFalse(decodes(quorum, bad), bad)
  })

  it("HostPort defaults the port and rejects anything else than host[:port]", () => {
    assert.deepStrictEqual(Schema.decodeUnknownResult(HostPort(8500))("consul"), Result.succeed({ host: "consul", port: 8500 }))
    assert.deepStrictEqual(Schema.decodeUnknownResult(HostPort(8500))("10.0.0.2:18500"), Result.succeed({ host: "10.0.0.2", port: 18500 }))
    for (const bad of ["", ":8500", "consul:", "consul:65536", "-consul", "consul_1"]) assert.isFalse(decodes(HostPort(8500), bad), bad)
  })

  it("isIPv4 accepts dotted quads only", () => {
    assert.isTrue(isIPv4("10.0.0.255"))
    for (const bad of ["10.0.0.256", "10.0.0", "010.0.0.1", " 10.0.0.1", "::1"]) assert.isFalse(isIPv4(bad), bad)
  })

  it("SingleLine refuses line breaks, which would inject config lines", () => {
    assert.isTrue(decodes(SingleLine, "p@ss word\t\"x\""))
    assert.isFalse(decodes(SingleLine, "pw\nrequirepass other"))
    assert.isFalse(decodes(SingleLine, "pw\r"))
  })
})
