"""The portal: idsync's HTTP API and pages for people (app.py, http.py)."""
