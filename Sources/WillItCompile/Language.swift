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

    /// File name extensions (lowercase, without the dot) and the language each says: what a
    /// raw submission's `filename` and the command-line client's files are read by.
    public static let fileExtensions: [String: Language] = [
        "c": .c, "h": .c, "cpp": .cpp, "cc": .cpp, "cxx": .cpp, "c++": .cpp, "hpp": .cpp, "hh": .cpp,
        "go": .go, "rs": .rust, "swift": .swift,
    ]

    /// The known extensions with their dots, sorted, for error messages: `.c, .c++, .cc, …`.
    public static var knownExtensions: String {
        fileExtensions.keys.sorted().map { "." + $0 }.joined(separator: ", ")
    }

    /// The language a file's name says by its extension (in any case); nil for a name without
    /// one or with one of no known language.
    public init?(fileName: String) {
        let parts = fileName.split(separator: ".")
        guard parts.count > 1, let suffix = parts.last, let language = Self.fileExtensions[suffix.lowercased()] else { return nil }
        self = language
    }
}
