import Testing
import WillItCompile

@Suite struct ConfigurationTests {
    @Test func defaultsMatchThePredecessor() throws {
        let configuration = try ServiceConfiguration(environment: [:])
        #expect(configuration.port == 8080)
        #expect(configuration.redis == RedisConfiguration())
        #expect(configuration.redis.enabled == false)
        #expect(configuration.redis.address == .tcp(host: "localhost", port: 6379))
        #expect(configuration.redis.poolSize == 20 && configuration.redis.jobTTLHours == 24)
        #expect(configuration.worker.queueSize == 100 && configuration.worker.maxWorkers >= 1)
        #expect(configuration.worker.maxJobsPerClient == 20)
        #expect(configuration.compilation.maxSourceSize == 1_048_576)
        #expect(configuration.compilation.maxMatrixCells == 128)
    }

    @Test func readsEveryVariable() throws {
        let configuration = try ServiceConfiguration(environment: [
            "PORT": "9000", "REDIS_ENABLED": "true", "REDIS_ADDR": "/run/redis.sock",
            "REDIS_PASSWORD": "s3cret", "REDIS_DB": "2", "REDIS_POOL_SIZE": "5",
            "REDIS_JOB_TTL_HOURS": "1", "REDIS_CONNECT_TIMEOUT_MS": "250", "REDIS_TIMEOUT_MS": "500",
            "MAX_WORKERS": "3", "QUEUE_SIZE": "7", "MAX_JOBS_PER_CLIENT": "4", "MAX_SOURCE_SIZE": "1000", "COMPILATION_TIMEOUT_SECONDS": "5",
            "MEMORY_STORE_MAX_MB": "64", "MAX_FILES": "9", "MAX_MATRIX_CELLS": "12",
        ])
        #expect(configuration.port == 9000)
        #expect(configuration.redis == RedisConfiguration(
            enabled: true, address: .unix(path: "/run/redis.sock"), password: "s3cret", database: 2,
            poolSize: 5, jobTTLHours: 1, connectTimeout: .milliseconds(250), commandTimeout: .milliseconds(500)))
        #expect(configuration.worker == WorkerConfiguration(maxWorkers: 3, queueSize: 7, maxJobsPerClient: 4, memoryStoreMegabytes: 64))
        #expect(configuration.compilation == CompilationConfiguration(maxSourceSize: 1000, timeoutSeconds: 5, maxFiles: 9, maxMatrixCells: 12))
    }

    @Test func theProgramCacheLivesBesideTheWorkerSocketUnlessNamed() throws {
        #expect(try ServiceConfiguration(environment: [:]).sandbox.programCacheDirectory == "run/program-cache")
        let scripted = try ServiceConfiguration(environment: ["WORKER_SOCKET": "/srv/wic/run/worker.sock"])
        #expect(scripted.sandbox.programCacheDirectory == "/srv/wic/run/program-cache")
        #expect(scripted.sandbox.programCacheMegabytes == 1024 && scripted.sandbox.programCacheEntries == 256)
        #expect(try ServiceConfiguration(environment: ["WORKER_SOCKET": "worker.sock"]).sandbox.programCacheDirectory == "./program-cache")
        let named = try ServiceConfiguration(environment: ["SANDBOX_PROGRAM_CACHE_DIR": "/var/cache/wic", "SANDBOX_PROGRAM_CACHE_MB": "0"])
        #expect(named.sandbox.programCacheDirectory == "/var/cache/wic" && named.sandbox.programCacheMegabytes == 0)
    }

    @Test(arguments: [
        ("PORT", "http"), ("PORT", "0"), ("REDIS_ENABLED", "maybe"), ("REDIS_ADDR", "localhost"),
        ("REDIS_ADDR", "host:99999"), ("REDIS_DB", "-1"), ("REDIS_POOL_SIZE", "0"),
        ("REDIS_JOB_TTL_HOURS", "1.5"), ("MAX_WORKERS", "many"), ("QUEUE_SIZE", "0"),
        ("MAX_JOBS_PER_CLIENT", "0"), ("MAX_JOBS_PER_CLIENT", "lots"),
        ("MAX_SOURCE_SIZE", "1MB"), ("MAX_SOURCE_SIZE", "9437184"), ("SANDBOX_OUTPUT_LIMIT_BYTES", "2097152"),
        ("COMPILATION_TIMEOUT_SECONDS", "-3"), ("SANDBOX_CGROUPS", "sometimes"), ("SANDBOX_CGROUP_MEMORY_MB", "32"),
        ("SANDBOX_PIDS", "4"), ("MEMORY_STORE_MAX_MB", "0"),
        ("SANDBOX_PROGRAM_CACHE_MB", "1G"), ("SANDBOX_PROGRAM_CACHE_MB", "-1"),
        ("MAX_FILES", "0"), ("MAX_FILES", "129"),
        ("SANDBOX_CGROUP_SUBTREE", "../escape"), ("SANDBOX_CGROUP_SUBTREE", "/system.slice/x.service"),
        ("SANDBOX_CGROUP_SUBTREE", "a//b"), ("SANDBOX_CGROUP_SUBTREE", "a/./b"), ("SANDBOX_CGROUP_SUBTREE", "a b"),
        ("SANDBOX_CGROUP_SUBTREE", "wic/"),
        ("MAX_MATRIX_CELLS", "0"), ("MAX_MATRIX_CELLS", "1001"),
    ])
    func aMalformedValueIsAnErrorNamingTheVariable(variable: String, value: String) {
        #expect(throws: ConfigurationError.self) {
            try ServiceConfiguration(environment: [variable: value])
        }
        do {
            _ = try ServiceConfiguration(environment: [variable: value])
        } catch {
            #expect(error.variable == variable)
            #expect(error.description.hasPrefix("\(variable)=\"\(value)\" is invalid: expected"))
        }
    }

    @Test func wholeSandboxLimitsAreOnUnlessTurnedOff() throws {
        let defaults = try ServiceConfiguration(environment: [:]).sandbox
        #expect(defaults.cgroups && defaults.cgroupMemoryMegabytes == 3072 && defaults.pids == 512)
        let set = try ServiceConfiguration(environment: [
            "SANDBOX_CGROUPS": "false", "SANDBOX_CGROUP_MEMORY_MB": "256", "SANDBOX_PIDS": "64",
        ]).sandbox
        #expect(!set.cgroups && set.cgroupMemoryMegabytes == 256 && set.pids == 64)
    }

    /// scripts/setup-cgroups' subtree unless named; the systemd unit names its own cgroup.
    @Test func theCgroupSubtreeIsWillItCompileUnlessNamed() throws {
        #expect(try ServiceConfiguration(environment: [:]).sandbox.cgroupSubtree == "will-it-compile")
        let unit = "system.slice/will-it-compile-worker.service"
        #expect(try ServiceConfiguration(environment: ["SANDBOX_CGROUP_SUBTREE": unit]).sandbox.cgroupSubtree == unit)
        let escaped = "system.slice/system-wic.slice/wic@a\\x2db.service"
        #expect(try ServiceConfiguration(environment: ["SANDBOX_CGROUP_SUBTREE": escaped]).sandbox.cgroupSubtree == escaped)
    }

    @Test func redisAddressesTakeEveryDocumentedForm() {
        #expect(RedisAddress("redis.example.com:6380") == .tcp(host: "redis.example.com", port: 6380))
        #expect(RedisAddress("[::1]:6379") == .tcp(host: "::1", port: 6379))
        #expect(RedisAddress("unix:/tmp/r.sock") == .unix(path: "/tmp/r.sock"))
        #expect(RedisAddress("/tmp/r.sock") == .unix(path: "/tmp/r.sock"))
        #expect(RedisAddress(":6379") == nil && RedisAddress("unix:") == nil)
    }
}
