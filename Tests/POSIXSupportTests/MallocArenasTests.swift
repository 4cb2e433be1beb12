import POSIXSupport
import Testing

@Suite struct MallocArenasTests {
    @Test func glibcTakesTheBound() {
        #expect(MallocArenas.limit(to: 2, environment: [:]))
    }
}
