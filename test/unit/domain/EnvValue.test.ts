// Single environment values: Go-style durations (which ContainerPilot reads too) and
// their rendering, and the small validators Settings is built from.
import { assert, describe, it } from "@effect/vitest"
import { Duration, Option, Result, Schema } from "effect"
import fc from "fast-check"
import { AbsolutePath, HostPort, HttpUrl, isIPv4, isUsableAddress } from "../../../src/domain/EnvAddress.ts"
import { ByteSize, formatGoDuration, IntegerBetween, KeyId, parseByteSize, parseGoDuration, textFlaws } from "../../../src/domain/EnvValue.ts"

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

describe("parseByteSize: sizes as redis.conf writes them", () => {
  it("reads bytes and Redis's units, k/m/g in powers of 1000 and kb/mb/gb of 1024, in any case", () => {
    assert.deepStrictEqual(parseByteSize("1048576"), Option.some(1_048_576))
    assert.deepStrictEqual(parseByteSize("1k"), Option.some(1_000))
    assert.deepStrictEqual(parseByteSize("1kb"), Option.some(1_024))
    assert.deepStrictEqual(parseByteSize("64mb"), Option.some(67_108_864))
    assert.deepStrictEqual(parseByteSize("64MB"), Option.some(67_108_864))
    assert.deepStrictEqual(parseByteSize("2m"), Option.some(2_000_000))
    assert.deepStrictEqual(parseByteSize("16gb"), Option.some(17_179_869_184))
    assert.deepStrictEqual(parseByteSize("1g"), Option.some(1_000_000_000))
  })

  it("rejects what Redis would not read as a size, or reads differently", () => {
    for (const text of ["", "mb", "-1mb", "1.5mb", "1 mb", "1tb", "01mb", "1mib", "0x10", "1e6"]) {
      assert.isTrue(Option.isNone(parseByteSize(text)), text)
    }
  })

  it("a bounded size decodes to bytes and refuses one outside its bounds", () => {
    const decode = Schema.decodeUnknownResult(ByteSize({ min: 1_048_576, max: 1_073_741_824 }))
    assert.deepStrictEqual(Result.getOrThrow(decode("64mb")), 67_108_864)
    assert.isTrue(Result.isFailure(decode("1000kb")))
    assert.isTrue(Result.isFailure(decode("2gb")))
    assert.isTrue(Result.isFailure(decode("lots")))
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

  it("IntegerBetween takes plain decimal only: no blanks, sign, leading zero or other notation", () => {
    const quorum = IntegerBetween(1, 100)
    assert.deepStrictEqual(Schema.decodeUnknownResult(quorum)("3"), Result.succeed(3))
    for (const bad of [" 3 ", "03", "+3", "0", "101", "2.0", "1e1", "0x10", "two", ""]) assert.isFalse(decodes(quorum, bad), bad)
  })

  it("HostPort defaults the port and rejects anything else than host[:port]", () => {
    assert.deepStrictEqual(Schema.decodeUnknownResult(HostPort(8500))("consul"), Result.succeed({ host: "consul", port: 8500 }))
    assert.deepStrictEqual(Schema.decodeUnknownResult(HostPort(8500))("10.0.0.2:18500"), Result.succeed({ host: "10.0.0.2", port: 18500 }))
    for (const bad of ["", ":8500", "consul:", "consul:65536", "consul:08500", "consul:0", "-consul", "consul_1", "0.0.0.0", "10.0.0", " consul"]) {
      assert.isFalse(decodes(HostPort(8500), bad), bad)
    }
  })

  it("isIPv4 accepts dotted quads only", () => {
    assert.isTrue(isIPv4("10.0.0.255"))
    for (const bad of ["10.0.0.256", "10.0.0", "010.0.0.1", " 10.0.0.1", "::1"]) assert.isFalse(isIPv4(bad), bad)
  })

  it("an announced address must be reachable: not 0.0.0.0/8, multicast or 240/4 (broadcast); loopback is fine", () => {
    for (const ok of ["10.0.0.1", "127.0.0.11", "172.17.0.2", "223.255.255.254"]) assert.isTrue(isUsableAddress(ok), ok)
    for (const bad of ["0.0.0.0", "0.1.2.3", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255"]) assert.isFalse(isUsableAddress(bad), bad)
  })

  it("text rules: no control characters, no surrounding or only whitespace, valid UTF-8, bounded", () => {
    const rules = { maxLength: 8 }
    assert.deepStrictEqual(textFlaws("p@ss w\"x", rules), [])
    assert.deepStrictEqual(textFlaws("pw\nrequirepass other", { maxLength: 100 }), ["holds a control character"])
    assert.deepStrictEqual(textFlaws("a\tb", rules), ["holds a control character"])
    assert.deepStrictEqual(textFlaws(" 5s", rules), ["has leading or trailing whitespace"])
    assert.deepStrictEqual(textFlaws("   ", rules), ["is only whitespace (an empty value means unset)"])
    assert.deepStrictEqual(textFlaws("a\uFFFDb", rules), ["is not valid UTF-8"])
    assert.deepStrictEqual(textFlaws("a\uD800b", rules), ["is not valid UTF-8"])
    assert.deepStrictEqual(textFlaws("123456789", rules), ["is longer than 8 characters"])
    assert.deepStrictEqual(textFlaws("-----BEGIN X-----\nabc\n", { maxLength: 100, multiline: true }), [])
  })

  it("AbsolutePath: one spelling per directory, nothing that ends a quoted string", () => {
    for (const ok of ["/", "/data", "/srv/redis data", "/a/b.c/d-e"]) assert.isTrue(decodes(AbsolutePath, ok), ok)
    for (const bad of ["data", "/data/", "//data", "/a//b", "/a/./b", "/a/../b", "/it's", "/a\\b", "/a\"b", "/a\nb"]) assert.isFalse(decodes(AbsolutePath, bad), bad)
  })

  it("HttpUrl: an origin without credentials, path or bad port, normalised", () => {
    assert.deepStrictEqual(Schema.decodeUnknownResult(HttpUrl)("HTTPS://Manta.Example.com/"), Result.succeed("https://manta.example.com"))
    assert.deepStrictEqual(Schema.decodeUnknownResult(HttpUrl)("http://127.0.0.1:8080"), Result.succeed("http://127.0.0.1:8080"))
    for (const bad of ["https://u:p@h", "https://u@h", "https://h:0", "https://h:99999", "https://h:080", "https://h/x", "https://h?x", "ftp://h", "https://", "https:h"]) {
      assert.isFalse(decodes(HttpUrl, bad), bad)
    }
  })

  it("KeyId: both fingerprint forms, normalised to what the key's own fingerprints look like", () => {
    const md5 = "B5:5C:aa:91:2b:42:34:38:a5:53:20:73:72:a6:13:2e"
    assert.deepStrictEqual(Schema.decodeUnknownResult(KeyId)(md5), Result.succeed(md5.toLowerCase()))
    assert.deepStrictEqual(Schema.decodeUnknownResult(KeyId)(`MD5:${md5}`), Result.succeed(md5.toLowerCase()))
    const sha = "SHA256:PHnh3CKkLQTreVGc5h6+CABrJjSkAX1ynXGfTPUPKgg"
    assert.deepStrictEqual(Schema.decodeUnknownResult(KeyId)(`${sha}=`), Result.succeed(sha))
    for (const bad of ["b5:5c", "SHA256:short", "sha256:PHnh3CKkLQTreVGc5h6+CABrJjSkAX1ynXGfTPUPKgg", "-----BEGIN RSA PRIVATE KEY-----"]) assert.isFalse(decodes(KeyId, bad), bad)
  })
})
