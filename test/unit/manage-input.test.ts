// Bad input through the built `manage` (dist/manage.mjs, as ContainerPilot and an
// operator run it): for every variable and every class of mistake fuzzing found,
// the run exits 2 within 10 s naming the variable, and no marker of any secret
// reaches stdout or stderr; a long environment still yields the whole message;
// LOG_FORMAT=json holds to the last line; no run prints a deprecation warning.
// `setup-env` against /dev/zero, a FIFO, a device, a directory, a symlink and its own
// key file ends within 10 s with a clear message and replaces nothing.
import { type ChildProcess, spawn } from "node:child_process"
import { generateKeyPairSync } from "node:crypto"
import { existsSync, readdirSync, statSync } from "node:fs"
import { link, lstat, mkdir, mkdtemp, readFile, readlink, rm, symlink, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { inspectPrivateKey } from "../../src/domain/MantaKey.ts"
import { decodeSettings, type SecretFileName, secretFiles, type VariableName, variables } from "../../src/domain/Settings.ts"
import { loadContainerPilotConfig } from "../support/containerpilot/template.ts"
import { closedPort } from "../support/fakeServers.ts"
import { generateTestKey } from "../support/manta/keys.ts"

const repo = fileURLToPath(new URL("../../", import.meta.url))
const manage = join(repo, "dist", "manage.mjs")
const configPath = join(repo, "containerpilot.json5")

/** The newest modification time under `dir`. */
const newest = (dir: string): number =>
  Math.max(...readdirSync(dir, { withFileTypes: true }).map((e) => (e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs)))

interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  readonly ms: number
}

/** Generous: a run takes ~0.3 s; a hang is what this bound is for, not speed. */
const bound = 10_000

const children = new Set<ChildProcess>()

const collect = (child: ChildProcess): Promise<Run> => {
  const started = Date.now()
  children.add(child)
  const killer = setTimeout(() => child.kill("SIGKILL"), bound + 5_000)
  let stdout = ""
  let stderr = ""
  child.stdout?.on("data", (c: Buffer) => (stdout += c.toString("utf8")))
  child.stderr?.on("data", (c: Buffer) => (stderr += c.toString("utf8")))
  return new Promise((resolve) =>
    child.on("close", (code) => {
      clearTimeout(killer)
      children.delete(child)
      resolve({ code, stdout, stderr, ms: Date.now() - started })
    })
  )
}

/** `manage <args>` with only PATH and `env`: nothing of the developer's shell leaks in. */
const run = (args: ReadonlyArray<string>, env: Readonly<Record<string, string>> = {}): Promise<Run> =>
  collect(spawn(process.execPath, [manage, ...args], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, stdio: ["ignore", "pipe", "pipe"] }))

/**
 * Through /bin/sh, whose printf can put bytes Node cannot (invalid UTF-8) into the
 * environment: each value gets the byte 0xFF appended. No value here holds a quote.
 */
const runWithByteFF = (args: ReadonlyArray<string>, values: Readonly<Record<string, string>>): Promise<Run> => {
  const exports = Object.entries(values).map(([name, value]) => `${name}="$(printf '%s\\377' '${value}')"; export ${name}`)
  const script = [...exports, `exec "$0" "$@"`].join("\n")
  return collect(spawn("/bin/sh", ["-c", script, process.execPath, manage, ...args], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, stdio: ["ignore", "pipe", "pipe"] }))
}

const key = generateTestKey("ed25519")
const otherKey = generateTestKey("rsa")
/** Markers that must never be printed: the keys' base64 bodies. */
const keyBody = key.privateKey.split("\n")[1] ?? ""
const otherKeyBody = otherKey.privateKey.split("\n")[1] ?? ""
const envLine = (pem: string) => pem.trim().replaceAll("\n", "#")
const sha256Of = (k: typeof key) => Result.getOrThrow(inspectPrivateKey(k.privateKey)).fingerprintSha256

/**
 * A variable given by value; a secret's `<NAME>_FILE` is left out of the tables below:
 * it cannot be valid beside its variable (both set is refused) and holds a path, not
 * a value to break. Its rules are test/unit/layers/secretFiles.test.ts's.
 */
type ByValue = Exclude<VariableName, SecretFileName>
const fileNames: ReadonlySet<string> = new Set(secretFiles.map((s) => s.file))

