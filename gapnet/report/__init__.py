"""Reports of finished runs: `tables` (markdown from metrics.json), `figures` (PNGs),
`page` (markdown and self-contained HTML), `run_report.write_report` (a run's report/).
"""
