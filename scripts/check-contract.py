#!/usr/bin/env python3
"""Checks recorded HTTP exchanges against openapi.yaml.

    check-contract.py OPENAPI_YAML RECORDS_JSONL [--every-operation]

Each line of RECORDS_JSONL is one exchange of the end-to-end tests (written by
Tests/EndToEndTests/ContractRecords.swift): method, target (path and query), the request's
headers, and the response's status, headers and body (Base64). Each response must be one the
document declares for that request: its status among the operation's responses, every
required header present and each documented header of the schema the document gives, the
Content-Type one of the response's media types and the body valid against its schema (JSON
Schema 2020-12, formats checked), no body for HEAD or a response without content. A request no
operation matches is held to the document's `x-unmatched-requests` (404 for an unknown path,
405 with the exact `Allow` for a method the path has no operation for, TRACE everywhere).

Fails, printing each failing request and response, when any exchange does not conform, when the
file holds no exchange, and with --every-operation when an operation of the document never
appears in it.

Run it with the virtualenv of scripts/lib.sh's python_tools (PyYAML, jsonschema, referencing).
"""

import base64
import json
import re
import sys

import jsonschema
import referencing
import referencing.jsonschema
import yaml

DOCUMENT_URI = "urn:will-it-compile:openapi"
METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]


def pointer_escape(token):
    return str(token).replace("~", "~0").replace("/", "~1")


