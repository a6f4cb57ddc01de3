"""A partner plugin that raises at import."""

raise RuntimeError("partner_broken exploded at import")
