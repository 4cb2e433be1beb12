# Shared shell helpers for scripts/*. Source it; do not run it.

# Debian packages every part of the project needs to build, run and test:
# libraries, servers, the sandbox, and the compilers of toolchains/catalog.json.
WIC_PACKAGES=(
  redis-server libhiredis-dev libfcgi-dev libseccomp-dev pkg-config util-linux bubblewrap
  nginx spawn-fcgi multiwatch curl
  gcc-11 g++-11 gcc-12 g++-12 clang-13 clang-14 clang-15 clang-16 golang-go gccgo-12 rustc
  gcc-12-aarch64-linux-gnu g++-12-aarch64-linux-gnu gcc-12-arm-linux-gnueabihf g++-12-arm-linux-gnueabihf
  gcc-12-riscv64-linux-gnu g++-12-riscv64-linux-gnu gcc-mingw-w64-x86-64-win32 g++-mingw-w64-x86-64-win32
)

# The unprivileged user the worker, the responders and every sandbox run as.
WIC_USER=willitcompile

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Installs whichever of the given Debian packages are missing; `apt-get update` runs first,
# once, and only when something is missing.
install_missing_packages() {
  local missing=() package
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "missing packages ${missing[*]}: run as root or install them with apt-get"
  log "installing ${missing[*]}"
  apt-get update -qq || die "apt-get update failed"
  # policy-rc.d 101 keeps Debian's maintainer scripts from starting the system's own
  # redis or nginx: the project runs private instances and never touches those.
  local policy=/usr/sbin/policy-rc.d created_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created_policy=1
  fi
  # `|| status=$?`: under `set -e` a bare failure would exit here and leave policy-rc.d behind.
  local status=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || status=$?
  [ -n "$created_policy" ] && rm -f "$policy"
  [ $status -eq 0 ] || die "apt-get install ${missing[*]} failed"
}

# Waits until `redis-cli -s SOCKET ping` answers PONG, at most $2 seconds.
wait_for_redis() {
  local socket=$1 limit=${2:-10} waited=0
  until [ "$(redis-cli -s "$socket" ping 2>/dev/null)" = PONG ]; do
    waited=$((waited + 1))
    [ $waited -le $((limit * 20)) ] || return 1
    sleep 0.05
  done
}

# Runs a command as the service user (never root: bwrap run by root maps the sandbox to host root).
# A function runs in a subshell when put in the background: use setpriv directly there, so $! is the service.
as_service_user() {
  if [ "$(id -un)" = "$WIC_USER" ]; then "$@"; else setpriv --reuid="$WIC_USER" --regid="$WIC_USER" --init-groups -- "$@"; fi
}

# True while process $1 runs. A zombie counts as gone: an orphaned service's zombie
# may never be reaped where PID 1 does not reap (as in some VMs and containers).
alive() {
  local state
  state=$(sed -n 's/^[0-9]* (.*) \([A-Za-z]\) .*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}
