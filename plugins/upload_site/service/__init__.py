"""The Upload Site's rules, split by concern: ``storage`` (where bytes live), ``intake``
(limits, types, staging) and ``records`` (rows, links, the inbox)."""
