// What `manage setup-env` needs to know about an SSH private key before it becomes
// MANTA_PRIVATE_KEY: that it is a private key Manta can sign with unattended (not a
// public key, not passphrase-protected), its MD5 fingerprint (MANTA_KEY_ID, as Manta's
// keyId uses it), and the `_env` form of it (newlines as '#', since an env file holds
// one line per variable); and whether a MANTA_KEY_ID, in either form operators meet
// (MD5 `aa:bb:…` from Manta's tools, `SHA256:…` from ssh-keygen), names that key.
// Pure: parsing only, no files.
import sshpk from "sshpk"
import { Result } from "effect"

export interface InspectedKey {
  readonly type: string
  readonly bits: number
  readonly fingerprintMd5: string
  /** OpenSSH's form: `SHA256:` and unpadded base64. */
  readonly fingerprintSha256: string
}

const signingTypes = new Set(["rsa", "ecdsa", "ed25519"])

export const inspectPrivateKey = (text: string): Result.Result<InspectedKey, string> => {
  if (/^ssh-|^ecdsa-sha2-|BEGIN (RSA )?PUBLIC KEY/m.test(text.trim())) {
    return Result.fail("this is a public key; give the private key file (e.g. ~/.ssh/id_rsa, not id_rsa.pub)")
  }
  try {
    const key = sshpk.parsePrivateKey(text, "auto")
    if (!signingTypes.has(key.type)) return Result.fail(`a ${key.type} key cannot sign Manta requests (use RSA, ECDSA or ed25519)`)
    return Result.succeed({
      type: key.type,
      bits: key.size,
      fingerprintMd5: key.fingerprint("md5").toString("hex"),
      fingerprintSha256: key.fingerprint("sha256").toString()
    })
  } catch (e) {
    if (e instanceof sshpk.KeyEncryptedError) {
      return Result.fail("the key is protected by a passphrase; the handlers run unattended, so export an unencrypted copy (ssh-keygen -p)")
    }
    return Result.fail("not a private key in PEM or OpenSSH format")
  }
}

/**
 * Whether `keyId` (MD5 `aa:bb:…`, optionally `MD5:`-prefixed, or `SHA256:…`) is the
 * fingerprint of `privateKey`. The failure names the key's own fingerprints, which
 * are public, never the key.
 */
export const checkKeyId = (privateKey: string, keyId: string): Result.Result<void, string> => {
  const key = inspectPrivateKey(privateKey)
  if (Result.isFailure(key)) return Result.fail(`MANTA_PRIVATE_KEY: ${key.failure}`)
  const mismatch = `MANTA_KEY_ID ${keyId} does not match MANTA_PRIVATE_KEY (its fingerprints are ${key.success.fingerprintMd5} and ${key.success.fingerprintSha256})`
  try {
    return sshpk.parseFingerprint(keyId).matches(sshpk.parsePrivateKey(privateKey, "auto")) ? Result.void : Result.fail(mismatch)
  } catch {
    return Result.fail(`MANTA_KEY_ID ${keyId} is not a key fingerprint (expected aa:bb:… or SHA256:…)`)
  }
}

/**
 * One line per variable: newlines become '#' (base64 and PEM headers never contain
 * one). Compose treats " #" as the start of a comment, so no line may end in
 * whitespace before its '#'.
 */
export const toEnvLine = (text: string): string =>
  text.trim().split(/\r?\n/).map((line) => line.trimEnd()).join("#")

/** Sets `name=value` in an env file's text, replacing an existing (or commented-out) line, else appending. */
export const setEnvVariable = (file: string, name: string, value: string): string => {
  const line = `${name}=${value}`
  const lines = file === "" ? [] : file.replace(/\n$/, "").split("\n")
  const at = lines.findIndex((l) => new RegExp(`^#?\\s*${name}=`).test(l))
  if (at >= 0) lines[at] = line
  else lines.push(line)
  return lines.join("\n") + "\n"
}
