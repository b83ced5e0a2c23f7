// MANTA_KEY_ID in both forms operators meet: MD5 `aa:bb:…` (Manta's tools, setup-env)
// and `SHA256:…` (ssh-keygen -l), each checked against the private key it claims to name.
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { checkKeyId, inspectPrivateKey } from "../../../src/domain/MantaKey.ts"
import { generateTestKey, type TestKeyType } from "../../support/manta/keys.ts"

const failure = (r: Result.Result<void, string>): string => (Result.isFailure(r) ? r.failure : assert.fail("expected a mismatch"))

describe("checkKeyId", () => {
  for (const type of ["rsa", "ecdsa", "ed25519"] as const satisfies ReadonlyArray<TestKeyType>) {
    it(`${type}: the key's MD5 and SHA256 fingerprints both match, in any case and with an MD5: prefix`, () => {
      const key = generateTestKey(type)
      for (const id of [key.fingerprintMd5, key.fingerprintMd5.toUpperCase(), `MD5:${key.fingerprintMd5}`, key.fingerprintSha256]) {
        assert.isTrue(Result.isSuccess(checkKeyId(key.privateKey, id)), id)
      }
    })
  }

  it("another key's fingerprint, in either form, is a mismatch naming this key's own fingerprints", () => {
    const key = generateTestKey("ecdsa")
    const other = generateTestKey("ecdsa")
    for (const id of [other.fingerprintMd5, other.fingerprintSha256]) {
      const message = failure(checkKeyId(key.privateKey, id))
      assert.include(message, `MANTA_KEY_ID ${id} does not match MANTA_PRIVATE_KEY`)
      assert.include(message, key.fingerprintMd5)
      assert.include(message, key.fingerprintSha256)
    }
  })

  it("a value that is no fingerprint says so; an unusable key says so without echoing it", () => {
    const key = generateTestKey("rsa")
    assert.match(failure(checkKeyId(key.privateKey, "SHA256:!!")), /is not a key fingerprint/)
    const secret = "-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0\n-----END RSA PRIVATE KEY-----"
    const message = failure(checkKeyId(secret, key.fingerprintMd5))
    assert.match(message, /^MANTA_PRIVATE_KEY: not a private key/)
    assert.notInclude(message, "c2VjcmV0")
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
