import Foundation

/// Waits for something the service finishes later: asks `GET path?wait=` again and again
/// until the answer is done or `seconds` (from the start of the wait) have passed.
struct LongPoll {
    let client: ServiceClient
    let seconds: Double
    let deadline: Date

    init(client: ServiceClient, seconds: Double) {
        self.client = client
        self.seconds = seconds
        deadline = Date() + seconds
    }

    /// The first done answer of `path`, starting from `first` when the submission already
    /// carried one; `overdue` names what is still unfinished when the time is up.
    func until<Answer>(
        _ path: String, first: (Answer, ServiceReply)? = nil,
        decode: (ServiceReply) throws(ServiceError) -> Answer, isDone: (Answer) -> Bool,
        overdue: (Answer) -> ServiceError
    ) async throws(ServiceError) -> (Answer, ServiceReply) {
        var latest = first
        var pause = LongPollPause()
        while true {
            if let (answer, reply) = latest {
                if isDone(answer) { return (answer, reply) }
                guard deadline.timeIntervalSinceNow > 0 else { throw overdue(answer) }
            }
            let wait = Self.waitParameter(deadline.timeIntervalSinceNow)
            let asked = Date()
            let reply = try await client.send("GET", "\(path)?wait=\(wait)", timeout: Double(wait) + Self.answerMargin)
            guard reply.status == 200 else { throw reply.refusal }
            let answer = try decode(reply)
            if !isDone(answer) { await pause.after(askedAt: asked) }
            latest = (answer, reply)
        }
    }

    /// nginx gives a responder 60 s; a long poll answers within its `wait` (at most 30).
    static let answerMargin = 35.0

    /// The API's `wait`: whole seconds from 1 to 30.
    static func waitParameter(_ seconds: Double) -> Int {
        max(1, min(30, Int(seconds.rounded(.up))))
    }

    /// The `--wait` seconds as the user wrote them.
    var shownSeconds: String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
    }
}

/// The pause before the next long poll when one was answered at once (the responder had no
/// waiting thread free): it grows from 0.1 s to 2 s, rather than asking again at once.
struct LongPollPause {
    private var seconds = 0.1

    mutating func after(askedAt asked: Date) async {
        guard Date().timeIntervalSince(asked) < 1 else { return }
        try? await Task.sleep(for: .seconds(seconds))
        seconds = min(seconds * 2, 2)
    }
}
