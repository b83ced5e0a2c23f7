// The HTTP endpoints: path and query handling as Consul's handlers do it (decoded
// path segments, presence-only flags, Go parsing), returning either a reply or a
// query the server may block on.
import type { Agent } from "./agent.ts"
import { type Catalog, isStatus, type Status } from "./catalog.ts"
import { ApiError, encodeGoQuery, type JsonObject, optString, parseGoBool, parseJsonBody, parseUint64 } from "./go.ts"
import type { KvEntry, KvStore } from "./kv.ts"
import { renderSession, type SessionStore } from "./sessions.ts"

export interface ApiRequest {
  readonly method: string
  /** Decoded path, as Go's req.URL.Path. */
  readonly path: string
  readonly query: URLSearchParams
  readonly body: Buffer
  readonly token: string
}

export interface QueryResult {
  readonly status: number
  readonly body: string | Buffer
  readonly contentType: string | undefined
  readonly index: number
  /**
   * Extra watch state beyond the body: a change wakes a blocked query. A missing key's watch
   * in Consul's radix tree sits on the closest existing node, so writes to nearby keys wake it
   * (answering 404 with the newer table index); the emulator wakes it on any KV write.
   */
  readonly watch?: string
}

export type Outcome =
  | { readonly kind: "reply"; readonly status: number; readonly body: string | Buffer; readonly contentType: string | undefined }
  | { readonly kind: "query"; readonly evaluate: () => QueryResult }

export interface Backend {
  readonly agent: Agent
  readonly catalog: Catalog
  readonly kv: KvStore
  readonly sessions: SessionStore
  readonly aclToken: string | undefined
}

const JSON_TYPE = "application/json"
const TEXT_TYPE = "text/plain; charset=utf-8"
/** kv_max_value_size */
const KV_MAX_VALUE_SIZE = 512 * 1024

export const json = (value: unknown, status = 200): Outcome => ({ kind: "reply", status, body: JSON.stringify(value), contentType: JSON_TYPE })
export const text = (status: number, message: string): Outcome => ({ kind: "reply", status, body: message, contentType: TEXT_TYPE })
const empty = (): Outcome => ({ kind: "reply", status: 200, body: "", contentType: undefined })
const query = (evaluate: () => QueryResult): Outcome => ({ kind: "query", evaluate })
const jsonResult = (index: number, value: unknown): QueryResult => ({ status: 200, body: JSON.stringify(value), contentType: JSON_TYPE, index })

/** url.Values.Get: the first value, "" when absent. */
const param = (q: URLSearchParams, name: string): string => q.get(name) ?? ""

/** Consul's getBoolQueryParam: present and empty means true. */
const boolParam = (q: URLSearchParams, name: string): boolean | undefined => {
  if (!q.has(name)) return false
  const v = param(q, name)
  return v === "" ? true : parseGoBool(v)
}

/** A failed strconv parse surfaces as a plain error: HTTP 500 with Go's text. */
const uintParam = (q: URLSearchParams, name: string): bigint => {
  try {
    return parseUint64(param(q, name))
  } catch (e) {
    throw new ApiError(500, e instanceof Error ? e.message : String(e))
  }
}

const renderKv = (entries: ReadonlyArray<KvEntry>): string =>
  `[${
    entries.map((e) =>
      `{"LockIndex":${e.lockIndex},"Key":${JSON.stringify(e.key)},"Flags":${e.flags.toString()},"Value":${
        e.value === null || e.value.length === 0 ? "null" : JSON.stringify(e.value.toString("base64"))
      }${e.session !== undefined ? `,"Session":${JSON.stringify(e.session)}` : ""},"CreateIndex":${e.createIndex},"ModifyIndex":${e.modifyIndex}}`
    ).join(",")
  }]`

const conflicting = (q: URLSearchParams, flags: ReadonlyArray<string>): Outcome | undefined =>
  flags.filter((f) => q.has(f)).length > 1 ? text(400, `Conflicting flags: ${encodeGoQuery(q)}`) : undefined

type Handler = (b: Backend, req: ApiRequest, rest: string) => Outcome

interface Route {
  readonly path: string
  /** Pattern ends with "/": matches the prefix and passes the rest. */
  readonly methods: ReadonlyArray<string>
  readonly handle: Handler
}

