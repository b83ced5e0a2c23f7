// Test key pairs for the Manta emulator: generated with node:crypto, converted
// with sshpk into the formats the `manta` client's privateKeySigner accepts.
import { generateKeyPairSync } from "node:crypto"
import sshpk from "sshpk"

export type TestKeyType = "rsa" | "ecdsa" | "ed25519"

export interface TestKey {
  /** PEM (RSA, PKCS#1) or OpenSSH private key text, as `manta.privateKeySigner({ key })` takes it. */
  readonly privateKey: string
  /** `ssh-rsa AAAA… comment` text, as an account's key list holds it. */
  readonly publicKeySsh: string
  /** MD5 fingerprint as it appears in the signature's keyId, e.g. "c5:7a:12:…". */
  readonly fingerprintMd5: string
  /** OpenSSH's form, "SHA256:<base64 without padding>". */
  readonly fingerprintSha256: string
}

const generatePkcs8 = (type: TestKeyType): string => {
  switch (type) {
    case "rsa":
      return generateKeyPairSync("rsa", {
        modulusLength: 2048,
        privateKeyEncoding: { type: "pkcs1", format: "pem" },
        publicKeyEncoding: { type: "spki", format: "pem" }
      }).privateKey
    case "ecdsa":
      return generateKeyPairSync("ec", {
        namedCurve: "prime256v1",
        privateKeyEncoding: { type: "pkcs8", format: "pem" },
        publicKeyEncoding: { type: "spki", format: "pem" }
      }).privateKey
    case "ed25519":
      return generateKeyPairSync("ed25519", {
        privateKeyEncoding: { type: "pkcs8", format: "pem" },
        publicKeyEncoding: { type: "spki", format: "pem" }
      }).privateKey
  }
}

export const generateTestKey = (type: TestKeyType): TestKey => {
  const pem = generatePkcs8(type)
  const key = sshpk.parsePrivateKey(pem, "pem")
  key.comment = `manta-emulator-${type}`
  return {
    privateKey: type === "rsa" ? pem : key.toString("ssh-private"),
    publicKeySsh: key.toPublic().toString("ssh"),
    fingerprintMd5: key.fingerprint("md5").toString("hex"),
    fingerprintSha256: key.fingerprint("sha256").toString()
  }
}
