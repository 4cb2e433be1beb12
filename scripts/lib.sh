#!/usr/bin/env bash
# Shared shell helpers for scripts/*. The other scripts source it; run by itself it only says so.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  echo "scripts/lib.sh holds helpers that the other scripts source; run scripts/run, scripts/test or scripts/setup instead" >&2
  exit 2
fi

# Debian packages every part of the project needs to build, run and test:
# libraries, servers, the sandbox, and the compilers of toolchains/catalog/.
WIC_PACKAGES=(
  redis-server libhiredis-dev libfcgi-dev libseccomp-dev pkg-config util-linux bubblewrap
  nginx spawn-fcgi multiwatch curl iproute2 python3 python3-venv
  gcc-11 g++-11 gcc-12 g++-12 clang-13 clang-14 clang-15 clang-16 golang-go gccgo-12 rustc
  gcc-12-aarch64-linux-gnu g++-12-aarch64-linux-gnu gcc-12-arm-linux-gnueabihf g++-12-arm-linux-gnueabihf
  gcc-12-riscv64-linux-gnu g++-12-riscv64-linux-gnu gcc-mingw-w64-x86-64-win32 g++-mingw-w64-x86-64-win32
  # The command-line client: libcurl for FoundationNetworking in a --static-swift-stdlib build;
  # the web page's test: headless Chromium.
  libcurl4-openssl-dev chromium
)

# The Python tools of the tests (scripts/python-requirements.txt, pinned, from PyPI) in a
# virtualenv of Debian's python3 (not whichever python3 is first on PATH), made once and made
# anew when the list changes: $WIC_PYTHON_TOOLS, by default .cache/python-tools. Sets
# python_bin to its bin/ directory.
python_tools() {
  local venv=${WIC_PYTHON_TOOLS:-$PWD/.cache/python-tools} requirements=scripts/python-requirements.txt stamp
  stamp=$(sha256sum < "$requirements")
  if [ "$(cat "$venv/requirements.sha256" 2>/dev/null)" != "$stamp" ]; then
    log "installing the Python test tools of $requirements into $venv"
    rm -rf -- "$venv"
    /usr/bin/python3 -m venv "$venv" || die "cannot create a virtualenv in $venv (Debian's python3-venv)"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$requirements" ||
      die "pip could not install $requirements into $venv"
    echo "$stamp" > "$venv/requirements.sha256"
  fi
  python_bin=$venv/bin
}

# The unprivileged user the worker, the responders and every sandbox run as.
WIC_USER=willitcompile

# The executables the service runs (scripts/build-release builds and installs them).
WIC_SERVICE_BINARIES=(will-it-compile-worker will-it-compile-responder)

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

# True for an IPv4 address in dotted decimal (no leading zeros).
ipv4_address() {
  local octet='(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
  [[ $1 =~ ^$octet\.$octet\.$octet\.$octet$ ]]
}

