"""The register on the web: a GOV.UK-style explorer for officers (`vcse serve`), read-only over the published
register. app.create_app builds the FastAPI app; register.py reads the register, feed.py the published opportunity
feed the same way; pages live in their own modules (routers), as do the reconciliation service (reconcile.py) and
the JSON API (api.py)."""