/** One value every variable accepts: the classes below break it in one way each. */
const valid: Readonly<Record<ByValue, string>> = {
  CONSUL: "consul.internal:8600", CONSUL_AGENT: "false", CONSUL_HTTP_TOKEN: "6f1c0a52-token", CONSUL_HTTP_SSL: "true", CONSUL_CACERT: "/srv/consul/ca.pem",
  CONSUL_TLS_SERVER_NAME: "server.dc1.consul", LOG_LEVEL: "debug", LOG_FORMAT: "text",
  TLS_CERT_FILE: "/srv/tls/node.pem", TLS_KEY_FILE: "/srv/tls/node-key.pem", TLS_CA_FILE: "/srv/tls/ca.pem", TLS_AUTH_CLIENTS: "optional",
  SERVICE_NAME: "cache", MASTER_NAME: "cachemaster", HOSTNAME: "node-1", ANNOUNCE_IP: "10.1.2.3", BIND_ADDRESS: "10.1.2.3", API_PORT: "9008",
  PEERS: "cache.internal,10.1.2.4", FOUNDING_GRACE: "45s",
  REDIS_PORT: "7000", SENTINEL_PORT: "27000", REDIS_PASSWORD: "s3cret#pw", REDIS_APP_PASSWORD: "app-s3cret", REDIS_APP_USER: "web",
  REDIS_PASSWORD_ACCEPTED: "next-s3cret", REDIS_APP_PASSWORD_ACCEPTED: "app-next-s3cret", REDIS_MIN_REPLICAS_TO_WRITE: "1", REPLICA_PRIORITY: "10", REDIS_REPL_BACKLOG_SIZE: "256mb",
  REDIS_MIN_REPLICAS_MAX_LAG: "10s", FENCE_AFTER: "1500ms", SENTINEL_QUORUM: "3", SENTINEL_DOWN_AFTER: "3s", SENTINEL_FAILOVER_TIMEOUT: "1m",
  SENTINEL_PARALLEL_SYNCS: "2", MASTER_WAIT_TIMEOUT: "2m", DATA_DIR: "/srv/redis/data", CONFIG_DIR: "/srv/redis/conf",
  HEALTH_INTERVAL: "3", HEALTH_TTL: "10", HEALTH_TIMEOUT: "2500ms", PRESTART_TIMEOUT: "20m", PRESTOP_TIMEOUT: "25s",
  BACKUP_STORE: "manta", BACKUP_INTERVAL: "6h", BACKUP_CHECK_INTERVAL: "10m", BACKUP_TIMEOUT: "45m", BACKUP_STALL_TIMEOUT: "90s", BACKUP_KEEP: "14",
  BACKUP_DIR: "/srv/backups", MANTA_URL: "https://manta.example.com", MANTA_USER: "acme", MANTA_SUBUSER: "ops",
  MANTA_ROLE: "backup,ops", MANTA_KEY_ID: key.fingerprintMd5, MANTA_PRIVATE_KEY: envLine(key.privateKey),
  MANTA_BUCKET: "/acme/stor/cache"
}
const names = Object.keys(variables).filter((n): n is ByValue => n in variables && !fileNames.has(n))
const except = (...skip: ReadonlyArray<ByValue>) => names.filter((n) => !skip.includes(n))
const each = (f: (name: ByValue, value: string, i: number) => string, only: ReadonlyArray<ByValue> = names) =>
  Object.fromEntries(only.map((n, i) => [n, f(n, valid[n], i)]))

/** The problems of an invalid-environment line, by variable. */
const named = (r: Run): ReadonlyArray<string> => {
  const message = /invalid environment: (.*?)"?$/m.exec(r.stderr)?.[1] ?? ""
  return message.split("; ").map((p) => /^([A-Z_]+)/.exec(p)?.[1] ?? "")
}

/** Every run: ends in time, no deprecation warning, no secret marker anywhere. */
const sane = (r: Run, secrets: ReadonlyArray<string> = []) => {
  assert.isBelow(r.ms, bound, `took ${r.ms} ms`)
  assert.notMatch(r.stderr, /DeprecationWarning|\[DEP\d+\]/)
  for (const s of [keyBody, otherKeyBody, ...secrets]) {
    assert.notInclude(r.stderr, s, "a secret reached stderr")
    assert.notInclude(r.stdout, s, "a secret reached stdout")
  }
}

