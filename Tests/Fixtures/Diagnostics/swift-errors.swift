func compute() -> Int {
    var unchanged = 1
    return unchanged
}
let count: Int = "three"
print(missingName)

@available(*, deprecated, message: "use compute()")
func old() -> Int { 0 }
let stale = old()
