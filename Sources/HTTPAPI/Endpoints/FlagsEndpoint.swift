import WillItCompile

extension APIHandler {
    /// `GET /api/v1/flags/{family}`: the whole allowlist of a flag family (`flag_family`
    /// in `/api/v1/toolchains`); it is compiled in, so it answers while the worker is down.
    func flagList(_ name: String) -> HTTPResponse {
        guard let family = FlagFamily(rawValue: name) else {
            let families = FlagFamily.allCases.map(\.rawValue)
            return .error(404, "not_found", "No flag family `\(name)` (families: \(families.joined(separator: ", ")); each toolchain's is its `flag_family` in GET /api/v1/toolchains).")
        }
        return .json(200, FlagListResponse(family: family))
    }
}

/// `GET /api/v1/flags/{family}`: every flag the family accepts, in the lists' notation
/// (`-fvisibility=<one of default, hidden, internal, protected>`), and per target its -m flags.
struct FlagListResponse: Encodable {
    var family: String
    var accepted: String
    /// nil for rustc and go, whose rules `accepted` states in full.
    var flags: [String]?
    var targetFlags: [String: [String]]?

    private enum CodingKeys: String, CodingKey {
        case family, accepted, flags, targetFlags = "target_flags"
    }

    init(family: FlagFamily) {
        self.family = family.rawValue
        accepted = family.accepted
        flags = family.fullList
        if flags != nil {
            var targets: [String: [String]] = [:]
            for (architecture, os) in FlagFamily.targetsWithFlags {
                targets["\(architecture)/\(os)"] = FlagFamily.targetList(architecture: architecture, os: os)
            }
            targetFlags = targets
        }
    }
}