class Contract:
    def __init__(self, document):
        self.document = document
        resource = referencing.jsonschema.DRAFT202012.create_resource(document)
        self.registry = referencing.Registry().with_resource(DOCUMENT_URI, resource)
        self.validators = {}
        self.operations = []  # (METHOD, template, regex, path item pointer)
        templates = sorted(document["paths"], key=lambda t: ("{" in t, t))
        for template in templates:
            pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
            self.operations.append((template, re.compile(pattern)))

    def resolve(self, node, pointer):
        """Follows local $refs: the node and its JSON pointer in the document."""
        while isinstance(node, dict) and "$ref" in node and len(node) == 1:
            reference = node["$ref"]
            if not reference.startswith("#/"):
                raise ValueError(f"only local references are supported: {reference}")
            pointer = reference[1:]
            node = self.document
            for token in pointer.split("/")[1:]:
                node = node[token.replace("~1", "/").replace("~0", "~")]
        return node, pointer

    def validator(self, pointer):
        """A validator for the schema at `pointer`, whose own $refs resolve within the document."""
        if pointer not in self.validators:
            schema = {"$ref": DOCUMENT_URI + "#" + pointer}
            self.validators[pointer] = jsonschema.Draft202012Validator(
                schema, registry=self.registry, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
        return self.validators[pointer]

    def path_item(self, path):
        for template, regex in self.operations:
            if regex.match(path):
                return template
        return None

    def every_operation(self):
        return {(method.upper(), template)
                for template, item in self.document["paths"].items()
                for method in METHODS if method in item}


def normalized(path):
    """A path under /api/v1/ may end in one `/` (the responders strip it); nginx matches
    /health and /api/v1/openapi.yaml exactly."""
    if path.startswith("/api/v1/") and path.endswith("/") and path != "/api/v1/openapi.yaml/":
        return path[:-1]
    return path


def media_type(value):
    return value.split(";")[0].strip().lower() if value else None


def matching_media(content, actual):
    if actual in content:
        return actual
    for declared in content:
        major, _, minor = declared.partition("/")
        if minor == "*" and actual.split("/")[0] == major or declared == "*/*":
            return declared
    return None


def expected_responses(contract, method, path):
    """The responses the document allows for this request, their pointers, the `Allow` a
    405 must carry (or None), and the operation matched (or None)."""
    unmatched = contract.document["x-unmatched-requests"]
    front_door = {status: ("/x-unmatched-requests/front-door/" + status, response)
                  for status, response in unmatched["front-door"].items()}
    template = contract.path_item(path)
    if method == "TRACE":
        # nginx names the methods of the path's operations, and GET, HEAD on a path of none.
        item = contract.document["paths"][template] if template else None
        allow = ", ".join(m.upper() for m in ["get", "head", "post"] if m in item) if item else "GET, HEAD"
        responses = dict(front_door)
        responses["405"] = ("/x-unmatched-requests/undeclared-method/405", unmatched["undeclared-method"]["405"])
        return responses, allow, None
    if template is None:
        responses = dict(front_door)
        responses["404"] = ("/x-unmatched-requests/unknown-path/404", unmatched["unknown-path"]["404"])
        return responses, None, None
    item = contract.document["paths"][template]
    base = "/paths/" + pointer_escape(template)
    if method.lower() not in item:
        allow = ", ".join(m.upper() for m in ["get", "head", "post"] if m in item)
        responses = dict(front_door)
        responses["405"] = ("/x-unmatched-requests/undeclared-method/405", unmatched["undeclared-method"]["405"])
        return responses, allow, None
    operation = item[method.lower()]
    responses = {status: (f"{base}/{method.lower()}/responses/{status}", response)
                 for status, response in operation["responses"].items()}
    return responses, None, (method, template)


def check(contract, record):
    """The problems of one exchange (empty when it conforms), and the operation it used."""
    problems = []
    method = record["method"].upper()
    path = normalized(record["target"].split("?", 1)[0])
    status = str(record["status"])
    headers = {name.lower(): value for name, value in record["headers"].items()}
    body = base64.b64decode(record["body_base64"])
    responses, allow, operation = expected_responses(contract, method, path)
    if status not in responses:
        declared = "default" if "default" in responses else None
        if declared is None:
            return [f"status {status} is not declared for {method} {path} (declared: {', '.join(sorted(responses))})"], operation
        status = declared
    pointer, response = responses[status]
    response, pointer = contract.resolve(response, pointer)
    if status == "405" and headers.get("allow") != allow:
        problems.append(f"Allow is {headers.get('allow')!r}, the document's methods for this path are {allow!r}")
    for name, header in (response.get("headers") or {}).items():
        header, header_pointer = contract.resolve(header, f"{pointer}/headers/{pointer_escape(name)}")
        value = headers.get(name.lower())
        if value is None:
            if header.get("required"):
                problems.append(f"required header {name} is missing")
            continue
        for error in contract.validator(header_pointer + "/schema").iter_errors(value):
            problems.append(f"header {name}: {error.message}")
    content = response.get("content")
    if method == "HEAD" or not content:
        if body:
            problems.append(f"a body of {len(body)} bytes where the document declares none")
        return problems, operation
    actual = media_type(headers.get("content-type"))
    if actual is None:
        return problems + ["no Content-Type"], operation
    declared = matching_media(content, actual)
    if declared is None:
        return problems + [f"Content-Type {actual} is not declared (declared: {', '.join(content)})"], operation
    schema = content[declared].get("schema")
    if schema is None:
        return problems, operation
    schema_pointer = f"{pointer}/content/{pointer_escape(declared)}/schema"
    if declared == "application/json" or declared.endswith("+json"):
        try:
            instance = json.loads(body)
        except ValueError as error:
            return problems + [f"the body is not JSON: {error}"], operation
    else:
        try:
            instance = body.decode("utf-8")
        except UnicodeDecodeError as error:
            return problems + [f"the {declared} body is not UTF-8: {error}"], operation
        if declared == "application/yaml":
            try:
                instance = yaml.safe_load(instance)
            except yaml.YAMLError as error:
                return problems + [f"the body is not YAML: {error}"], operation
    for error in sorted(contract.validator(schema_pointer).iter_errors(instance), key=lambda e: list(e.path)):
        location = "/".join(str(part) for part in error.absolute_path) or "(the body)"
        problems.append(f"body at {location}: {error.message[:300]}")
    return problems, operation


def shown(record):
    body = base64.b64decode(record["body_base64"])
    text = body.decode("utf-8", errors="replace")
    if len(text) > 1500:
        text = text[:1500] + f"… ({len(body)} bytes)"
    request_headers = "".join(f"\n    {name}: {value}" for name, value in sorted(record.get("request_headers", {}).items()))
    response_headers = "".join(f"\n    {name}: {value}" for name, value in sorted(record["headers"].items()))
    return (f"  request: {record['method']} {record['target'][:300]}{request_headers}\n"
            f"  response: {record['status']}{response_headers}\n    {text}")


def exchange(method, target, status, headers, body):
    return {"method": method, "target": target, "status": status, "headers": headers,
            "body_base64": base64.b64encode(body.encode()).decode()}


JSON = {"content-type": "application/json; charset=utf-8"}
JOB = "0f0e0d0c-0b0a-4908-8706-050403020100"
# Exchanges this checker must pass, and ones it must fail: it is itself checked before it
# checks anything, so a checker gone blind cannot pass every answer.
CONFORMING = [
    exchange("GET", "/health", 200, JSON, '{"redis":"ok","status":"healthy","time":"2026-11-27T20:00:00.5Z","worker":"ok"}'),
    exchange("POST", "/api/v1/compile", 202, {**JSON, "location": f"/api/v1/compile/{JOB}"}, f'{{"job_id":"{JOB}","status":"queued"}}'),
    exchange("PUT", "/api/v1/environments", 405, {"content-type": "application/json", "allow": "GET, HEAD"},
             '{"error":"method_not_allowed","message":"This endpoint accepts GET, HEAD only."}'),
]
NOT_CONFORMING = [
    exchange("POST", "/api/v1/compile", 202, JSON, f'{{"job_id":"{JOB}","status":"queued"}}'),
    exchange("GET", "/index.html", 404, {"content-type": "text/html"}, '{"error":"not_found","message":"No endpoint here."}'),
    exchange("PUT", "/api/v1/environments", 405, {"content-type": "application/json", "allow": "POST"},
             '{"error":"method_not_allowed","message":"This endpoint accepts POST only."}'),
    exchange("GET", "/health", 200, JSON, '{"redis":"ok","status":"healthy","time":"2026-11-27T20:00:00.5Z","worker":"ok","extra":1}'),
    exchange("GET", "/health", 418, JSON, '{"error":"teapot","message":"No."}'),
    exchange("HEAD", "/health", 200, JSON, '{"status":"healthy"}'),
    exchange("GET", f"/api/v1/compile/{JOB}", 200, JSON, f'{{"job_id":"{JOB}","status":"queued"}}'),
]


def checks_itself(contract):
    """True when the checker passes CONFORMING and fails each of NOT_CONFORMING."""
    wrong = [record for record in CONFORMING if check(contract, record)[0]]
    wrong += [record for record in NOT_CONFORMING if not check(contract, record)[0]]
    for record in wrong:
        print("check-contract: the checker itself judges this exchange wrongly:\n" + shown(record), file=sys.stderr)
    return not wrong


def main(arguments):
    options = [argument for argument in arguments if argument.startswith("--")]
    unknown = [option for option in options if option != "--every-operation"]
    if unknown:
        print(f"check-contract: unknown option {', '.join(unknown)} (accepted: --every-operation)", file=sys.stderr)
        return 2
    every_operation = "--every-operation" in options
    paths = [argument for argument in arguments if not argument.startswith("--")]
    if len(paths) != 2:
        print(f"check-contract: expected OPENAPI_YAML RECORDS_JSONL, got {len(paths)} path(s)\n" + __doc__, file=sys.stderr)
        return 2
    with open(paths[0], encoding="utf-8") as file:
        contract = Contract(yaml.safe_load(file))
    if not checks_itself(contract):
        return 1
    try:
        with open(paths[1], encoding="utf-8") as file:
            records = [json.loads(line) for line in file if line.strip()]
    except FileNotFoundError:
        records = []
    if not records:
        print(f"check-contract: no exchange recorded in {paths[1]}: nothing was checked", file=sys.stderr)
        return 1
    failures = 0
    seen = set()
    for record in records:
        problems, operation = check(contract, record)
        if operation:
            seen.add(operation)
        if problems:
            failures += 1
            print("check-contract: this answer does not conform to the document:\n" + shown(record)
                  + "".join(f"\n  - {problem}" for problem in problems), file=sys.stderr)
    missing = sorted(contract.every_operation() - seen, key=lambda op: (op[1], op[0]))
    print(f"check-contract: {len(records)} exchanges checked against {paths[0]}, {failures} do not conform; "
          f"{len(seen)} of {len(contract.every_operation())} operations exercised", file=sys.stderr)
    if missing:
        listed = ", ".join(f"{method} {template}" for method, template in missing)
        print(f"check-contract: operations never exercised: {listed}", file=sys.stderr)
        if every_operation:
            return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
