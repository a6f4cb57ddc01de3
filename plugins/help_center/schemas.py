"""Payloads of the Help Center's JSON routes (marshmallow)."""

from __future__ import annotations

from marshmallow import Schema, fields


class SearchQuerySchema(Schema):
    q = fields.String(metadata={"description": "words to find in titles and bodies"})


class TourStepSchema(Schema):
    plugin = fields.String(required=True)
    page = fields.String(required=True, metadata={"description": "the page's URL path"})
    element = fields.String(required=True, metadata={"description": "a CSS selector on it"})
    title = fields.String(required=True)
    text = fields.String(required=True)


class TourStepsSchema(Schema):
    steps = fields.List(fields.Nested(TourStepSchema), required=True)


class TourOfferSchema(Schema):
    offer = fields.Boolean(
        required=True, metadata={"description": "whether to offer this user the tour now"}
    )
