// MANTA_KEY_ID in both forms operators meet: MD5 `aa:bb:…` (Manta's tools, setup-env)
// and `SHA256:…` (ssh-keygen -l), each checked against the private key it claims to
// name, in the one environment check every handler runs (Settings.ts).
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { inspectPrivateKey } from "../../../src/domain/MantaKey.ts"
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
