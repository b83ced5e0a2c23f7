// MANTA_KEY_ID in both forms operators meet: MD5 `aa:bb:…` (Manta's tools, setup-env)
// and `SHA256:…` (ssh-keygen -l), each checked against the private key it claims to
// name, in the one environment check every handler runs (Settings.ts).
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { generateKeyPairSync } from "node:crypto"
import { inspectPrivateKey, setEnvVariable, toEnvLine } from "../../../src/domain/MantaKey.ts"
import { formatProblems } from "../../../src/domain/EnvProblems.ts"
import { decodeSettings } from "../../../src/domain/Settings.ts"
import { generateTestKey, type TestKeyType } from "../../support/manta/keys.ts"

const host = { hostname: "node-1", ipv4: ["10.0.0.1"] }
const decode = (privateKey: string, keyId: string) =>
  decodeSettings({ MANTA_USER: "alice", MANTA_PRIVATE_KEY: privateKey.trim().replaceAll("\n", "#"), MANTA_KEY_ID: keyId }, host, inspectPrivateKey)

describe("MANTA_KEY_ID against MANTA_PRIVATE_KEY", () => {
  for (const type of ["rsa", "ecdsa", "ed25519"] as const satisfies ReadonlyArray<TestKeyType>) {
    it(`${type}: the key's MD5 and SHA256 fingerprints both match, the MD5 one in any case and with an MD5: prefix`, () => {
      const key = generateTestKey(type)
      for (const id of [key.fingerprintMd5, key.fingerprintMd5.toUpperCase(), `MD5:${key.fingerprintMd5}`, key.fingerprintSha256]) {
        const decoded = decode(key.privateKey, id)
        assert.isTrue(Result.isSuccess(decoded), `${id}: ${Result.isFailure(decoded) ? formatProblems(decoded.failure) : ""}`)
      }
    })
  }

  it("another key's fingerprint, in either form, is a mismatch naming this key's own fingerprints", () => {
    const key = generateTestKey("ecdsa")
    const other = generateTestKey("ecdsa")
    for (const id of [other.fingerprintMd5, other.fingerprintSha256]) {
      const decoded = decode(key.privateKey, id)
      if (Result.isSuccess(decoded)) return assert.fail(`${id} matched another key`)
      const message = formatProblems(decoded.failure)
      assert.include(message, "MANTA_KEY_ID")
      assert.include(message, "does not match MANTA_PRIVATE_KEY")
      assert.include(message, key.fingerprintMd5)
      assert.include(message, key.fingerprintSha256)
    }
  })

  it("inspectPrivateKey reports both fingerprints", () => {
    const key = generateTestKey("ed25519")
    const inspected = inspectPrivateKey(key.privateKey)
    assert.isTrue(Result.isSuccess(inspected))
    if (Result.isSuccess(inspected)) {
      assert.deepStrictEqual([inspected.success.fingerprintMd5, inspected.success.fingerprintSha256], [key.fingerprintMd5, key.fingerprintSha256])
    }
  })
})

// The refusals an operator reads when MANTA_PRIVATE_KEY (or the file given to
// setup-env) is not a key Manta can be signed with: each names what is wrong and what
// to give instead, and none quotes the key.
const rejection = (text: string): string => {
  const inspected = inspectPrivateKey(text)
  return Result.isFailure(inspected) ? inspected.failure : assert.fail(`accepted: ${text.slice(0, 40)}`)
}
const publicPem = { type: "spki", format: "pem" } as const
const rsaPem = (modulusLength: number) =>
  generateKeyPairSync("rsa", { modulusLength, privateKeyEncoding: { type: "pkcs1", format: "pem" }, publicKeyEncoding: publicPem })
const encryptedRsaPem = (passphrase: string) =>
  generateKeyPairSync("rsa", { modulusLength: 2048, privateKeyEncoding: { type: "pkcs1", format: "pem", cipher: "aes-256-cbc", passphrase }, publicKeyEncoding: publicPem }).privateKey
const dsaPem = () =>
  generateKeyPairSync("dsa", { modulusLength: 2048, divisorLength: 256, privateKeyEncoding: { type: "pkcs8", format: "pem" }, publicKeyEncoding: publicPem }).privateKey
const bodyOf = (text: string) => text.split("\n")[1] ?? ""

