// A certificate authority for tests, made with openssl as an operator would: one CA,
// and per node a key and a certificate naming the node's address (what a client that
// verifies host names checks), usable as server and as client (a replica presents
// its own certificate to its master). Short-lived and never trusted outside the test.
import { execFileSync } from "node:child_process"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"

export interface TlsFiles {
  readonly certFile: string
  readonly keyFile: string
  readonly caFile: string
}

export interface TestPki {
  readonly caFile: string
  /** Files for a node (or a client) named `name`, its certificate valid for that name and `ip` (none: the name alone); made once per name. */
  readonly issue: (name: string, ip?: string) => TlsFiles
  /** TLS_CERT_FILE, TLS_KEY_FILE and TLS_CA_FILE for a node. */
  readonly envFor: (name: string, ip: string) => Readonly<Record<string, string>>
}

const openssl = (args: ReadonlyArray<string>): void => {
  execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"], timeout: 30_000 })
}

const newKey = (path: string): void => openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", path])

/** A CA in `dir` (created), valid two days. */
export const makeTestPki = (dir: string, caName = "autopilot-redis test CA"): TestPki => {
  mkdirSync(dir, { recursive: true })
  const caKey = join(dir, "ca-key.pem")
  const caFile = join(dir, "ca.pem")
  newKey(caKey)
  openssl(["req", "-x509", "-new", "-key", caKey, "-out", caFile, "-days", "2", "-subj", `/CN=${caName}`])
  const issued = new Map<string, TlsFiles>()
  const issue = (name: string, ip?: string): TlsFiles => {
    const known = issued.get(name)
    if (known !== undefined) return known
    const keyFile = join(dir, `${name}-key.pem`)
    const certFile = join(dir, `${name}.pem`)
    const csr = join(dir, `${name}.csr`)
    const ext = join(dir, `${name}.ext`)
    newKey(keyFile)
    openssl(["req", "-new", "-key", keyFile, "-out", csr, "-subj", `/CN=${name}`])
    writeFileSync(ext, `subjectAltName=${ip === undefined ? "" : `IP:${ip},`}DNS:${name}\nextendedKeyUsage=serverAuth,clientAuth\n`)
    openssl(["x509", "-req", "-in", csr, "-CA", caFile, "-CAkey", caKey, "-CAcreateserial", "-out", certFile, "-days", "2", "-extfile", ext])
    const files = { certFile, keyFile, caFile }
    issued.set(name, files)
    return files
  }
  return {
    caFile,
    issue,
    envFor: (name, ip) => {
      const f = issue(name, ip)
      return { TLS_CERT_FILE: f.certFile, TLS_KEY_FILE: f.keyFile, TLS_CA_FILE: f.caFile }
    }
  }
}

/** ioredis' `tls` for a client trusting the CA of TLS_CA_FILE in `env`, presenting the node's certificate when it has one. */
export const clientTlsOf = (env: Readonly<Record<string, string | undefined>>):
  | { readonly ca: string; readonly cert?: string; readonly key?: string }
  | undefined =>
{
  const ca = env["TLS_CA_FILE"]
  if (ca === undefined || ca === "") return undefined
  const cert = env["TLS_CERT_FILE"]
  const key = env["TLS_KEY_FILE"]
  return {
    ca: readFileSync(ca, "utf8"),
    ...(cert !== undefined && key !== undefined ? { cert: readFileSync(cert, "utf8"), key: readFileSync(key, "utf8") } : {})
  }
}