const GET = ["GET", "HEAD"]
const PUT = ["PUT"]

const single = ({ index, value }: { readonly index: number; readonly value: KvEntry | undefined }) => ({
  index,
  value: value === undefined ? [] : [value]
})

const kvEndpoint: Handler = (b, req, key) => {
  const q = req.query
  if (req.method === "GET" || req.method === "HEAD") {
    if (q.has("keys")) {
      const separator = q.has("separator") ? param(q, "separator") : q.has("seperator") ? param(q, "seperator") : ""
      return query(() => {
        const { index, value } = b.kv.keys(key, separator)
        return value.length === 0 && key !== ""
          ? { status: 404, body: "", contentType: undefined, index }
          : jsonResult(index, value)
      })
    }
    const recurse = q.has("recurse")
    if (!recurse && key === "") return text(400, "Missing key name")
    const raw = q.has("raw") && !recurse
    return query(() => {
      const { index, value } = recurse ? b.kv.list(key) : single(b.kv.get(key))
      if (value.length === 0) return { status: 404, body: "", contentType: undefined, index, ...(recurse ? {} : { watch: String(index) }) }
      const first = value[0]
      if (raw && first !== undefined) return { status: 200, body: first.value ?? Buffer.alloc(0), contentType: TEXT_TYPE, index }
      return { status: 200, body: renderKv(value), contentType: JSON_TYPE, index }
    })
  }
  if (req.method === "PUT") {
    if (key === "") return text(400, "Missing key name")
    const conflict = conflicting(q, ["cas", "acquire", "release"])
    if (conflict !== undefined) return conflict
    const flags = q.has("flags") ? uintParam(q, "flags") : 0n
    const cas = q.has("cas") ? uintParam(q, "cas") : undefined
    if (req.body.length > KV_MAX_VALUE_SIZE) {
      return text(
        413,
        `Request body(${req.body.length} bytes) too large, max size: ${KV_MAX_VALUE_SIZE} bytes. See https://developer.hashicorp.com/docs/agent/config/config-files#kv_max_value_size.`
      )
    }
    const value = req.body.length === 0 ? null : req.body
    if (q.has("acquire")) return json(b.kv.acquire(key, value, flags, param(q, "acquire")))
    if (q.has("release")) return json(b.kv.release(key, value, flags, param(q, "release")))
    if (cas !== undefined) return json(b.kv.cas(key, value, flags, cas))
    return json(b.kv.set(key, value, flags))
  }
  // DELETE
  const conflict = conflicting(q, ["recurse", "cas"])
  if (conflict !== undefined) return conflict
  if (q.has("recurse")) return json(b.kv.deleteTree(key))
  if (key === "") return text(400, "Missing key name")
  if (q.has("cas")) return json(b.kv.deleteCas(key, uintParam(q, "cas")))
  return json(b.kv.delete(key))
}

const checkUpdate = (status: Status): Handler => (b, req, id) => {
  b.agent.updateTtl(id, status, param(req.query, "note"))
  return empty()
}

const enableParam = (q: URLSearchParams): boolean => {
  if (!q.has("enable")) throw new ApiError(400, "Missing value for enable")
  const enable = parseGoBool(param(q, "enable"))
  if (enable === undefined) throw new ApiError(400, `Invalid value for enable: ${JSON.stringify(param(q, "enable"))}`)
  return enable
}

const sessionId = (id: string): string => {
  if (id === "") throw new ApiError(400, "Missing session")
  return id
}

const leader = (b: Backend): string => `${b.catalog.node.address}:8300`

const member = (b: Backend) => ({
  Name: b.catalog.node.name,
  Addr: b.catalog.node.address,
  Port: 8301,
  Tags: { role: "consul", dc: "dc1", port: "8300", vsn: "2", build: "1.21.4" },
  Status: 1,
  ProtocolMin: 1,
  ProtocolMax: 5,
  ProtocolCur: 2,
  DelegateMin: 2,
  DelegateMax: 5,
  DelegateCur: 4
})