const rejects = (r: Run, expected: ReadonlyArray<string>, secrets: ReadonlyArray<string> = []) => {
  sane(r, secrets)
  assert.strictEqual(r.code, 2, r.stderr)
  assert.sameMembers([...new Set(named(r))], [...expected], r.stderr)
}

beforeAll(() => {
  if (!existsSync(manage)) throw new Error(`${manage} is missing: run \`npm run build\` first`)
  if (statSync(manage).mtimeMs < newest(join(repo, "src"))) throw new Error(`${manage} is older than src/: run \`npm run build\` first`)
})

afterAll(() => {
  for (const child of children) child.kill("SIGKILL")
})

describe("every variable, every class of bad value, through the built manage", () => {
  it("the table covers every variable, and its values are a valid environment", () => {
    assert.sameMembers(Object.keys(valid), [...names])
    // The PEM files the table names, as the Settings layer would have read them.
    const certificate = Result.succeed("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    const pems = new Map([
      ["TLS_CERT_FILE", certificate],
      ["TLS_CA_FILE", certificate],
      ["CONSUL_CACERT", certificate],
      ["TLS_KEY_FILE", Result.succeed("-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n")]
    ])
    const decoded = decodeSettings(valid, { hostname: "node-1", ipv4: ["10.1.2.3"] }, inspectPrivateKey, pems)
    assert.isTrue(Result.isSuccess(decoded), Result.isFailure(decoded) ? JSON.stringify(decoded.failure) : "")
  })

  const classes: ReadonlyArray<readonly [string, Readonly<Record<string, string>>, ReadonlyArray<VariableName>]> = [
    // MANTA_PRIVATE_KEY alone may carry the blank lines around a PEM block.
    ["whitespace around the value (ContainerPilot does not trim)", each((_, v, i) => (i % 2 === 0 ? ` ${v}` : `${v} `)), except("MANTA_PRIVATE_KEY")],
    ["only whitespace (not the same as unset)", each(() => " \t "), names],
    ["a control character inside", each((_, v, i) => `${v.slice(0, 2)}${["\u0001", "\u001b", "\u007f", "\t", "\n"][i % 5] ?? ""}${v.slice(2)}`.replace("-\n", "-\u0001")), names],
    ["U+FFFD, Node's reading of invalid UTF-8", each((_, v) => `${v}\uFFFD`), names]
  ]
  for (const [what, env, expected] of classes) {
    it(`${what}: exit 2 naming each variable`, async () => {
      rejects(await run(["health", "master"], env), expected)
    })
  }

  it("invalid UTF-8 bytes, as an _env file can hold them", async () => {
    rejects(await runWithByteFF(["health", "master"], valid), names)
  })

  it("leading zeros (JSON5 rejects 06379): exit 2, the short number shown with why", async () => {
    const env = {
      HEALTH_INTERVAL: "05", HEALTH_TTL: "015", REDIS_PORT: "06379", SENTINEL_PORT: "026379", SENTINEL_QUORUM: "02",
      SENTINEL_PARALLEL_SYNCS: "01", REDIS_MIN_REPLICAS_TO_WRITE: "00", BACKUP_KEEP: "07", CONSUL: "consul:08500", MANTA_URL: "https://h:0443"
    }
    const r = await run(["health", "master"], env)
    rejects(r, Object.keys(env))
    assert.include(r.stderr, `HEALTH_INTERVAL=\\"05\\": has a leading zero, expected whole seconds from 1 to 300`)
  })

  it("values ContainerPilot's own parser rejects: manage rejects them first", async () => {
    const env = { SERVICE_NAME: "a", CONFIG_DIR: "/etc/it's", HEALTH_TIMEOUT: "4 s", LOG_LEVEL: "verbose", LOG_FORMAT: "xml", PRESTART_TIMEOUT: "10m " }
    for (const [name, value] of Object.entries(env)) {
      assert.throws(() => loadContainerPilotConfig(configPath, { [name]: value }), undefined, undefined, `ContainerPilot accepts ${name}=${value}`)
    }
    rejects(await run(["health", "master"], env), Object.keys(env))
  })

  it("unusable addresses: 0.0.0.0 and broadcast announced, a broadcast bind, a Consul at 0.0.0.0", async () => {
    rejects(await run(["health", "master"], { ANNOUNCE_IP: "0.0.0.0", BIND_ADDRESS: "255.255.255.255", CONSUL: "0.0.0.0" }), ["ANNOUNCE_IP", "BIND_ADDRESS", "CONSUL"])
    rejects(await run(["health", "master"], { ANNOUNCE_IP: "255.255.255.255" }), ["ANNOUNCE_IP"])
    rejects(await run(["health", "master"], { ANNOUNCE_IP: "224.0.0.1" }), ["ANNOUNCE_IP"])
  })

  it("rules between variables: ports distinct, a loopback announced address listened on, bucket under /<user>/stor, URL ports, bounded TTL", async () => {
    const manta = { MANTA_USER: "alice", MANTA_PRIVATE_KEY: envLine(key.privateKey) }
    rejects(await run(["health", "master"], { REDIS_PORT: "6379", SENTINEL_PORT: "6379", API_PORT: "6379", HEALTH_TTL: "5", ANNOUNCE_IP: "127.0.0.1", BIND_ADDRESS: "10.0.0.5" }), [
      "SENTINEL_PORT", "API_PORT", "HEALTH_TTL", "BIND_ADDRESS"
    ])
    rejects(await run(["health", "master"], { SENTINEL_PORT: "8008" }), ["SENTINEL_PORT"])
    rejects(await run(["health", "master"], { ...manta, MANTA_BUCKET: "/alice/../../etc" }), ["MANTA_BUCKET"])
    rejects(await run(["health", "master"], { ...manta, MANTA_BUCKET: "/bob/stor/x" }), ["MANTA_BUCKET"])
    rejects(await run(["health", "master"], { ...manta, MANTA_URL: "https://manta:0" }), ["MANTA_URL"])
    rejects(await run(["health", "master"], { ...manta, MANTA_URL: "https://manta:99999" }), ["MANTA_URL"])
  })
})

