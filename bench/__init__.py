"""chatapp's benchmark suite: a load driver, a bare baseline server, workloads and the report.

``make bench`` runs :mod:`bench.run`, which measures the chatapp server side by
side with :mod:`bench.baseline_server` (the limit) in the same run and writes
``docs/performance.md``. Nothing here is imported by the server or the client.
"""