export const ROUTES: ReadonlyArray<Route> = [
  { path: "/v1/status/leader", methods: GET, handle: (b) => json(leader(b)) },
  { path: "/v1/status/peers", methods: GET, handle: (b) => json([leader(b)]) },
  {
    path: "/v1/agent/self",
    methods: GET,
    handle: (b) =>
      json({
        Config: {
          Datacenter: "dc1",
          PrimaryDatacenter: "dc1",
          NodeName: b.catalog.node.name,
          NodeID: b.catalog.node.id,
          Revision: "emulator",
          Server: true,
          Version: "1.21.4"
        },
        DebugConfig: {},
        Coord: null,
        Member: member(b),
        Stats: {},
        Meta: {}
      })
  },
  { path: "/v1/agent/members", methods: GET, handle: (b) => json([member(b)]) },
  { path: "/v1/agent/services", methods: GET, handle: (b) => json(b.agent.renderServices()) },
  { path: "/v1/agent/checks", methods: GET, handle: (b) => json(b.agent.renderChecks()) },
  {
    path: "/v1/agent/service/register",
    methods: PUT,
    handle: (b, req) => {
      const replace = req.query.has("replace-existing-checks") && ["", "true"].includes(param(req.query, "replace-existing-checks"))
      b.agent.registerService(parseJsonBody(req.body), replace)
      return empty()
    }
  },
  {
    path: "/v1/agent/service/deregister/",
    methods: PUT,
    handle: (b, _req, id) => {
      b.agent.deregisterService(id)
      return empty()
    }
  },
  {
    path: "/v1/agent/service/maintenance/",
    methods: PUT,
    handle: (b, req, id) => {
      if (id === "") return text(400, "Missing service ID")
      b.agent.serviceMaintenance(id, enableParam(req.query), param(req.query, "reason"))
      return empty()
    }
  },
  {
    path: "/v1/agent/service/",
    methods: GET,
    handle: (b, _req, id) => {
      const service = b.agent.service(id)
      return service === undefined ? text(404, `unknown service ID: ${id}`) : json(b.agent.renderService(service))
    }
  },
  {
    path: "/v1/agent/maintenance",
    methods: PUT,
    handle: (b, req) => {
      b.agent.nodeMaintenance(enableParam(req.query), param(req.query, "reason"))
      return empty()
    }
  },
  {
    path: "/v1/agent/check/register",
    methods: PUT,
    handle: (b, req) => {
      b.agent.registerCheck(parseJsonBody(req.body))
      return empty()
    }
  },
  {
    path: "/v1/agent/check/deregister/",
    methods: PUT,
    handle: (b, _req, id) => {
      b.agent.deregisterCheck(id)
      return empty()
    }
  },
  { path: "/v1/agent/check/pass/", methods: PUT, handle: checkUpdate("passing") },
  { path: "/v1/agent/check/warn/", methods: PUT, handle: checkUpdate("warning") },
  { path: "/v1/agent/check/fail/", methods: PUT, handle: checkUpdate("critical") },
  {
    path: "/v1/agent/check/update/",
    methods: PUT,
    handle: (b, req, id) => {
      const body: JsonObject = parseJsonBody(req.body)
      const status = optString(body, "Status") ?? ""
      if (!isStatus(status)) return text(400, `Invalid check status: '${status}'`)
      b.agent.updateTtl(id, status, optString(body, "Output") ?? "")
      return empty()
    }
  },
  {
    path: "/v1/health/service/",
    methods: GET,
    handle: (b, req, name) => {
      if (name === "") return text(400, "Missing service name")
      const passing = boolParam(req.query, "passing")
      if (passing === undefined) return text(400, "Invalid value for ?passing")
      const tags = req.query.getAll("tag")
      return query(() => {
        const { index, value } = b.catalog.healthService(name, tags, passing)
        return jsonResult(index, value)
      })
    }
  },
  {
    path: "/v1/health/checks/",
    methods: GET,
    handle: (b, _req, name) => {
      if (name === "") return text(400, "Missing service name")
      return query(() => {
        const { index, value } = b.catalog.healthChecks(name)
        return jsonResult(index, value)
      })
    }
  },
  {
    path: "/v1/health/state/",
    methods: GET,
    handle: (b, _req, state) => {
      if (state === "") return text(400, "Missing check state")
      if (state !== "any" && !isStatus(state)) return text(400, "Invalid check state")
      return query(() => {
        const { index, value } = b.catalog.healthState(state)
        return jsonResult(index, value)
      })
    }
  },
  {
    path: "/v1/health/node/",
    methods: GET,
    handle: (b, _req, node) => {
      if (node === "") return text(400, "Missing node name")
      return query(() => {
        const { index, value } = b.catalog.healthNode(node)
        return jsonResult(index, value)
      })
    }
  },
  { path: "/v1/catalog/datacenters", methods: GET, handle: () => json(["dc1"]) },
  {
    path: "/v1/catalog/services",
    methods: GET,
    handle: (b) =>
      query(() => {
        const { index, value } = b.catalog.catalogServices()
        return jsonResult(index, value)
      })
  },
  {
    path: "/v1/catalog/service/",
    methods: GET,
    handle: (b, req, name) => {
      if (name === "") return text(400, "Missing service name")
      const tags = req.query.getAll("tag")
      return query(() => {
        const { index, value } = b.catalog.catalogService(name, tags)
        return jsonResult(index, value)
      })
    }
  },
  {
    path: "/v1/catalog/nodes",
    methods: GET,
    handle: (b) =>
      query(() => {
        const { index, value } = b.catalog.catalogNodes()
        return jsonResult(index, value)
      })
  },
  {
    path: "/v1/catalog/node/",
    methods: GET,
    handle: (b, _req, node) => {
      if (node === "") return text(400, "Missing node name")
      return query(() => {
        const { index, value } = b.catalog.catalogNode(node)
        return jsonResult(index, value)
      })
    }
  },
  { path: "/v1/kv/", methods: ["GET", "HEAD", "PUT", "DELETE"], handle: kvEndpoint },
  {
    path: "/v1/session/create",
    methods: PUT,
    handle: (b, req) => json({ ID: b.sessions.create(parseJsonBody(req.body)) })
  },
  {
    path: "/v1/session/renew/",
    methods: PUT,
    handle: (b, _req, id) => {
      const session = b.sessions.renew(sessionId(id))
      return session === undefined ? text(404, `Session id '${id}' not found`) : json([renderSession(session)])
    }
  },
  {
    path: "/v1/session/destroy/",
    methods: PUT,
    handle: (b, _req, id) => {
      b.sessions.destroy(sessionId(id))
      return json(true)
    }
  },
  {
    path: "/v1/session/info/",
    methods: GET,
    handle: (b, _req, id) => {
      sessionId(id)
      return query(() => {
        const { index, value } = b.sessions.get(id)
        return jsonResult(index, value === undefined ? [] : [renderSession(value)])
      })
    }
  },
  {
    path: "/v1/session/list",
    methods: GET,
    handle: (b) =>
      query(() => {
        const { index, value } = b.sessions.list()
        return jsonResult(index, value.map(renderSession))
      })
  },
  {
    path: "/v1/session/node/",
    methods: GET,
    handle: (b, _req, node) => {
      if (node === "") return text(400, "Missing node name")
      return query(() => {
        const { index, value } = b.sessions.list(node)
        return jsonResult(index, value.map(renderSession))
      })
    }
  }
]