describe("secrets in the wrong place are never shown", () => {
  it("MANTA_KEY_ID and MANTA_PRIVATE_KEY swapped: both named, the key never printed", async () => {
    const r = await run(["health", "master"], { MANTA_USER: "alice", MANTA_KEY_ID: envLine(key.privateKey), MANTA_PRIVATE_KEY: sha256Of(key) })
    rejects(r, ["MANTA_KEY_ID", "MANTA_PRIVATE_KEY"])
    assert.include(r.stderr, "MANTA_KEY_ID (value not shown): looks like a private key")
  })

  it("a password in every other variable (a shifted _env line): all named, never shown", async () => {
    const marker = "S3CR3T§hunter2"
    rejects(await run(["health", "master"], each(() => marker)), except("REDIS_PASSWORD", "REDIS_APP_PASSWORD", "REDIS_PASSWORD_ACCEPTED", "REDIS_APP_PASSWORD_ACCEPTED"), [marker, "hunter2"])
  })

  it("a private key in every other variable: all named, never shown", async () => {
    rejects(await run(["health", "master"], { ...each(() => envLine(otherKey.privateKey), except("MANTA_PRIVATE_KEY")), MANTA_PRIVATE_KEY: envLine(key.privateKey) }), except("MANTA_PRIVATE_KEY"))
  })

  it("credentials in a URL or host: named as such, never shown", async () => {
    const r = await run(["health", "master"], { MANTA_URL: "https://alice:S3CR3Tpw@manta.example.com", CONSUL: "alice:S3CR3Tpw@consul", MANTA_USER: "alice", MANTA_PRIVATE_KEY: envLine(key.privateKey) })
    rejects(r, ["MANTA_URL", "CONSUL"], ["S3CR3Tpw"])
    assert.include(r.stderr, "MANTA_URL (value not shown): holds credentials")
  })

  it("a weak, unsupported or mismatched key: exit 2 beside every other problem, in one message", async () => {
    const rsa1024 = generateKeyPairSync("rsa", { modulusLength: 1024, privateKeyEncoding: { type: "pkcs1", format: "pem" }, publicKeyEncoding: { type: "spki", format: "pem" } }).privateKey
    const weak = await run(["health", "master"], { MANTA_USER: "alice", MANTA_PRIVATE_KEY: envLine(rsa1024), REDIS_PORT: "x" })
    rejects(weak, ["REDIS_PORT", "MANTA_PRIVATE_KEY"], [rsa1024.split("\n")[1] ?? ""])
    assert.include(weak.stderr, "an RSA key of 1024 bits is too weak")
    const dsa = generateKeyPairSync("dsa", { modulusLength: 2048, divisorLength: 256, privateKeyEncoding: { type: "pkcs8", format: "pem" }, publicKeyEncoding: { type: "spki", format: "pem" } }).privateKey
    rejects(await run(["health", "master"], { MANTA_USER: "alice", MANTA_PRIVATE_KEY: envLine(dsa) }), ["MANTA_PRIVATE_KEY"], [dsa.split("\n")[1] ?? ""])
    const mismatch = await run(["health", "master"], { MANTA_USER: "alice", MANTA_PRIVATE_KEY: envLine(key.privateKey), MANTA_KEY_ID: sha256Of(otherKey) })
    rejects(mismatch, ["MANTA_KEY_ID"])
    assert.include(mismatch.stderr, `does not match MANTA_PRIVATE_KEY, whose fingerprints are ${key.fingerprintMd5} and ${sha256Of(key)}`)
  })

  it("the key's own fingerprint in either form is accepted (the run gets past the environment)", async () => {
    for (const id of [key.fingerprintMd5, `MD5:${key.fingerprintMd5.toUpperCase()}`, sha256Of(key)]) {
      const r = await run(["config", "--docs"], { MANTA_USER: "alice", MANTA_PRIVATE_KEY: envLine(key.privateKey), MANTA_KEY_ID: id })
      sane(r)
      assert.strictEqual(r.code, 0)
    }
    const decoded = decodeSettings({ MANTA_USER: "alice", MANTA_PRIVATE_KEY: envLine(key.privateKey), MANTA_KEY_ID: sha256Of(key) }, { hostname: "n", ipv4: ["10.0.0.1"] }, inspectPrivateKey)
    assert.isTrue(Result.isSuccess(decoded))
  })
})