describe("MANTA_PRIVATE_KEY: what is refused, and the reason the operator reads", () => {
  const ed = generateTestKey("ed25519")
  const rsa = generateTestKey("rsa")

  it("a public key in any of its forms: told to give the private key file instead", () => {
    const publics = [
      ed.publicKeySsh,
      rsa.publicKeySsh,
      rsaPem(2048).publicKey,
      "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY= me@host",
      "-----BEGIN RSA PUBLIC KEY-----\nMIIBCgKCAQEA\n-----END RSA PUBLIC KEY-----",
      "---- BEGIN SSH2 PUBLIC KEY ----\nAAAAB3NzaC1yc2E=\n---- END SSH2 PUBLIC KEY ----"
    ]
    for (const text of publics) {
      assert.strictEqual(rejection(text), "this is a public key; give the private key file (e.g. ~/.ssh/id_rsa, not id_rsa.pub)", text.slice(0, 30))
    }
  })

  it("two keys in one file: refused as more than one key, not parsed as the first", () => {
    assert.strictEqual(rejection(`${ed.privateKey}\n${rsa.privateKey}`), "holds more than one key; give a file with exactly one")
  })

  it("a key with text before or after its block, or no key at all: not a private key, the expected shape named", () => {
    const shape = "not a private key in PEM or OpenSSH format (one -----BEGIN … PRIVATE KEY----- block and nothing else)"
    for (const text of [`${ed.privateKey.trim()}\nextra`, `comment\n${ed.privateKey}`, "hello", ""]) {
      assert.strictEqual(rejection(text), shape, text.slice(0, 30))
    }
  })

  it("a block whose END names another type than its BEGIN: not a private key", () => {
    const mixed = ed.privateKey.trim().replace(/-----END [A-Z ]+-----$/, "-----END RSA PRIVATE KEY-----")
    assert.strictEqual(rejection(mixed), "not a private key in PEM or OpenSSH format (one -----BEGIN … PRIVATE KEY----- block and nothing else)")
  })

  it("a well-formed block whose body is not a key: not a private key, and the body is not quoted", () => {
    const reason = rejection("-----BEGIN PRIVATE KEY-----\nQUJDREVGR0hJSktMTU5PUA==\n-----END PRIVATE KEY-----")
    assert.strictEqual(reason, "not a private key in PEM or OpenSSH format")
  })

  it("an RSA key of 1024 bits: too weak, its size and the minimum named", () => {
    const weak = rsaPem(1024).privateKey
    assert.strictEqual(rejection(weak), "an RSA key of 1024 bits is too weak (at least 2048)")
  })

  it("a DSA key: too weak to sign Manta requests, the usable types named", () => {
    const reason = rejection(dsaPem())
    assert.strictEqual(reason, "a DSA key is too weak to sign Manta requests (use RSA of at least 2048 bits, ECDSA or ed25519)")
  })

  it("a passphrase-protected key (PEM with DEK-Info or encrypted PKCS#8): told to export an unencrypted copy", () => {
    const expected = "the key is protected by a passphrase; the handlers run unattended, so export an unencrypted copy (ssh-keygen -p)"
    assert.strictEqual(rejection(encryptedRsaPem("secret phrase")), expected)
    const pkcs8 = generateKeyPairSync("ed25519", {
      privateKeyEncoding: { type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: "secret phrase" },
      publicKeyEncoding: publicPem
    }).privateKey
    assert.strictEqual(rejection(pkcs8), expected)
  })

  it("larger than 16 KiB: refused before parsing, the bound named", () => {
    const padded = `-----BEGIN PRIVATE KEY-----\n${"A".repeat(16 * 1024)}\n-----END PRIVATE KEY-----`
    assert.strictEqual(rejection(padded), "larger than 16 KiB, which no SSH private key is")
  })

  it("no refusal quotes the key's body", () => {
    const weak = rsaPem(1024).privateKey
    for (const text of [weak, `${ed.privateKey}\n${rsa.privateKey}`, `${ed.privateKey.trim()}\nextra`, encryptedRsaPem("pw")]) {
      const reason = rejection(text)
      assert.notInclude(reason, bodyOf(text))
      assert.notInclude(reason, bodyOf(ed.privateKey))
    }
  })
})

describe("MANTA_PRIVATE_KEY: what is accepted", () => {
  it("each signing type, with its size: RSA 2048 bits, ECDSA P-384, ed25519", () => {
    const ec = generateKeyPairSync("ec", { namedCurve: "secp384r1", privateKeyEncoding: { type: "pkcs8", format: "pem" }, publicKeyEncoding: publicPem })
    const seen = [generateTestKey("rsa").privateKey, ec.privateKey, generateTestKey("ed25519").privateKey].map((text) => {
      const inspected = inspectPrivateKey(text)
      return Result.isSuccess(inspected) ? [inspected.success.type, inspected.success.bits] : [inspected.failure]
    })
    assert.deepStrictEqual(seen, [["rsa", 2048], ["ecdsa", 384], ["ed25519", 256]])
  })

  it("a key saved with Windows line endings, or surrounded by blank lines, is the same key", () => {
    const key = generateTestKey("ed25519")
    for (const text of [key.privateKey.replaceAll("\n", "\r\n"), `\n\n${key.privateKey}\n\n`]) {
      const inspected = inspectPrivateKey(text)
      assert.deepStrictEqual(Result.isSuccess(inspected) ? inspected.success.fingerprintSha256 : inspected.failure, key.fingerprintSha256)
    }
  })
})

