// What an SSH private key must be to become MANTA_PRIVATE_KEY: exactly one unencrypted
// private key Manta can sign with (RSA of at least 2048 bits, ECDSA or ed25519), its
// fingerprints in both forms MANTA_KEY_ID may take, and the `_env` form of it (newlines
// as '#', since an env file holds one line per variable). Pure: parsing only, no
// files. Reasons never quote the key.
import sshpk from "sshpk"
import { Result } from "effect"
import { maxKeyBytes } from "./EnvValue.ts"

export interface InspectedKey {
  readonly type: string
  readonly bits: number
  /** `aa:bb:…`, lower case: the form Manta's signature keyId uses. */
  readonly fingerprintMd5: string
  /** `SHA256:…` (base64, unpadded), as `ssh-keygen -l` prints it. */
  readonly fingerprintSha256: string
}

export const minRsaBits = 2048

const signingTypes = new Set(["rsa", "ecdsa", "ed25519"])

const begin = /-----BEGIN [A-Z0-9 ]+-----/g
const oneBlock = /^-----BEGIN ([A-Z0-9 ]+)-----\n[\s\S]*\n-----END \1-----$/

export const inspectPrivateKey = (raw: string): Result.Result<InspectedKey, string> => {
  const text = raw.replaceAll("\r\n", "\n").trim()
  if (text.length > maxKeyBytes) return Result.fail(`larger than ${maxKeyBytes / 1024} KiB, which no SSH private key is`)
  if (/^ssh-|^ecdsa-sha2-|BEGIN (RSA |SSH2 )?PUBLIC KEY/m.test(text)) {
    return Result.fail("this is a public key; give the private key file (e.g. ~/.ssh/id_rsa, not id_rsa.pub)")
  }
  if ((text.match(begin) ?? []).length > 1) return Result.fail("holds more than one key; give a file with exactly one")
  if (!oneBlock.test(text)) return Result.fail("not a private key in PEM or OpenSSH format (one -----BEGIN … PRIVATE KEY----- block and nothing else)")
  try {
    const key = sshpk.parsePrivateKey(text, "auto")
    if (!signingTypes.has(key.type)) return Result.fail(`a ${key.type.toUpperCase()} key is too weak to sign Manta requests (use RSA of at least ${minRsaBits} bits, ECDSA or ed25519)`)
    if (key.type === "rsa" && key.size < minRsaBits) return Result.fail(`an RSA key of ${key.size} bits is too weak (at least ${minRsaBits})`)
    return Result.succeed({
      type: key.type,
      bits: key.size,
      fingerprintMd5: key.fingerprint("md5").toString("hex"),
      fingerprintSha256: key.fingerprint("sha256").toString("base64")
    })
  } catch (e) {
    if (e instanceof sshpk.KeyEncryptedError) {
      return Result.fail("the key is protected by a passphrase; the handlers run unattended, so export an unencrypted copy (ssh-keygen -p)")
    }
    return Result.fail("not a private key in PEM or OpenSSH format")
  }
}

/**
 * One line per variable: newlines become '#' (base64 and PEM headers never contain
 * one). Compose treats " #" as the start of a comment, so no line may end in
 * whitespace before its '#'.
 */
export const toEnvLine = (text: string): string =>
  text.trim().split(/\r?\n/).map((line) => line.trimEnd()).join("#")

/** A line that sets `name`, commented out or not (`#NAME=`, `# export NAME =`). */
const setting = (name: string) => new RegExp(`^\\s*#?\\s*(?:export\\s+)?${name}\\s*=`)
const commented = /^\s*#/

/**
 * Sets `name=value` in an env file's text so that exactly one line sets it: the new
 * line takes the place of the first uncommented setting (else of the first commented
 * one, else it is appended), and every other line setting `name` is dropped, since
 * compose would let a later one win.
 */
export const setEnvVariable = (file: string, name: string, value: string): string => {
  const lines = file === "" ? [] : file.replace(/\n$/, "").split("\n")
  const matches = lines.flatMap((l, i) => (setting(name).test(l) ? [i] : []))
  const at = matches.find((i) => !commented.test(lines[i] ?? "")) ?? matches[0]
  const kept = lines.flatMap((l, i) => (i === at ? [`${name}=${value}`] : matches.includes(i) ? [] : [l]))
  if (at === undefined) kept.push(`${name}=${value}`)
  return kept.join("\n") + "\n"
}
