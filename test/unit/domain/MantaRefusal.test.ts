// Manta's refusals explained in the operator's terms: the directory, the role, the fix.
import { assert, describe, it } from "@effect/vitest"
import { explainRefusal, type Principal } from "../../../src/domain/MantaRefusal.ts"

const bob: Principal = { user: "alice", subuser: "bob", roles: [] }
const bobAsBackup: Principal = { ...bob, roles: ["backup"] }
const creating = { action: "putdirectory", resource: "/alice/stor", creating: "/alice/stor/redis" }

describe("explainRefusal", () => {
  it("NoMatchingRoleTag names the directory, the active roles and both fixes", () => {
    assert.strictEqual(
      explainRefusal(bobAsBackup, "NoMatchingRoleTag", creating),
      "/alice/stor has no role tag for any active role of alice/bob (MANTA_ROLE=backup), so Manta refuses putdirectory there (NoMatchingRoleTag). As the account owner, tag it: mchmod +backup /alice/stor, or create /alice/stor/redis tagged: mmkdir --role-tag=backup /alice/stor/redis"
    )
  })

  it("AuthorizationFailed for a subuser: no active role, or a policy without the action", () => {
    assert.match(explainRefusal(bob, "AuthorizationFailed", creating) ?? "", /no role of alice\/bob is active \(set MANTA_ROLE, or make bob a default member of the role\), or the role's policy lacks "CAN putdirectory"/)
    assert.match(explainRefusal(bobAsBackup, "AuthorizationFailed", creating) ?? "", /lacks a role tag for MANTA_ROLE=backup, or that role's policy lacks "CAN putdirectory"/)
  })

  it("the account owner's AuthorizationFailed and unknown codes keep Manta's own message", () => {
    assert.isUndefined(explainRefusal({ user: "alice", subuser: undefined, roles: [] }, "AuthorizationFailed", creating))
    assert.isUndefined(explainRefusal(bob, "ResourceNotFound", creating))
    assert.isUndefined(explainRefusal(bob, undefined, creating))
  })

  it("InvalidRole and KeyDoesNotExist name MANTA_ROLE and the (sub)user", () => {
    assert.match(explainRefusal(bobAsBackup, "InvalidRole", creating) ?? "", /^MANTA_ROLE=backup names a role alice\/bob cannot assume/)
    assert.match(explainRefusal(bob, "KeyDoesNotExist", creating) ?? "", /to the subuser bob/)
    assert.match(explainRefusal({ user: "alice", subuser: undefined, roles: [] }, "KeyDoesNotExist", creating) ?? "", /to the account/)
  })
})