/** Go's ServeMux: an exact pattern, else the longest matching "/"-terminated prefix. */
const findRoute = (path: string): { route: Route; rest: string } | undefined => {
  let best: Route | undefined
  for (const route of ROUTES) {
    if (route.path.endsWith("/") ? path.startsWith(route.path) : path === route.path) {
      if (best === undefined || route.path.length > best.path.length) best = route
    }
  }
  return best === undefined ? undefined : { route: best, rest: path.slice(best.path.length) }
}

export const dispatch = (b: Backend, req: ApiRequest): Outcome => {
  const found = findRoute(req.path)
  if (found === undefined) return text(404, "404 page not found\n")
  if (!found.route.methods.includes(req.method)) return text(405, `method ${req.method} not allowed`)
  if (b.aclToken !== undefined && !req.path.startsWith("/v1/status/")) {
    if (req.token === "") return text(403, "Permission denied")
    if (req.token !== b.aclToken) return text(403, "ACL not found")
  }
  if (!req.path.startsWith("/v1/agent/") && !req.path.startsWith("/v1/status/")) {
    const dc = param(req.query, "dc")
    if (dc !== "" && dc !== "dc1") return text(500, "No path to datacenter")
  }
  try {
    return found.route.handle(b, req, found.rest)
  } catch (e) {
    if (e instanceof ApiError) return text(e.status, e.message)
    throw e
  }
}
