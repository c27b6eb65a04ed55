"""Grafana dashboards as code: builders, the JSON they produce, provisioning, build and push.

- ``boards/``: one module per board (``BOARDS`` lists them), built with
  grafana-foundation-sdk; ``target``, ``panels``, ``variables``, ``queries``
  and ``limits`` are what they share.
- ``render``: builders → validated JSON (``schema``) → ``json/<uid>.json``.
- ``push``: the JSON into a running Grafana through grafana-client, idempotent
  by uid (``changes`` says what differs).
- ``provisioning/``: datasource, dashboard provider, alert rules and contact
  point for a Grafana started with them.
- ``cli``: ``parkwatch dashboards build`` and ``parkwatch dashboards push``.

See README.md beside this file.
"""