describe("the error output", () => {
  it("about 1 MB of bad values: exit 2, every variable named, the message short and whole", async () => {
    const long = ["REDIS_PORT", "SENTINEL_PORT", "HOSTNAME", "MASTER_NAME", "DATA_DIR", "CONFIG_DIR", "BACKUP_DIR", "MANTA_USER", "REDIS_PASSWORD"] as const
    const r = await run(["health", "master"], Object.fromEntries(long.map((n) => [n, "x".repeat(115_000)])))
    rejects(r, long, ["x".repeat(64)])
    assert.isBelow(r.stderr.length, 8_192)
    assert.match(r.stderr, /REDIS_PASSWORD \(secret, value not shown\): is longer than 1024 characters/)
  })

  it("LOG_FORMAT=json: every line on stderr is JSON, the last one naming every bad variable", async () => {
    const r = await run(["health", "master"], { LOG_FORMAT: "json", REDIS_PORT: "x", SENTINEL_QUORUM: "0" })
    sane(r)
    assert.strictEqual(r.code, 2)
    const lines = r.stderr.trim().split("\n")
    const last: unknown = JSON.parse(lines.at(-1) ?? "")
    for (const line of lines) assert.doesNotThrow(() => JSON.parse(line), undefined, undefined, line)
    const message = typeof last === "object" && last !== null && "message" in last ? String(last.message) : ""
    assert.match(message, /invalid environment: REDIS_PORT .*; SENTINEL_QUORUM="0"/)
  })

  it("LOG_FORMAT=json holds also for a usage error and when LOG_FORMAT is the only valid variable", async () => {
    for (const [args, env] of [[["frobnicate"], { LOG_FORMAT: "JSON" }], [["health", "master"], { LOG_FORMAT: "json", LOG_LEVEL: "loud" }]] as const) {
      const r = await run(args, env)
      sane(r)
      assert.strictEqual(r.code, 2)
      for (const line of r.stderr.trim().split("\n")) assert.doesNotThrow(() => JSON.parse(line), undefined, undefined, line)
    }
  })
})

