#!/usr/bin/python3
"""Checks that the project's documents point only inside the repository.

    check-doc-links.py FILE.md...

Every Markdown link of each file must be an anchor, or a relative path to a file or directory
of the repository (the anchor after `#` aside); a link with a scheme (`https:`, `mailto:`), an
absolute path, or a path that leaves the repository or names nothing there is reported, with
its file and line. Exits 1 when there is any.
"""

import os
import re
import sys

LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def problems(path, root):
    found = []
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            for target in LINK.findall(line):
                where = target.split("#", 1)[0]
                if not where:
                    continue
                if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", where) or where.startswith("/"):
                    found.append(f"{path}:{number}: {target} points outside the repository")
                    continue
                resolved = os.path.realpath(os.path.join(os.path.dirname(path), where))
                if os.path.commonpath([resolved, root]) != root:
                    found.append(f"{path}:{number}: {target} leaves the repository")
                elif not os.path.exists(resolved):
                    found.append(f"{path}:{number}: {target} names nothing in the repository")
    return found


def main(paths):
    root = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    found = [problem for path in paths for problem in problems(path, root)]
    for problem in found:
        print(f"check-doc-links: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
