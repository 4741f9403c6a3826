"""The OpenAPI document says what the API really answers: RFC 7807 problems, and every error status it can give.

flask-smorest documents its own error shape (`Error`, `application/json`) and only the 422 of a validated
input; our handlers (api/errors.py) answer `application/problem+json` for every error, and any route can
refuse a missing key (401), a key without the role (403), an object of another centre (404, as if it did not
exist) or a replayed Idempotency-Key with another body (409). The document is finished here, once, when it is
served, so every route (present and future) is described the same way.
"""

from __future__ import annotations

from flask_smorest import Api

PROBLEM_JSON = "application/problem+json"
PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 7807 problem details",
    "properties": {
        "type": {"type": "string", "description": "stable URN naming the problem, e.g. urn:hcc:problem:not-found"},
        "title": {"type": "string", "description": "short summary, Vietnamese or English"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string", "description": "the request path"},
        "errors": {"type": "object",
                   "description": "field name: list of messages; a nested or list field has an object of its "
                                  "own fields or item indexes, e.g. {\"items\": {\"0\": {\"fee_code\": [...]}}}",
                   "additionalProperties": {"anyOf": [{"type": "array", "items": {"type": "string"}},
                                                      {"type": "object"}]}},
    },
    "required": ["type", "title", "status"],
}
_PROBLEM_CONTENT = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}

# (status, response component, description): the errors every authenticated operation can answer.
COMMON_ERRORS = (
    ("401", "UNAUTHORIZED", "No API key (or staff session), or the key is not valid."),
    ("403", "FORBIDDEN", "The key does not hold a role this operation needs."),
    ("429", "TOO_MANY_REQUESTS", "Too many requests; `Retry-After` says when to come back."),
)
OBJECT_ERROR = ("404", "NOT_FOUND", "No such object in the caller's centre (another centre's object answers 404 "
                                    "too, for every role including admin).")
CONFLICT_ERROR = ("409", "CONFLICT", "The object's state does not allow it, or the Idempotency-Key was used "
                                    "with another body or is still being answered.")
INPUT_ERROR = ("422", "UNPROCESSABLE_ENTITY", "Invalid input; `errors` names every bad field.")
IDEMPOTENCY_HEADER = {
    "in": "header", "name": "Idempotency-Key", "required": False,
    "description": "Any 1 to 255 characters; the same key with the same request replays the first answer "
                   "(`Idempotent-Replayed: true`), with another request answers 409.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}
MUTATING = ("post", "put", "patch", "delete")


def finish(doc: dict) -> dict:
    """Rewrite the generated document in place: problem+json errors, documented error statuses."""
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("Error", None)
    schemas["Problem"] = PROBLEM_SCHEMA
    responses = components.setdefault("responses", {})
    for response in responses.values():
        if "content" in response:
            response["content"] = _PROBLEM_CONTENT
    for _status, name, description in (*COMMON_ERRORS, OBJECT_ERROR, CONFLICT_ERROR, INPUT_ERROR):
        responses.setdefault(name, {"description": description, "content": _PROBLEM_CONTENT})
        responses[name]["description"] = description
    responses.setdefault("DEFAULT_ERROR", {"description": "Any other error", "content": _PROBLEM_CONTENT})
    for item in doc.get("paths", {}).values():
        path_params = item.get("parameters", [])
        for method, operation in item.items():
            if method not in ("get", *MUTATING):
                continue
            documented = operation.setdefault("responses", {})
            # A public operation (`security: []`) has no caller to refuse, nor to scope an Idempotency-Key to.
            public = operation.get("security") == []
            needed = [] if public else list(COMMON_ERRORS)
            # An integer path parameter is an object's id; a day (`/days/{day}/close`) is not an object.
            if any(p.get("in") == "path" and p.get("schema", {}).get("type") == "integer"
                   for p in (*path_params, *operation.get("parameters", []))):
                needed.append(OBJECT_ERROR)
            if method in MUTATING and public:
                needed.append(INPUT_ERROR)
            elif method in MUTATING:
                needed.extend((CONFLICT_ERROR, INPUT_ERROR))
                params = operation.setdefault("parameters", [])
                if not any(p.get("name") == "Idempotency-Key" for p in params):
                    params.append(IDEMPOTENCY_HEADER)
            for status, name, _description in needed:
                documented.setdefault(status, {"$ref": f"#/components/responses/{name}"})
    return doc


def init_app(api: Api) -> None:
    """Serve the finished document wherever flask-smorest serves (or prints) the generated one."""
    spec = api.spec
    generate = spec.to_dict
    spec.to_dict = lambda: finish(generate())
