"""The JSON API for scripts and dashboards: /api/v1/ops/*, over the same services the bot uses.

Declared once: `params` (each endpoint's parameters, one pydantic model) and `answers` (what it
answers) → `endpoints` (the table of every route) → `openapi` (the document, built from that table)
→ `server` (aiohttp handlers, routed from the same table). Nothing imports back up that chain.
"""

from ops.api.server import ApiServices, OpsApi

__all__ = ["ApiServices", "OpsApi"]
