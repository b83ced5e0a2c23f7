// docker-stack.yml deployed for real (issue 18: the file passed `docker stack config`
// and failed `docker stack deploy`). On a swarm this engine manages, it deploys the
// shipped file under a stack name of its own, with `_env` holding defaults only and,
// as the README says for fewer hosts than nodes, with `max_replicas_per_node: 3`; then
// waits for one master and two replicas passing in the stack's Consul and asks a node
// `manage status`, with REDIS_PASSWORD from the Swarm secret the stack names (made here
// when missing, removed after). Reports itself skipped, with the reason, where no engine answers,
// the engine is not a swarm manager, or the image is missing (SWARM_TEST_IMAGE, default
// autopilot-redis:lab: `../shared/docker-lab/docker-lab image . autopilot-redis:lab`
// here). It never touches what it did not create: volumes named redis-data-<slot>
// that already exist make it skip.
import { execFile } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest"

const image = process.env["SWARM_TEST_IMAGE"] ?? "autopilot-redis:lab"
const stack = `arswarm${process.pid}`
const slots = ["redis-data-1", "redis-data-2", "redis-data-3"]

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const docker = (args: ReadonlyArray<string>, options: { readonly cwd?: string; readonly env?: Readonly<Record<string, string>>; readonly timeoutMs?: number } = {}): Promise<Run> =>
  new Promise((resolve) => {
    execFile("docker", [...args], {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      timeout: options.timeoutMs ?? 60_000
    }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr })
    })
  })

/** Why this engine cannot run the test, or undefined when it can. */
const unusable = async (): Promise<string | undefined> => {
  const info = await docker(["info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}"], { timeoutMs: 10_000 })
  if (info.code !== 0) return `no Docker engine answers: ${(info.stderr || info.stdout).split("\n")[0] ?? ""}`
  if (info.stdout.trim() !== "active true") return `the engine is not a swarm manager (${info.stdout.trim()}): docker swarm init`
  for (const name of [image, "hashicorp/consul:1.20"]) {
    if ((await docker(["image", "inspect", name], { timeoutMs: 10_000 })).code !== 0) return `image ${name} missing`
  }
  const volumes = await docker(["volume", "ls", "--format", "{{.Name}}"])
  const taken = volumes.stdout.split("\n").filter((v) => slots.includes(v))
  if (taken.length > 0) return `volumes ${taken.join(", ")} exist already (another deployment's data)`
  return undefined
}

