"""The analyst page and Prometheus metrics: `feed` (a processor's), `standalone` (`fraudstream
web`, fed by the topics), `live` (what the page shows), `metrics`, `drift`, `server`, `static/`.

Nothing is imported here, so `import fraudstream.web.drift` (training does) stays light.
"""
