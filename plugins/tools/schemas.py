"""Payloads of the Tools plugin's Socket.IO events."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class PingSchema(Schema):
    sent_at = fields.Float(required=True)


class SpeedTestResultSchema(Schema):
    latency_ms = fields.Float(required=True, validate=validate.Range(min=0, max=60_000))
    download_mbps = fields.Float(required=True, validate=validate.Range(min=0, max=100_000))
    upload_mbps = fields.Float(required=True, validate=validate.Range(min=0, max=100_000))


# --- the Speed Test's HTTP routes ------------------------------------------------------------


class DownloadQuerySchema(Schema):
    bytes = fields.Integer(
        validate=validate.Range(min=1),
        metadata={"description": "how many bytes to send; at most TOOLS_DOWNLOAD_BYTES"},
    )


class UploadedSchema(Schema):
    received = fields.Integer(required=True, metadata={"description": "bytes counted"})