describe("runs that reach outside", () => {
  it("a Manta run prints no url.parse() deprecation warning", async () => {
    const [consul, manta] = [await closedPort(), await closedPort()]
    const dir = await mkdtemp(join(tmpdir(), "manage-manta-"))
    try {
      const r = await run(["backup", "--now"], {
        MANTA_USER: "alice", MANTA_PRIVATE_KEY: envLine(key.privateKey), MANTA_URL: `http://127.0.0.1:${manta}`,
        CONSUL: `127.0.0.1:${consul}`, ANNOUNCE_IP: "127.0.0.1", DATA_DIR: dir, CONFIG_DIR: dir
      })
      sane(r)
      assert.strictEqual(r.code, 1, r.stderr)
      assert.match(r.stderr, /backup failed/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it("status exits 1 when Consul cannot be reached, after printing what it saw", async () => {
    const r = await run(["status"], { CONSUL: `127.0.0.1:${await closedPort()}`, ANNOUNCE_IP: "127.0.0.1" })
    sane(r)
    assert.strictEqual(r.code, 1)
    assert.include(r.stdout, "problem: Consul health.service redis: unreachable")
    assert.include(r.stderr, "status: could not see the cluster: Consul could not be read")
  })
})

describe("setup-env ends and replaces nothing", () => {
  let dir = ""
  let keyFile = ""
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "manage-setup-env-"))
    keyFile = join(dir, "id_ed25519")
    await writeFile(keyFile, key.privateKey, { mode: 0o600 })
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  const setupEnv = (keyPath: string, out: string, ...extra: ReadonlyArray<string>) => run(["setup-env", "--key", keyPath, "--out", out, ...extra])
  const refused = (r: Run, message: RegExp) => {
    sane(r)
    assert.strictEqual(r.code, 2, r.stderr)
    assert.match(r.stderr, message)
  }

  it("a key that is /dev/zero, a FIFO, a device or a directory: refused at once", async () => {
    const fifo = join(dir, "fifo-key")
    await new Promise<void>((resolve, reject) => spawn("mkfifo", [fifo]).on("close", (c) => (c === 0 ? resolve() : reject(new Error("mkfifo failed")))))
    for (const [path, kind] of [["/dev/zero", "a character device"], [fifo, "a FIFO"], ["/dev/null", "a character device"], [dir, "a directory"]] as const) {
      refused(await setupEnv(path, join(dir, "never.env")), new RegExp(`key ${path}: is ${kind}`))
    }
    assert.isFalse(existsSync(join(dir, "never.env")))
  })

  it("an output that is a device, a FIFO or a directory: refused, left as it was", async () => {
    const fifo = join(dir, "fifo-out")
    await new Promise<void>((resolve, reject) => spawn("mkfifo", [fifo]).on("close", (c) => (c === 0 ? resolve() : reject(new Error("mkfifo failed")))))
    await mkdir(join(dir, "out-dir"))
    // As root (where the old setup-env replaced /dev/null) a twin of /dev/null in the
    // temp dir stands in for it, so a regression cannot break the machine's own.
    const device = process.getuid?.() === 0 ? join(dir, "null") : "/dev/null"
    if (device !== "/dev/null") {
      await new Promise<void>((resolve, reject) => spawn("mknod", [device, "c", "1", "3"]).on("close", (c) => (c === 0 ? resolve() : reject(new Error("mknod failed")))))
    }
    for (const [path, kind] of [[device, "a character device"], [fifo, "a FIFO"], [join(dir, "out-dir"), "a directory"]] as const) {
      refused(await setupEnv(keyFile, path), new RegExp(`${path}: is ${kind}.*nothing was written`))
    }
    assert.isTrue((await lstat(device)).isCharacterDevice())
    assert.isTrue((await lstat(fifo)).isFIFO())
  })

  it("a symlinked output without --follow-symlinks, and the key file itself (also through a hard link): refused, untouched", async () => {
    const target = join(dir, "real.env")
    await writeFile(target, "A=1\n")
    await symlink(target, join(dir, "link.env"))
    refused(await setupEnv(keyFile, join(dir, "link.env")), /is a symbolic link; pass --follow-symlinks/)
    assert.strictEqual(await readlink(join(dir, "link.env")), target)
    assert.strictEqual(await readFile(target, "utf8"), "A=1\n")
    await link(keyFile, join(dir, "hard-link"))
    for (const out of [keyFile, join(dir, "hard-link")]) refused(await setupEnv(keyFile, out), /is the key file itself/)
    await symlink(keyFile, join(dir, "key-link"))
    refused(await setupEnv(keyFile, join(dir, "key-link"), "--follow-symlinks"), /is the key file itself/)
    assert.strictEqual(await readFile(keyFile, "utf8"), key.privateKey)
  })

  it("a regular output is written, 0600, and the key is never printed", async () => {
    const out = join(dir, "ok.env")
    const r = await setupEnv(keyFile, out)
    sane(r)
    assert.strictEqual(r.code, 0, r.stderr)
    assert.strictEqual((await lstat(out)).mode & 0o777, 0o600)
    assert.include(await readFile(out, "utf8"), `MANTA_KEY_ID=${key.fingerprintMd5}\n`)
  })
})
