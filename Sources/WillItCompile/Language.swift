import FoundationEssentials

/// A source language the service knows how to compile.
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
    public static let acceptedNames: [String] = ["c", "cpp", "c++", "go", "rust", "swift"]

    /// The standards (for Rust: editions; for Swift: language modes) a request may name.
    /// Whether a given compiler supports one is checked against the toolchain catalog.
    public var knownStandards: [String] {
        switch self {
        case .c:
            ["c89", "c90", "c99", "c11", "c17", "c18", "c2x", "c23", "c2y",
             "gnu89", "gnu90", "gnu99", "gnu11", "gnu17", "gnu18", "gnu2x", "gnu23", "gnu2y"]
        case .cpp:
            ["c++98", "c++03", "c++11", "c++14", "c++17", "c++20", "c++2b", "c++23", "c++2c", "c++26",
             "gnu++98", "gnu++03", "gnu++11", "gnu++14", "gnu++17", "gnu++20", "gnu++2b", "gnu++23", "gnu++2c", "gnu++26"]
        case .go:
            []
        case .rust:
            ["2015", "2018", "2021", "2024"]
        case .swift:
            ["5", "6"]
        }
    }
}
