extension String {
    /// Without leading and trailing spaces and tabs (Unicode space separators
    /// included), as Foundation's `trimmingCharacters(in: .whitespaces)`, which
    /// this module does without: it links only FoundationEssentials.
    public var trimmingBlanks: String {
        func isBlank(_ character: Character) -> Bool {
            character == "\t" || character.unicodeScalars.allSatisfy { $0.properties.generalCategory == .spaceSeparator }
        }
        guard let first = firstIndex(where: { !isBlank($0) }), let last = lastIndex(where: { !isBlank($0) }) else { return "" }
        return String(self[first...last])
    }
}
