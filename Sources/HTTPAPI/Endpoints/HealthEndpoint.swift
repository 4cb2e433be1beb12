import FoundationEssentials
import JobStore
import WillItCompile
import WorkerClient

extension APIHandler {
    /// `GET /health` (and `/api/v1/health`): whether Redis (when there is one) and the
    /// worker of this host answer; what a load balancer checks.
    func health() -> HTTPResponse {
        if let store = store as? RedisJobStore {
            do {
                try store.ping()
            } catch {
                return .json(503, HealthResponse(status: "unhealthy", error: "redis_unavailable", message: "Redis is unavailable: \(error)"))
            }
        }
        do {
            guard case .pong = try workers.healthProbe.send(.ping) else { throw WorkerUnreachable(description: "no pong") }
        } catch {
            return .json(503, HealthResponse(status: "unhealthy", error: "worker_unavailable", message: "The compile worker is unavailable: \(error)"))
        }
        return .json(200, HealthResponse(status: "healthy", time: Timestamp.format(Date()),
                                         redis: store == nil ? "disabled" : "ok", worker: "ok"))
    }
}

struct HealthResponse: Encodable {
    var status: String
    var time: String?
    var redis: String?
    var worker: String?
    var error: String?
    var message: String?
}
