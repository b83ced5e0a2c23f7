// HTTP signature verification as muskie does it for the `manta` client: the
// signature must cover `date` (within 300 s of now) and verify with the key
// that keyId names, "/:login/keys/<md5 fp>" or "/:login/:subuser/keys/<md5 fp>"
// (mahi keys them by MD5 fingerprint, so a SHA256 keyId names no key).
import type { ClientRequest, IncomingMessage } from "node:http"
import httpSignature from "http-signature"
import sshpk from "sshpk"
import type { EmulatorRole } from "./roles.ts"

export interface EmulatorAccount {
  readonly login: string
  readonly keys: ReadonlyArray<string>
  readonly subusers?: ReadonlyArray<{ readonly login: string; readonly keys: ReadonlyArray<string> }>
  readonly roles?: ReadonlyArray<EmulatorRole>
}

export interface Caller {
  readonly account: string
  readonly subuser: string | undefined
}

export type AuthResult =
  | { readonly ok: true; readonly caller: Caller }
  | { readonly ok: false; readonly code: "InvalidSignature" | "KeyDoesNotExist"; readonly message: string }

const CLOCK_SKEW_SECONDS = 300
const KEY_ID = /^\/([^/]+)(?:\/([^/]+))?\/keys\/([^/]+)$/

/** "ssh-rsa AAAA…" text by MD5 fingerprint, for "login" or "login/subuser". */
type KeyTable = ReadonlyMap<string, ReadonlyMap<string, string>>

const fingerprints = (owner: string, keys: ReadonlyArray<string>): ReadonlyMap<string, string> =>
  new Map(
    keys.map((text) => {
      try {
        return [sshpk.parseKey(text, "ssh").fingerprint("md5").toString("hex"), text] as const
      } catch (cause) {
        throw new Error(`manta emulator: ${owner} has a key that is not an OpenSSH public key`, { cause })
      }
    })
  )

// @types/http-signature declares parseRequest over a ClientRequest; it reads a server
// request's headers, method, url and httpVersion.
const parseRequest = (req: IncomingMessage): httpSignature.ParseResponse =>
  httpSignature.parseRequest(req as unknown as ClientRequest, { clockSkew: CLOCK_SKEW_SECONDS })

export const makeAuthenticator = (accounts: ReadonlyArray<EmulatorAccount>): ((req: IncomingMessage) => AuthResult) => {
  const table = new Map<string, ReadonlyMap<string, string>>()
  for (const account of accounts) {
    table.set(account.login, fingerprints(account.login, account.keys))
    for (const sub of account.subusers ?? []) {
      table.set(`${account.login}/${sub.login}`, fingerprints(`${account.login}/${sub.login}`, sub.keys))
    }
  }
  const keys: KeyTable = table

  return (req) => {
    if (req.headers.authorization === undefined) {
      return { ok: false, code: "InvalidSignature", message: "no authorization header: the request is not signed" }
    }
    let parsed: httpSignature.ParseResponse
    try {
      parsed = parseRequest(req)
    } catch (error) {
      return { ok: false, code: "InvalidSignature", message: `invalid signature: ${error instanceof Error ? error.message : String(error)}` }
    }
    const keyId: unknown = parsed.params.keyId
    const match = typeof keyId === "string" ? KEY_ID.exec(keyId) : null
    const account = match?.[1]
    const fingerprint = match?.[3]
    if (account === undefined || fingerprint === undefined) {
      return { ok: false, code: "InvalidSignature", message: `invalid keyId ${String(keyId)}` }
    }
    const subuser = match?.[2]
    const owner = subuser === undefined ? account : `${account}/${subuser}`
    const publicKey = keys.get(owner)?.get(fingerprint)
    if (publicKey === undefined) return { ok: false, code: "KeyDoesNotExist", message: `${String(keyId)} does not exist` }
    let verified: boolean
    try {
      verified = httpSignature.verifySignature(parsed, publicKey)
    } catch {
      verified = false
    }
    if (!verified) return { ok: false, code: "InvalidSignature", message: "The signature we calculated does not match the one you sent" }
    return { ok: true, caller: { account, subuser } }
  }
}
