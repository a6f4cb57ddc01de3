"""Pages of the Tools plugin."""

from __future__ import annotations

import os
from typing import Any

from flask import Response, current_app, jsonify, request
from flask_appbuilder import BaseView, ModelView, expose, has_access
from flask_appbuilder.models.sqla.filters import FilterEqualFunction
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_login import current_user

from core.api import ApiResponse, ErrorSchema, json_route
from plugins.tools.models import SpeedTestResult
from plugins.tools.schemas import DownloadQuerySchema, UploadedSchema

_CHUNK = os.urandom(64 * 1024)  # incompressible, so proxies cannot shrink the test


class SpeedTestView(BaseView):
    route_base = "/tools/speedtest"
    default_view = "show"
    class_permission_name = "SpeedTest"
    method_permission_name = {"show": "show", "download": "measure", "upload": "measure"}
    base_permissions = ["can_show", "can_measure"]

    @expose("/")
    @has_access
    def show(self) -> Any:
        return self.render_template("tools/speedtest.html")

    @expose("/download")
    @json_route(
        "Incompressible bytes to time the download",
        query=DownloadQuerySchema,
        responses={
            200: ApiResponse("The bytes", content_type="application/octet-stream"),
            400: ErrorSchema,
        },
    )
    @has_access
    def download(self) -> Any:
        limit = int(current_app.config["TOOLS_DOWNLOAD_BYTES"])
        try:
            size = int(request.args.get("bytes", limit))
        except ValueError:
            return jsonify(error="bytes must be a whole number"), 400
        if not 1 <= size <= limit:
            return jsonify(error=f"bytes must be between 1 and {limit}"), 400
        chunks, rest = divmod(size, len(_CHUNK))

        def generate() -> Any:
            for _ in range(chunks):
                yield _CHUNK
            yield _CHUNK[:rest]

        headers = {"Cache-Control": "no-store", "Content-Length": str(size)}
        return Response(generate(), mimetype="application/octet-stream", headers=headers)

    @expose("/upload", methods=["POST"])
    @json_route(
        "Count the bytes of an upload, to time it",
        raw_body="application/octet-stream",
        responses={200: UploadedSchema, 413: ErrorSchema},
    )
    @has_access
    def upload(self) -> Any:
        limit = int(current_app.config["TOOLS_UPLOAD_MAX_BYTES"])
        if request.content_length is None or request.content_length > limit:
            return jsonify(error=f"send a body of at most {limit} bytes with Content-Length"), 413
        received = len(request.get_data(cache=False))
        return jsonify(received=received)


class WebcamCheckView(BaseView):
    route_base = "/tools/webcam"
    default_view = "show"
    class_permission_name = "WebcamCheck"
    method_permission_name = {"show": "show"}
    base_permissions = ["can_show"]

    @expose("/")
    @has_access
    def show(self) -> Any:
        return self.render_template("tools/webcam.html")


def _current_user_id() -> int:
    return int(current_user.id)


class SpeedTestResultView(ModelView):
    route_base = "/tools/results"
    datamodel = SQLAInterface(SpeedTestResult)
    class_permission_name = "SpeedTestResult"
    base_permissions = ["can_list"]
    base_filters = [["user_id", FilterEqualFunction, _current_user_id]]
    base_order = ("measured_at", "desc")
    list_columns = ["measured_at", "latency_ms", "download_mbps", "upload_mbps", "verdict"]
    label_columns = {
        "measured_at": "When",
        "latency_ms": "Latency (ms)",
        "download_mbps": "Download (Mbps)",
        "upload_mbps": "Upload (Mbps)",
        "verdict": "Verdict",
    }
