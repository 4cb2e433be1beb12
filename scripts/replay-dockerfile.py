#!/usr/bin/python3
"""Replays a Dockerfile's build stage on this machine, without a container engine.

    scripts/replay-dockerfile.py DOCKERFILE ARTIFACTS_DIR     (as root)

The build stage (the one named `build`) must start from a Swift image on Debian 12
(`swift:X.Y-bookworm`), which this machine stands in for: its Debian 12 and the Swift on PATH,
whose version must be the image's X.Y. The steps run in their order in a throw-away copy of
this machine's root file system (scripts/in-throwaway-root, an overlay in a mount namespace of
its own): a COPY
puts exactly the files it names (from the Dockerfile's directory, the build context, less what
.dockerignore excludes) at their paths, a RUN runs there (chroot), and nothing the steps write
or install (apt-get included) outlives the replay. A COPY that misses a file the build needs
makes a RUN fail, and so the replay. Then every file a later stage takes with
`COPY --from=build` is copied to ARTIFACTS_DIR (it must be there, or the replay fails).
"""
import fnmatch
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

STAGE = "build"


def fail(message):
    sys.exit(f"replay-dockerfile: {message}")


def instructions(path):
    """(keyword, arguments) per instruction: continuation lines joined, comments dropped."""
    result, pending = [], ""
    with open(path) as file:
        for line in file:
            stripped = line.strip()
            if not pending and (not stripped or stripped.startswith("#")):
                continue
            if pending and stripped.startswith("#"):
                continue  # a comment inside a continued instruction
            if line.rstrip("\n").endswith("\\"):
                pending += line.rstrip("\n")[:-1] + " "
                continue
            pending += line.rstrip("\n")
            keyword, _, arguments = pending.strip().partition(" ")
            result.append((keyword.upper(), arguments.strip()))
            pending = ""
    if pending:
        fail(f"{path} ends inside a continued instruction")
    return result


def stages(steps):
    """{name: (image, [steps])} in order; unnamed stages get their index as name."""
    result, current = {}, None
    for keyword, arguments in steps:
        if keyword == "FROM":
            words = arguments.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(result))
            current = result.setdefault(name, (words[0], []))[1]
        elif current is None:
            if keyword != "ARG":
                fail(f"{keyword} before the first FROM")
        else:
            current.append((keyword, arguments))
    return result


def copy_arguments(arguments):
    """(options, sources, destination) of a COPY, shell or JSON form."""
    words = json.loads(arguments) if arguments.startswith("[") else shlex.split(arguments)
    options = [word for word in words if word.startswith("--")]
    paths = [word for word in words if not word.startswith("--")]
    if len(paths) < 2:
        fail(f"COPY {arguments}: needs a source and a destination")
    return options, paths[:-1], paths[-1]


def ignore_patterns(context):
    path = os.path.join(context, ".dockerignore")
    if not os.path.exists(path):
        return []
    with open(path) as file:
        lines = [line.strip() for line in file]
    return [line for line in lines if line and not line.startswith("#")]


def ignored(relative, patterns):
    """Docker's rule: the last pattern that matches the path or a directory above it decides."""
    parts = relative.split("/")
    verdict = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        if any(fnmatch.fnmatchcase("/".join(parts[:depth]), pattern) for depth in range(1, len(parts) + 1)):
            verdict = not negate
    return verdict


def stage_copy(context, patterns, sources, destination, workdir, staged):
    """Puts the files a COPY names under `staged`, at the paths they get in the image."""
    target = destination if destination.startswith("/") else os.path.join(workdir, destination)
    into_directory = destination.endswith("/") or len(sources) > 1
    for source in sources:
        matches = sorted(glob.glob(os.path.join(context, source)))
        matches = [match for match in matches if not ignored(os.path.relpath(match, context), patterns)]
        if not matches:
            fail(f"COPY {source}: no such file in the build context {context} (or .dockerignore excludes it)")
        for match in matches:
            if os.path.isdir(match):
                # A directory's contents go to the destination, as Docker copies them.
                for root, directories, files in os.walk(match):
                    directories[:] = [d for d in directories
                                      if not ignored(os.path.relpath(os.path.join(root, d), context), patterns)]
                    for name in files:
                        path = os.path.join(root, name)
                        if ignored(os.path.relpath(path, context), patterns):
                            continue
                        place = os.path.join(staged + target, os.path.relpath(path, match))
                        os.makedirs(os.path.dirname(place), exist_ok=True)
                        shutil.copy2(path, place)
            else:
                place = staged + (os.path.join(target, os.path.basename(match)) if into_directory or len(matches) > 1 else target)
                os.makedirs(os.path.dirname(place), exist_ok=True)
                shutil.copy2(match, place)


def host_swift_version():
    output = subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout
    found = re.search(r"Swift version (\d+)\.(\d+)", output)
    if not found:
        fail("swift on PATH does not say its version (swift --version): the replay builds with it")
    return f"{found.group(1)}.{found.group(2)}"


