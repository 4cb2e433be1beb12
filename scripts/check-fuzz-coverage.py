#!/usr/bin/env python3
"""Checks that a schemathesis run (its HAR report) exercised what scripts/api-fuzz promises.

    check-fuzz-coverage.py REPORT.har [REPORT.har ...]

A run whose every submission was refused would conform to the document and prove little, so
this fails unless POST /api/v1/compile was accepted (200 or 202) with a JSON body and with a
raw body (text/plain or application/octet-stream), and GET /api/v1/compile/{job_id} answered
200 (a job exists only once a submission made it: the submit → read link). It prints what each got.
"""

import collections
import json
import os
import re
import sys

JOB_PATH = re.compile(r"^/api/v1/compile/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def main(arguments):
    reports = [path for path in arguments if os.path.isfile(path)]
    if not reports or len(reports) != len(arguments):
        print(f"check-fuzz-coverage: expected the HAR report(s) of schemathesis --report har, got {arguments or 'none'}",
              file=sys.stderr)
        return 2
    entries = []
    for path in reports:
        with open(path, encoding="utf-8") as file:
            entries += json.load(file)["log"]["entries"]
    seen = collections.Counter()
    for entry in entries:
        request, status = entry["request"], entry["response"]["status"]
        path = re.sub(r"^[a-z]+://[^/]+", "", request["url"]).split("?", 1)[0]
        headers = {header["name"].lower(): header["value"] for header in request["headers"]}
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        if request["method"] == "POST" and path == "/api/v1/compile" and status in (200, 202):
            seen["JSON submission accepted" if media in ("", "application/json") else
                 "raw submission accepted" if media in ("text/plain", "application/octet-stream") else
                 "other submission accepted"] += 1
        elif request["method"] == "GET" and JOB_PATH.match(path) and status == 200:
            seen["submitted job read"] += 1
    print("check-fuzz-coverage: " + ", ".join(f"{what}: {count}" for what, count in sorted(seen.items())), file=sys.stderr)
    missing = [what for what in ("JSON submission accepted", "raw submission accepted", "submitted job read") if not seen[what]]
    if missing:
        print(f"check-fuzz-coverage: the run never had: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
