# will-it-compile: nginx, the FastCGI responder pool and the compile worker in one image
# (Debian 12, like the machines it is developed on). Redis runs beside it (docker-compose.yml).
# The sandbox needs unprivileged user namespaces: run the container with a seccomp/AppArmor
# profile that allows them (see README, Containers).
#
# scripts/test replays the build stage without an engine (scripts/replay-dockerfile.py): it
# knows WORKDIR, COPY, RUN and ENV, and stands in only for the Swift version the project is
# built with (swift --version), on Debian 12.
FROM swift:6.3-bookworm AS build
WORKDIR /src
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends libhiredis-dev libfcgi-dev libseccomp-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
# Everything Package.swift declares: SwiftPM refuses a package whose targets' directories
# (Sources/ and Tests/ alike) are missing. Then the build script scripts/run uses too.
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
COPY scripts/build-release scripts/lib.sh ./scripts/
RUN scripts/build-release /usr/local/bin

# The binaries carry the Swift runtime (--static-swift-stdlib): the image is plain Debian 12
# with the C libraries, the servers and the compilers. It has no Swift toolchain, so the
# catalog's Swift family (swift.json: swiftc and the toolchain's clang) is left out, and the
# service offers no Swift.
FROM debian:bookworm-slim
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
        libhiredis0.14 libfcgi0ldbl libseccomp2 nginx spawn-fcgi multiwatch curl bubblewrap util-linux \
        gcc-11 g++-11 gcc-12 g++-12 clang-13 clang-14 clang-15 clang-16 golang-go gccgo-12 rustc redis-tools \
        gcc-12-aarch64-linux-gnu g++-12-aarch64-linux-gnu gcc-12-arm-linux-gnueabihf g++-12-arm-linux-gnueabihf \
        gcc-12-riscv64-linux-gnu g++-12-riscv64-linux-gnu gcc-mingw-w64-x86-64-win32 g++-mingw-w64-x86-64-win32 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin willitcompile
WORKDIR /app
COPY --from=build /usr/local/bin/will-it-compile-worker /usr/local/bin/will-it-compile-responder /usr/local/bin/
COPY toolchains ./toolchains
RUN rm toolchains/catalog/swift.json
COPY nginx ./nginx
COPY scripts ./scripts
COPY openapi.yaml ./
COPY web ./web
# scripts/run makes it root's, with the service user's group (see prepare_run_dir).
RUN mkdir -p /app/run
ENV WIC_BIN_DIR=/usr/local/bin \
    WIC_SKIP_SETUP=1 \
    WIC_RUN_DIR=/app/run \
    LISTEN_ADDR=0.0.0.0 \
    PORT=8080 \
    REDIS_ENABLED=true \
    REDIS_ADDR=redis:6379
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD curl -fsS http://127.0.0.1:8080/health || exit 1
CMD ["scripts/run"]