# True for an IPv6 address: eight groups of 1-4 hex digits separated by ':', fewer with
# one '::' standing for the missing ones, the last two possibly written as IPv4.
ipv6_address() {
  local address=$1 head tail part groups=() count=0
  [[ $address =~ ^[0-9A-Fa-f:.]+$ ]] || return 1
  if [[ $address == *.* ]]; then
    ipv4_address "${address##*:}" || return 1
    address="${address%:*}:0:0"
  fi
  if [[ $address == *::* ]]; then
    head=${address%%::*} tail=${address#*::}
    [[ $tail != *::* ]] || return 1
  else
    head=$address tail=
  fi
  # An empty group (':' at either end of a part) is only allowed as '::'.
  [[ $head != :* && $head != *: && $tail != :* && $tail != *: ]] || return 1
  for part in "$head" "$tail"; do
    [ -n "$part" ] || continue
    IFS=: read -ra groups <<< "$part"
    for part in "${groups[@]}"; do
      [[ $part =~ ^[0-9A-Fa-f]{1,4}$ ]] || return 1
      count=$((count + 1))
    done
  done
  if [[ $address == *::* ]]; then [ $count -le 7 ]; else [ $count -eq 8 ]; fi
}

# True for an IPv4 or IPv6 address, alone or as a CIDR network (address/prefix length).
ip_network() {
  local address=${1%/*} length=
  if [[ $1 == */* ]]; then
    length=${1##*/}
    [[ $length =~ ^(0|[1-9][0-9]{0,2})$ ]] || return 1
  fi
  if ipv4_address "$address"; then
    [ -z "$length" ] || [ "$length" -le 32 ]
  elif ipv6_address "$address"; then
    [ -z "$length" ] || [ "$length" -le 128 ]
  else
    return 1
  fi
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

# The cgroup subtree delegated to the service user (scripts/setup-cgroups), under each mount below.
WIC_CGROUP_SUBTREE=will-it-compile

# Sets v2_mount (a cgroup v2 mount whose cgroup.controllers has memory and pids) and v2_cpu
# (yes where it also has cpu), or else memory_mount, pids_mount and cpu_mount (the v1
# hierarchies of those controllers; cpu_mount empty where there is none), from /proc/self/mountinfo.
# The worker finds the same with CgroupLayout.detect (Sources/WorkerService/SandboxCgroups.swift).
detect_cgroups() {
  v2_mount= v2_cpu= memory_mount= pids_mount= cpu_mount=
  local fstype mount_point options controllers
  # mountinfo: fields up to " - " (the 5th is the mount point), then type, source, options.
  while read -r fstype mount_point options; do
    case $fstype in
      cgroup2)
        if [ -z "$v2_mount" ] && [ -r "$mount_point/cgroup.controllers" ]; then
          controllers=" $(cat "$mount_point/cgroup.controllers") "
          if [[ $controllers == *" memory "* && $controllers == *" pids "* ]]; then
            v2_mount=$mount_point
            [[ $controllers == *" cpu "* ]] && v2_cpu=yes
          fi
        fi ;;
      cgroup)
        [[ ,$options, == *,memory,* ]] && [ -z "$memory_mount" ] && memory_mount=$mount_point
        [[ ,$options, == *,pids,* ]] && [ -z "$pids_mount" ] && pids_mount=$mount_point
        [[ ,$options, == *,cpu,* ]] && [ -z "$cpu_mount" ] && cpu_mount=$mount_point ;;
    esac
  done < <(awk '{ for (i = 1; $i != "-"; i++) ; print $(i + 1), $5, $(i + 3) }' /proc/self/mountinfo)
  return 0
}

# False when the operator turned per-job cgroups off (SANDBOX_CGROUPS=false, 0, no or off,
# in any case: the spellings the worker's configuration reads as false).
cgroups_wanted() {
  local value=${SANDBOX_CGROUPS:-true}
  case "${value,,}" in false|0|no|off) return 1 ;; esac
}

# On cgroup v2, the worker must start inside the delegated subtree (v2 lets a process move
# others only below a cgroup it may write): prints the cgroup.procs file of that leaf.
# Prints nothing on v1, where the worker may run anywhere.
worker_cgroup_procs() {
  detect_cgroups
  [ -n "$v2_mount" ] && echo "$v2_mount/$WIC_CGROUP_SUBTREE/service/cgroup.procs"
  return 0
}

