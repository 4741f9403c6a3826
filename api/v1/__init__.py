"""REST API under /api/v1: marshmallow schemas in, marshmallow schemas out, OpenAPI generated."""