describe("the _env line setup-env writes for MANTA_PRIVATE_KEY", () => {
  it("newlines become '#', Windows line endings included, and no line keeps trailing spaces before its '#'", () => {
    assert.strictEqual(toEnvLine("-----BEGIN K-----  \r\nAAAA\t\nBBBB\n-----END K-----\n"), "-----BEGIN K-----#AAAA#BBBB#-----END K-----")
  })

  it("blank lines around the key are dropped, so the value neither starts nor ends with '#'", () => {
    assert.strictEqual(toEnvLine("\n\n  -----BEGIN K-----\nAAAA\n-----END K-----\n\n"), "-----BEGIN K-----#AAAA#-----END K-----")
  })

  it("the line decodes back to the key: the key it names is the key given", () => {
    const key = generateTestKey("rsa")
    const decoded = decode(toEnvLine(key.privateKey).replaceAll("#", "\n"), key.fingerprintMd5)
    assert.isTrue(Result.isSuccess(decoded))
  })
})

describe("setEnvVariable: exactly one line sets the variable afterwards", () => {
  it("an empty file gets the one line", () => {
    assert.strictEqual(setEnvVariable("", "MANTA_KEY_ID", "aa:bb"), "MANTA_KEY_ID=aa:bb\n")
  })

  it("a file without the variable keeps every line and gets it appended, with a final newline", () => {
    assert.strictEqual(setEnvVariable("MANTA_USER=alice\nLOG_LEVEL=debug", "MANTA_KEY_ID", "aa:bb"), "MANTA_USER=alice\nLOG_LEVEL=debug\nMANTA_KEY_ID=aa:bb\n")
    assert.strictEqual(setEnvVariable("MANTA_USER=alice\n", "MANTA_KEY_ID", "aa:bb"), "MANTA_USER=alice\nMANTA_KEY_ID=aa:bb\n")
  })

  it("only commented settings: the first takes the new line in its place, the others are dropped", () => {
    const before = "A=1\n# MANTA_KEY_ID=old\nB=2\n#export MANTA_KEY_ID = older\nC=3\n"
    assert.strictEqual(setEnvVariable(before, "MANTA_KEY_ID", "new"), "A=1\nMANTA_KEY_ID=new\nB=2\nC=3\n")
  })

  it("an uncommented setting takes the new line in its place even after a commented one; later ones are dropped", () => {
    const before = "#MANTA_KEY_ID=c\nA=1\n  export MANTA_KEY_ID=live\nB=2\nMANTA_KEY_ID=later\n"
    assert.strictEqual(setEnvVariable(before, "MANTA_KEY_ID", "new"), "A=1\nMANTA_KEY_ID=new\nB=2\n")
  })

  it("a variable whose name only starts with it, or mentions it after other text, is left alone", () => {
    const before = "MANTA_KEY_IDX=1\nX_MANTA_KEY_ID=2\necho MANTA_KEY_ID=3\n"
    assert.strictEqual(setEnvVariable(before, "MANTA_KEY_ID", "new"), `${before}MANTA_KEY_ID=new\n`)
  })

  it("blank lines inside the file are kept", () => {
    assert.strictEqual(setEnvVariable("A=1\n\nMANTA_KEY_ID=old\n\nB=2\n", "MANTA_KEY_ID", "new"), "A=1\n\nMANTA_KEY_ID=new\n\nB=2\n")
  })
})

describe("MANTA_PRIVATE_KEY at the edges", () => {
  const ed = generateTestKey("ed25519")
  const shape = "not a private key in PEM or OpenSSH format (one -----BEGIN … PRIVATE KEY----- block and nothing else)"

  it("a key with a trailing comment naming ssh-keygen or an ecdsa-sha2 type is refused for the comment, not called a public key", () => {
    assert.strictEqual(rejection(`${ed.privateKey.trim()}\n# made with ssh-keygen`), shape)
    assert.strictEqual(rejection(`${ed.privateKey.trim()}\n# an ecdsa-sha2-nistp256 key`), shape)
  })

  it("exactly 16 KiB is still parsed; one character more is refused by size", () => {
    const block = (bodyLength: number) => `-----BEGIN PRIVATE KEY-----\n${"A".repeat(bodyLength)}\n-----END PRIVATE KEY-----`
    const frame = block(0).length
    assert.strictEqual(rejection(block(16 * 1024 - frame)), "not a private key in PEM or OpenSSH format")
    assert.strictEqual(rejection(block(16 * 1024 - frame + 1)), "larger than 16 KiB, which no SSH private key is")
  })
})