const skipReason = await unusable()
if (skipReason !== undefined) console.warn(`test/docker/swarm.test.ts skipped: ${skipReason}`)

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const waitFor = async <A>(what: string, timeoutMs: number, probe: () => Promise<A | undefined>): Promise<A> => {
  const until = Date.now() + timeoutMs
  let last = "nothing yet"
  for (;;) {
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (e) {
      last = e instanceof Error ? e.message : String(e)
    }
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last}`)
    await sleep(500)
  }
}

/** The running containers of a service of the stack. */
const containersOf = async (service: string): Promise<ReadonlyArray<string>> => {
  const r = await docker(["ps", "-q", "--filter", `label=com.docker.swarm.service.name=${stack}_${service}`])
  return r.stdout.split("\n").filter((l) => l !== "")
}

/** The addresses Consul reports passing for `service`, asked from a node's task (nothing is published on the host). */
const passing = async (service: string): Promise<ReadonlyArray<string>> => {
  const [task] = await containersOf("redis")
  if (task === undefined) throw new Error("no redis task running")
  const script = `fetch("http://consul:8500/v1/health/service/${service}?passing").then((r) => r.text()).then((t) => process.stdout.write(t))`
  const r = await docker(["exec", task, "node", "-e", script], { timeoutMs: 10_000 })
  if (r.code !== 0) throw new Error(`asking Consul from ${task}: ${r.stderr.split("\n")[0] ?? ""}`)
  const body: unknown = JSON.parse(r.stdout)
  if (!Array.isArray(body)) throw new Error(`unexpected answer: ${r.stdout.slice(0, 200)}`)
  return body.map((e: unknown) => /"Address":"([0-9.]+)"/.exec(JSON.stringify(e))?.[1] ?? "?")
}

describe.skipIf(skipReason !== undefined)("docker-stack.yml on a real swarm", () => {
  const dir = mkdtempSync(join(tmpdir(), "swarm-stack-"))
  let deployed = false
  let secretMade = false

  beforeAll(() => {
    const shipped = readFileSync(fileURLToPath(new URL("../../docker-stack.yml", import.meta.url)), "utf8")
    // One host here: the README's advice for fewer hosts than nodes.
    const oneHost = shipped.replace(/^(\s*max_replicas_per_node:) 1$/m, "$1 3")
    expect(oneHost).not.toBe(shipped)
    writeFileSync(join(dir, "docker-stack.yml"), oneHost)
    // Every line commented: all defaults, as _env.example ships.
    writeFileSync(join(dir, "_env"), readFileSync(fileURLToPath(new URL("../../_env.example", import.meta.url)), "utf8"))
  })

  beforeAll(async () => {
    // The stack takes REDIS_PASSWORD from this Swarm secret, as the file's header says to make it.
    if ((await docker(["secret", "inspect", "redis_password"])).code === 0) return
    const secret = join(dir, "redis_password")
    writeFileSync(secret, randomBytes(24).toString("base64url"), { mode: 0o600 })
    const made = await docker(["secret", "create", "redis_password", secret])
    expect(made.code, made.stderr).toBe(0)
    secretMade = true
  })

  afterAll(async () => {
    if (deployed) {
      await docker(["stack", "rm", stack])
      await waitFor("the stack's containers gone", 120_000, async () =>
        (await docker(["ps", "-aq", "--filter", `label=com.docker.stack.namespace=${stack}`])).stdout.trim() === "" ? true : undefined).catch(() => undefined)
      await waitFor("the stack's network gone", 60_000, async () =>
        (await docker(["network", "ls", "-q", "--filter", `name=${stack}_`])).stdout.trim() === "" ? true : undefined).catch(() => undefined)
      await docker(["volume", "rm", ...slots, `${stack}_consul-data`, `${stack}_backups`])
    }
    if (secretMade) await docker(["secret", "rm", "redis_password"])
    rmSync(dir, { recursive: true, force: true })
  })

  it("deploys as shipped, and three tasks become one master and two replicas passing in Consul; manage status answers in a task", async () => {
    onTestFailed(async () => {
      for (const service of ["redis", "consul"]) {
        const ps = await docker(["service", "ps", "--no-trunc", `${stack}_${service}`])
        console.error(`----- ${service} tasks\n${ps.stdout}${ps.stderr}`)
        const logs = await docker(["service", "logs", "--tail", "60", `${stack}_${service}`])
        console.error(`----- ${service} logs\n${logs.stdout}${logs.stderr}`)
      }
    })
    const started = Date.now()
    const deploy = await docker(["stack", "deploy", "--resolve-image", "never", "-c", "docker-stack.yml", stack], {
      cwd: dir,
      env: { AUTOPILOT_REDIS_IMAGE: image },
      timeoutMs: 120_000
    })
    deployed = true
    expect(deploy.stderr, deploy.stdout).not.toMatch(/error|undefined volume|unsupported/i)
    expect(deploy.code).toBe(0)

    await waitFor("one master and two replicas passing", 180_000, async () => {
      const [masters, replicas, sentinels] = await Promise.all([passing("redis"), passing("redis-replica"), passing("redis-sentinel")])
      return masters.length === 1 && replicas.length === 2 && sentinels.length === 3 ? true : undefined
    })
    console.log(`docker stack deploy → whole (1 master, 2 replicas, 3 sentinels passing): ${((Date.now() - started) / 1000).toFixed(1)} s`)

    const [task] = await containersOf("redis")
    if (task === undefined) return expect.fail("no redis task running")
    const status = await docker(["exec", task, "manage", "status"], { timeoutMs: 30_000 })
    expect(status.code, status.stderr).toBe(0)
    expect(status.stdout).toMatch(/master/)
    // The secret is in force: Redis refuses a client without it.
    const anonymous = await docker(["exec", task, "redis-cli", "-p", "6379", "PING"], { timeoutMs: 10_000 })
    expect(anonymous.stdout + anonymous.stderr).toMatch(/NOAUTH/)
    // Each task's data on the volume of its slot.
    const volumes = (await docker(["volume", "ls", "--format", "{{.Name}}"])).stdout.split("\n")
    expect(volumes).toEqual(expect.arrayContaining(slots))
  }, 400_000)
})
