"""The public status page: `/status` and `/status.json` (see `serve`), read from a snapshot (`snapshot`)."""

from ops.status_page.serve import StatusPage

__all__ = ["StatusPage"]