def main():
    if len(sys.argv) != 3:
        fail("usage: replay-dockerfile.py DOCKERFILE ARTIFACTS_DIR")
    if os.geteuid() != 0:
        fail("run it as root: it mounts an overlay in a mount namespace of its own")
    dockerfile, artifacts = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    context = os.path.dirname(dockerfile)
    all_stages = stages(instructions(dockerfile))
    if STAGE not in all_stages:
        fail(f"{dockerfile} has no stage `{STAGE}` (FROM … AS {STAGE}) to replay")
    image, steps = all_stages[STAGE]

    # This machine stands in for the image: the same Debian release and Swift version.
    found = re.fullmatch(r"swift:(\d+\.\d+)-bookworm", image)
    if not found:
        fail(f"the build stage starts from {image}; the replay stands in only for swift:X.Y-bookworm (Debian 12)")
    with open("/etc/debian_version") as file:
        if not file.read().startswith("12"):
            fail("this machine is not Debian 12, which the image swift:…-bookworm is")
    if found.group(1) != host_swift_version():
        fail(f"the build stage uses {image}, but the swift on PATH is {host_swift_version()}: "
             "the replay would build with another Swift than the image")
    swift_bin = os.path.dirname(os.path.realpath(shutil.which("swift")))

    patterns = ignore_patterns(context)
    scratch = tempfile.mkdtemp(prefix="wic-dockerfile-replay.")
    # The steps in their order, as shell lines run in a throw-away copy of this machine's root
    # (scripts/in-throwaway-root): each COPY's files are staged now and copied into that root
    # at their place, so a RUN sees exactly the copies made before it.
    script = ["set -e", 'root=$WIC_THROWAWAY_ROOT']
    workdir, environment, copies, runs = "/", {}, 0, 0
    for keyword, arguments in steps:
        if keyword == "WORKDIR":
            workdir = os.path.join(workdir, arguments)
            if os.path.lexists(workdir) and workdir != "/":
                fail(f"WORKDIR {workdir} exists on this machine: the replay needs the path free, so that "
                     "the build sees only what COPY puts there")
            script.append(f'mkdir -p "$root"{shlex.quote(workdir)}')
        elif keyword == "COPY":
            options, sources, destination = copy_arguments(arguments)
            if any(option.startswith("--from") for option in options):
                fail(f"COPY {arguments}: the build stage takes files from another stage, which is not replayed")
            copies += 1
            staged = os.path.join(scratch, f"copy-{copies}")
            stage_copy(context, patterns, sources, destination, workdir, staged)
            script.append(f'cp -a {shlex.quote(staged)}/. "$root/"')
        elif keyword == "RUN":
            runs += 1
            command = arguments
            if command.startswith("["):
                command = " ".join(shlex.quote(word) for word in json.loads(command))
            # The image's toolchain is this machine's swift, wherever it is installed.
            variables = {"HOME": "/root", "PATH": f"{swift_bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                         "DEBIAN_FRONTEND": "noninteractive", **environment}
            assignments = " ".join(shlex.quote(f"{key}={value}") for key, value in variables.items())
            inner = f"cd {shlex.quote(workdir)} && exec /bin/sh -c {shlex.quote(command)}"
            script.append(f"echo {shlex.quote('replay-dockerfile: RUN ' + command[:200])} >&2")
            script.append(f'chroot "$root" /usr/bin/env -i {assignments} /bin/sh -c {shlex.quote(inner)}')
        elif keyword == "ENV":
            words = shlex.split(arguments)
            if words and "=" not in words[0]:
                environment[words[0]] = " ".join(words[1:])
            else:
                environment.update(word.split("=", 1) for word in words)
        else:
            fail(f"{keyword} in the build stage is not replayed: the replay knows WORKDIR, COPY, RUN and ENV")
    if not runs:
        fail("the build stage has no RUN step: nothing to build")

    # What the later stages take from this one must exist, and is kept.
    taken = [source for _, (_, later) in all_stages.items() for keyword, arguments in later
             if keyword == "COPY" and f"--from={STAGE}" in arguments.split()
             for source in copy_arguments(arguments)[1]]
    os.makedirs(artifacts, exist_ok=True)
    for source in taken:
        script.append(f'set -- "$root"{shlex.quote(source)}')
        script.append(f'[ -e "$1" ] || {{ echo "replay-dockerfile: COPY --from={STAGE} {source}: the build stage made no such file" >&2; exit 1; }}')
        script.append(f'cp -a "$@" {shlex.quote(artifacts)}/')
    try:
        status = subprocess.run([os.path.join(os.path.dirname(os.path.abspath(__file__)), "in-throwaway-root"),
                                 "/bin/bash", "-c", "\n".join(script)]).returncode
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if status != 0:
        fail(f"the build stage of {dockerfile} failed (exit status {status}, above)")
    print(f"replay-dockerfile: the build stage of {dockerfile} built; {', '.join(taken)} copied to {artifacts}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
