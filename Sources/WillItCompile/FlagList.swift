/// One reviewed list of compiler flags (`FlagLists/*.swift`, written by scripts/generate-flag-lists):
/// one flag a line, either exact (`-Wall`, `-Wformat=2`) or a name ending in `=` followed by the
/// kind of value it takes (`-fvisibility=[default|hidden|internal|protected]`, `-ftabstop=<number>`,
/// `--param=max-inline-insns-auto=<number>`).
struct FlagList: Sendable {
    /// What may follow a flag's `=`. Values never carry `/`, `=`, `%`, `|`, `:` (except between
    /// numbers), `@` or spaces, so not even a flag wrongly on a list can take a path or options.
    enum Value: Sendable, Equatable {
        /// Digits.
        case number
        /// Digits separated by `,` or `:` (`-falign-functions=32:16`).
        case numbers
        /// Letters, digits and `_ . + -` (`-march=armv8-a+crc`).
        case word
        /// Words separated by commas.
        case words
        /// Exactly one of these (they may contain commas: `unpaired,ucn`).
        case oneOf(Set<String>)
        /// One or more of these, separated by commas (`-fsanitize=address,undefined`).
        case listOf(Set<String>)
        init?(notation: Substring) {
            switch notation {
            case "<number>": self = .number
            case "<numbers>": self = .numbers
            case "<word>": self = .word
            case "<words>": self = .words
            default:
                let isList = notation.hasSuffix(",...")
                let choices = isList ? notation.dropLast(4) : notation
                guard choices.hasPrefix("["), choices.hasSuffix("]") else { return nil }
                let set = Set(choices.dropFirst().dropLast().split(separator: "|").map(String.init))
                self = isList ? .listOf(set) : .oneOf(set)
            }
        }

        /// How the accepted values read in a refusal.
        var described: String {
            switch self {
            case .number: "a number"
            case .numbers: "numbers separated by , or :"
            case .word: "a name of letters, digits and _ . + -"
            case .words: "names of letters, digits and _ . + - separated by commas"
            case let .oneOf(choices): "one of \(choices.sorted().joined(separator: ", "))"
            case let .listOf(choices): "one or more of \(choices.sorted().joined(separator: ", ")), separated by commas"
            }
        }
    }

    /// Flags taken as they are.
    let exact: Set<String>
    /// Flags that take a value, by their name up to and including `=`.
    let valued: [String: Value]

    /// - Parameter text: the list, one flag a line; blank lines are ignored.
    init(_ text: String) {
        var exact: Set<String> = []
        var valued: [String: Value] = [:]
        for line in text.split(separator: "\n") {
            let entry = line.trimmingPrefix(while: { $0 == " " })
            guard !entry.isEmpty else { continue }
            // The value kind follows the `=` that ends the name (the second for --param=<name>=).
            let kinds = entry.indices.lazy.filter { entry[$0] == "=" }
                .compactMap { equals in Value(notation: entry[entry.index(after: equals)...]).map { (equals, $0) } }
            if let (equals, value) = kinds.first {
                valued[String(entry[...equals])] = value
            } else {
                exact.insert(String(entry))
            }
        }
        self.exact = exact
        self.valued = valued
    }

    var count: Int { exact.count + valued.count }

    /// Every flag, the exact ones first, a value kind in words after its `=`: `-fvisibility=<one of …>`.
    var entries: [String] {
        exact.sorted() + valued.sorted { $0.key < $1.key }.map { "\($0.key)<\($0.value.described)>" }
    }

    /// Whether `flag` is on the list, `-Wno-`, `-fno-` and `-mno-` forms included, and
    /// `-Werror=<warning>`, `-Wno-error=<warning>` for each `-W<warning>` on it:
    /// nil when it is, else why not.
    func refusal(of flag: String) -> Refusal? {
        if exact.contains(flag) { return nil }
        for prefix in ["-Werror=", "-Wno-error="] where flag.hasPrefix(prefix) {
            return exact.contains("-W" + flag.dropFirst(prefix.count)) ? nil : .unknownWarning(name: String(prefix.dropLast()))
        }
        // The name runs to the first `=`, or to the second for --param=<name>=<value>.
        for equals in flag.indices where flag[equals] == "=" {
            guard let value = valued[String(flag[...equals])] else { continue }
            let given = String(flag[flag.index(after: equals)...])
            return accepts(given, as: value) ? nil : .badValue(name: String(flag[..<equals]), value: value)
        }
        for negative in ["-Wno-", "-fno-", "-mno-"] where flag.hasPrefix(negative) {
            let positive = String(negative.prefix(2)) + flag.dropFirst(negative.count)
            if exact.contains(positive) { return nil }
            if let equals = positive.firstIndex(of: "="), let value = valued[String(positive[...equals])] {
                return accepts(String(positive[positive.index(after: equals)...]), as: value)
                    ? nil : .badValue(name: String(flag[..<(flag.firstIndex(of: "=") ?? flag.endIndex)]), value: value)
            }
        }
        return .unknown
    }

    enum Refusal: Equatable {
        case unknown
        case badValue(name: String, value: Value)
        /// `-Werror=` or `-Wno-error=` with a warning not on the list.
        case unknownWarning(name: String)
    }

    private func accepts(_ given: String, as value: Value) -> Bool {
        switch value {
        case .number: return Self.isNumber(given)
        case .numbers: return given.split(separator: ",", omittingEmptySubsequences: false)
            .flatMap { $0.split(separator: ":", omittingEmptySubsequences: false) }.allSatisfy { Self.isNumber($0) }
        case .word: return Self.isWord(given)
        case .words: return given.split(separator: ",", omittingEmptySubsequences: false).allSatisfy { Self.isWord($0) }
        case let .oneOf(choices): return choices.contains(given)
        case let .listOf(choices):
            return given.split(separator: ",", omittingEmptySubsequences: false).allSatisfy { choices.contains(String($0)) }
        }
    }

    private static func isNumber(_ text: some StringProtocol) -> Bool {
        !text.isEmpty && text.count <= 18 && text.allSatisfy { $0.isASCII && $0.isNumber }
    }

    static func isWord(_ text: some StringProtocol) -> Bool {
        guard let first = text.first, first.isASCII, first.isLetter || first.isNumber || first == "_" else { return false }
        return text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_.+-".contains($0)) }
    }
}