# Makes the run directory root's, with the service user's group and the sticky bit:
# the services create their sockets and their own directories in it, but cannot
# rename or remove what root put there. pids/, logs/ and nginx/ (configuration)
# are root's, so nothing root writes there can be a link the service user planted.
# One that is not root's (a run directory of an earlier version, or something the
# service user made) is removed, never written through; rm does not follow links.
# The run directory itself must not be a link, and no directory above it may let the
# service user swap it: none is the service user's, and none is writable by it
# unless sticky (then it can rename only its own entries).
prepare_run_dir() {
  local dir=$1 parent sub ancestor
  parent=$(dirname -- "$dir")
  mkdir -p -- "$parent"
  ancestor=$parent
  while :; do
    if [ -L "$ancestor" ] || [ "$(stat -c %U -- "$ancestor")" = "$WIC_USER" ] ||
       { as_service_user test -w "$ancestor" && [ ! -k "$ancestor" ]; }; then
      die "$ancestor is $WIC_USER's, writable by it or a link: that user could swap a directory above the run directory $dir and have root write elsewhere; choose a run directory none of whose parents it controls"
    fi
    [ "$ancestor" = / ] && break
    ancestor=$(dirname -- "$ancestor")
  done
  [ -e "$dir" ] || [ -L "$dir" ] || mkdir -- "$dir" || die "cannot create $dir"
  [ ! -L "$dir" ] && [ -d "$dir" ] || die "$dir is not a directory (a symbolic link?): give the run directory's real path"
  chown -h "root:$WIC_USER" -- "$dir"
  # Root's now, it can no longer be renamed by anyone else: check it is still the directory.
  root_directory "$dir" || die "$dir was replaced while being prepared"
  chmod 1770 -- "$dir"
  for sub in pids logs nginx; do
    if [ -L "$dir/$sub" ] || { [ -e "$dir/$sub" ] && ! root_directory "$dir/$sub"; }; then
      log "$dir/$sub is not a directory of root's own: replacing it"
      rm -rf -- "${dir:?}/$sub"
    fi
    [ -e "$dir/$sub" ] || [ -L "$dir/$sub" ] || mkdir -m 755 -- "$dir/$sub" || die "cannot create $dir/$sub"
    # Whatever appeared since is refused, not used.
    root_directory "$dir/$sub" || die "$dir/$sub was replaced while being created: it must be a directory of root's own"
    chmod 755 -- "$dir/$sub"
  done
}

# True for a real directory (not a link) that root owns.
root_directory() { [ -d "$1" ] && [ ! -L "$1" ] && [ "$(stat -c %u -- "$1")" = 0 ]; }

# The start time of process $1 (clock ticks after boot, field 22 of /proc/PID/stat):
# with the pid, it names one process even after the pid is reused.
process_start_time() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }   # the fields after the command name, which may hold spaces
  set -- $stat
  echo "${20}"
}

# Writes "PID START" of a service just started to FILE (in root's pids/), once the
# service runs as the service user (setpriv has switched), so that scripts/stop's
# check holds from the start.
record_pid() {
  local pid=$1 file=$2 waited=0
  until is_service_process "$pid" || ! alive "$pid"; do
    waited=$((waited + 1)); [ $waited -le 100 ] || break
    sleep 0.05
  done
  echo "$pid $(process_start_time "$pid")" > "$file"
}

# True when process $1 runs as the service user (every uid) and, if $2 is given,
# started at that time: the service scripts/run started, not some other process
# that was given, or later got, the same pid.
is_service_process() {
  local pid=$1 start=${2:-} uid
  [[ "$pid" =~ ^[0-9]+$ ]] && alive "$pid" || return 1
  uid=$(id -u "$WIC_USER") || return 1
  [ "$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status" 2>/dev/null)" = "$uid $uid $uid $uid" ] || return 1
  [ -z "$start" ] || [ "$(process_start_time "$pid")" = "$start" ]
}

# The Go program cache (SANDBOX_PROGRAM_CACHE_DIR's default, beside the worker socket) on a
# tmpfs of its own, SANDBOX_PROGRAM_CACHE_MB large: a compile that binds its entry then
# sees only "/<entry>" as that mount's root in /proc/self/mountinfo, never a host path,
# and the kernel holds the whole cache to its size while compiles write to it. The mount
# point is root's, in the root-owned sticky run directory, so the service user can neither
# replace it nor plant a link there that would make root mount or unmount elsewhere. Where
# mounting is not allowed (a container without CAP_SYS_ADMIN) it stays a plain directory,
# and the worker bounds it after each compile. Call it after prepare_run_dir.
mount_program_cache() {
  local cache="$1/program-cache" megabytes=${SANDBOX_PROGRAM_CACHE_MB:-1024}
  # Another directory is the operator's to provide; a malformed size the worker refuses, naming it.
  [ -z "${SANDBOX_PROGRAM_CACHE_DIR:-}" ] && [[ "$megabytes" =~ ^[0-9]+$ ]] && [ "$megabytes" -gt 0 ] || return 0
  unmount_program_cache "$1"
  if [ -L "$cache" ] || { [ -e "$cache" ] && ! root_directory "$cache"; }; then rm -rf -- "$cache"; fi
  [ -e "$cache" ] || mkdir -m 700 -- "$cache" || die "cannot create $cache"
  root_directory "$cache" || die "$cache was replaced while being created: it must be a directory of root's own"
  mount -t tmpfs -o "size=${megabytes}m,mode=0700,uid=$(id -u "$WIC_USER"),gid=$(id -g "$WIC_USER"),nosuid,nodev" \
    wic-program-cache "$cache" 2>/dev/null && return 0
  log "cannot mount a tmpfs on $cache: the Go program cache is a plain directory there (a Go compile sees its entry's host path)"
  chown "$WIC_USER:" -- "$cache"
}

