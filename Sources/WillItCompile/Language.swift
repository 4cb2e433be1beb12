import FoundationEssentials

/// A source language the service knows how to compile.
///
/// The languages are named here and not only in the catalog: a request's language is read
/// before any toolchain is known (with the predecessor's alias `c++`, or from a raw
/// submission's file name), and a new language needs code anyway (an allowlist of its flags,
/// `FlagFamily`). Everything else about a language (its compilers, standards, targets)
/// is the catalog's alone.
public enum Language: String, CaseIterable, Codable, Sendable {
    case c
    case cpp
    case go
    case rust
    case swift

    /// Accepts the canonical names and the predecessor's alias `c++` for `cpp`.
    /// Matching ignores case and surrounding blanks.
    public init?(name: String) {
        if let exact = Language(rawValue: name) {
            self = exact
            return
        }
        let normalized = name.trimmingBlanks.lowercased()
        if normalized == "c++" {
            self = .cpp
        } else if let language = Language(rawValue: normalized) {
            self = language
        } else {
            return nil
        }
    }

    /// Names a request may use, for error messages.
    public static let acceptedNames: [String] = allCases.flatMap { $0 == .cpp ? ["cpp", "c++"] : [$0.rawValue] }
}
