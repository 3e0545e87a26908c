"""The service's API docs without a network: Swagger UI from the package, and an OpenAPI
schema that describes the real request bodies, so "Try it out" can upload a photo.

    >>> add_docs(app)                                      # doctest: +SKIP
    >>> body = predict_openapi(limits)                     # doctest: +SKIP
    >>> app.post("/v1/predict", openapi_extra=body, responses=ERRORS)  # doctest: +SKIP

FastAPI's own /docs page loads Swagger UI from a CDN: blank without internet. Here the
page loads the copy that the `fastapi-swagger` package ships (FastAPI's self-hosted docs
recipe).
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import Response

from fmnist.predict.schema import ErrorResponse

ASSETS = {  # URL -> (file in fastapi_swagger/resources, media type)
    "/docs/swagger-ui-bundle.js": ("swagger-ui-bundle.js", "application/javascript"),
    "/docs/swagger-ui.css": ("swagger-ui.css", "text/css"),
    "/docs/favicon.png": ("favicon-32x32.png", "image/png"),
}


def asset(name: str) -> bytes:
    return resources.files("fastapi_swagger.resources").joinpath(name).read_bytes()


def add_docs(app: FastAPI) -> None:
    real_error_schemas(app)

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title}: API",
            swagger_js_url="/docs/swagger-ui-bundle.js",
            swagger_css_url="/docs/swagger-ui.css",
            swagger_favicon_url="/docs/favicon.png",
        )

    for url, (name, media_type) in ASSETS.items():

        async def serve_asset(name=name, media_type=media_type):
            return Response(asset(name), media_type=media_type, headers=CACHE)

        app.add_api_route(url, serve_asset, methods=["GET"], include_in_schema=False)


CACHE = {"cache-control": "public, max-age=86400"}


def predict_openapi(limits) -> dict:
    """/v1/predict's request bodies, for the schema (the endpoint reads the request itself,
    so FastAPI cannot infer them); its answers come from `fmnist.predict.schema`."""
    pixels = "28x28 or Nx28x28 numbers 0-255, article light on dark"
    files = {"type": "array", "items": {"type": "string", "format": "binary"}}
    return {
        "requestBody": {
            "required": True,
            "description": f"Image files (PNG, JPEG, WebP; at most {limits.max_images} a "
            f"request, {limits.max_upload_bytes:,} bytes in all) or JSON pixels.",
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"files": files},
                        "required": ["files"],
                    }
                },
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {"pixels": {"type": "array", "description": pixels}},
                        "required": ["pixels"],
                    }
                },
            },
        },
    }


ERRORS = {  # every 4xx body (fmnist.serving.requests.error_body)
    "4XX": {
        "model": ErrorResponse,
        "description": "A request to fix (413: too large, 415: not an image, 422: a value out "
        "of range), said in one line",
    }
}


def real_error_schemas(app: FastAPI) -> None:
    """The schema says what the service answers: FastAPI's default 422 body
    (HTTPValidationError) is never sent, its own `{"error": ...}` body is (under 4XX)."""
    make = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = make()
            for operations in schema["paths"].values():
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
            if not schema.get("components", {}).get("schemas", True):
                schema["components"].pop("schemas")
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
