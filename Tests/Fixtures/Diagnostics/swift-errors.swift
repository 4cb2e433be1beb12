func compute() -> Int {
    var unchanged = 1
    return unchanged
}
let count: Int = "three"
print(missingName)