# Unmounts only the cache's own tmpfs, at exactly that path, in a run directory of root's:
# never through a link (mountinfo names real paths only, and a link is removed, not followed).
unmount_program_cache() {
  local dir=$1 cache="$1/program-cache"
  root_directory "$dir" && [ ! -L "$cache" ] || return 0
  awk -v path="$cache" '$5 == path { for (i = 7; $i != "-"; i++) ; if ($(i + 1) == "tmpfs" && $(i + 2) == "wic-program-cache") found = 1 } END { exit !found }' \
    /proc/self/mountinfo || return 0
  umount -- "$cache" 2>/dev/null || umount -l -- "$cache"
}

# The front end's settings (nginx, the responder pool), each from its variable or its default,
# checked: a malformed value stops the caller naming the variable. Sets set_real_ip_from:
# nginx's `set_real_ip_from` for each trusted load balancer (TRUSTED_PROXIES).
front_end_settings() {
  local variable
  PORT=${PORT:-8080}
  LISTEN_ADDR=${LISTEN_ADDR:-127.0.0.1}
  FCGI_CHILDREN=${FCGI_CHILDREN:-2}
  FCGI_THREADS=${FCGI_THREADS:-8}
  MAX_SOURCE_SIZE=${MAX_SOURCE_SIZE:-1048576}
  RATE_LIMIT_PER_SECOND=${RATE_LIMIT_PER_SECOND:-20}
  RATE_LIMIT_BURST=${RATE_LIMIT_BURST:-40}
  READ_RATE_LIMIT_PER_SECOND=${READ_RATE_LIMIT_PER_SECOND:-100}
  READ_RATE_LIMIT_BURST=${READ_RATE_LIMIT_BURST:-200}
  CONN_LIMIT_PER_CLIENT=${CONN_LIMIT_PER_CLIENT:-32}
  REDIS_MAXMEMORY_MB=${REDIS_MAXMEMORY_MB:-1024}
  for variable in PORT FCGI_CHILDREN FCGI_THREADS MAX_SOURCE_SIZE RATE_LIMIT_PER_SECOND RATE_LIMIT_BURST \
                  READ_RATE_LIMIT_PER_SECOND READ_RATE_LIMIT_BURST CONN_LIMIT_PER_CLIENT REDIS_MAXMEMORY_MB; do
    [[ "${!variable}" =~ ^[0-9]+$ ]] && [ "${!variable}" -gt 0 ] || die "$variable=\"${!variable}\" is invalid: expected a whole number above 0"
  done
  # nginx's own bound for limit_conn.
  [ "$CONN_LIMIT_PER_CLIENT" -lt 65536 ] || die "CONN_LIMIT_PER_CLIENT=\"$CONN_LIMIT_PER_CLIENT\" is invalid: expected a whole number from 1 to 65535"
  # nginx's set_real_ip_from for each trusted load balancer.
  set_real_ip_from=$(network_directives set_real_ip_from TRUSTED_PROXIES "empty trusts no balancer")
  # nginx's allow for each address or network that may read /metrics; the rest get a 404.
  METRICS_ALLOW=${METRICS_ALLOW-127.0.0.1 ::1}
  [ "$METRICS_ALLOW" = none ] && METRICS_ALLOW=
  metrics_allow=$(network_directives allow METRICS_ALLOW "none lets nobody read /metrics")
  # /metrics on a listener of its own (nginx/metrics.conf; the API's listener then serves it to
  # nobody), or on the API's.
  METRICS_LISTEN=${METRICS_LISTEN:-}
  api_metrics_allow=$metrics_allow
  if [ -n "$METRICS_LISTEN" ]; then
    local metrics_host=${METRICS_LISTEN%:*} metrics_port=${METRICS_LISTEN##*:}
    { [[ $metrics_port =~ ^[1-9][0-9]{0,4}$ ]] && [ "$metrics_port" -le 65535 ] && [ "$metrics_port" != "$PORT" ] &&
      { ipv4_address "$metrics_host" || { [[ $metrics_host =~ ^\[(.+)\]$ ]] && ipv6_address "${BASH_REMATCH[1]}"; }; }; } ||
      die "METRICS_LISTEN=\"$METRICS_LISTEN\" is invalid: expected ADDRESS:PORT, an IPv4 address or an IPv6 one in brackets and a port from 1 to 65535 other than PORT (e.g. 127.0.0.1:9464, [::1]:9464, 10.0.0.5:9464)"
    api_metrics_allow=
  fi
}

# One nginx `DIRECTIVE ADDRESS;` for each address or network the variable lists. Only
# addresses and networks are accepted (a host name would be resolved once, at start,
# behind the operator's back); anything else stops the script naming the entry.
network_directives() {  # directive, variable name, what an empty list means
  local directive=$1 variable=$2 empty=$3 entries entry directives=
  # All of it, every line (read stops at the NUL that never comes, hence `|| true`).
  IFS=$', \t\n' read -rd '' -a entries <<< "${!variable:-}" || true
  for entry in ${entries[@]+"${entries[@]}"}; do
    [ -n "$entry" ] || continue
    ip_network "$entry" ||
      die "$variable=\"${!variable}\" is invalid: \"$entry\" is not an IPv4 or IPv6 address or CIDR network (accepted e.g. 10.0.0.5, 10.0.0.0/24, fd00::5, fd00::/64; entries separated by commas or spaces; $empty)"
    directives+="$directive $entry; "
  done
  printf '%s' "$directives"
}

# Writes nginx/nginx.conf, will-it-compile.conf and fastcgi_params with their @…@ values into
# DIR: the responders' socket, nginx's working directory (pid, temporary files), its log
# directory and the contract it serves. Needs front_end_settings and body_limit (what
# `will-it-compile-responder --body-limit` prints); nginx gets as many descriptors as this
# shell's soft limit, half of them per worker (two per proxied request).
render_nginx_configuration() {
  local dir=$1 fcgi_socket=$2 work_dir=$3 log_dir=$4 openapi_file=$5 web_dir=$6 nofile worker_connections file
  nofile=$(ulimit -Sn)
  [ "$nofile" = unlimited ] && nofile=65536
  worker_connections=$(( (nofile - 64) / 2 ))
  for file in will-it-compile.conf will-it-compile-page-headers.conf nginx.conf fastcgi_params; do
    sed -e "s|@LISTEN@|$LISTEN_ADDR:$PORT|g" -e "s|@FCGI_SOCKET@|$fcgi_socket|g" \
        -e "s|@BODY_LIMIT@|$body_limit|g" -e "s|@RATE@|$RATE_LIMIT_PER_SECOND|g" \
        -e "s|@BURST@|$RATE_LIMIT_BURST|g" -e "s|@READ_RATE@|$READ_RATE_LIMIT_PER_SECOND|g" \
        -e "s|@READ_BURST@|$READ_RATE_LIMIT_BURST|g" -e "s|@CONN_LIMIT@|$CONN_LIMIT_PER_CLIENT|g" \
        -e "s|@NOFILE@|$nofile|g" -e "s|@WORKER_CONNECTIONS@|$worker_connections|g" \
        -e "s|@WORK_DIR@|$work_dir|g" -e "s|@LOG_DIR@|$log_dir|g" -e "s|@CONF_DIR@|$dir|g" \
        -e "s|@SET_REAL_IP_FROM@|$set_real_ip_from|g" -e "s|@OPENAPI_FILE@|$openapi_file|g" \
        -e "s|@WEB_DIR@|$web_dir|g" -e "s|@METRICS_ALLOW@|$api_metrics_allow|g" "nginx/$file" > "$dir/$file"
  done
  if [ -n "$METRICS_LISTEN" ]; then
    sed -e "s|@METRICS_LISTEN@|$METRICS_LISTEN|g" -e "s|@METRICS_ALLOW@|$metrics_allow|g" \
      nginx/metrics.conf > "$dir/metrics.conf"
  else
    : > "$dir/metrics.conf"
  fi
}
