import CMalloc

/// glibc's malloc gives each thread that allocates while another holds an arena an arena
/// of its own, up to eight per core; each keeps the most memory its threads ever used. A
/// responder's request threads all allocate at once, so each process would grow a heap per
/// thread: bounding the arenas bounds that (measured in docs/PERFORMANCE.md).
public enum MallocArenas {
    /// Lets malloc make at most `count` arenas, unless the environment's `MALLOC_ARENA_MAX`
    /// (which glibc reads itself) already says how many: an operator's choice comes first.
    /// - Returns: whether the bound is set (by this call or by the environment).
    @discardableResult
    public static func limit(to count: Int32, environment: [String: String]) -> Bool {
        if environment["MALLOC_ARENA_MAX"] != nil { return true }
        return mallopt(M_ARENA_MAX, count) == 1
    }
}
