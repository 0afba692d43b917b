"""WSGI entry point: `crms-bot serve` and `docker-compose.yml` run it under Granian.

With Redis, RQ workers (`crms-bot worker`) and one `crms-bot scheduler` do the background
work. Without Redis this process runs it on threads, so run a single web worker then.
"""

import logging

from bot import create_app, runtime_of

app = create_app()
if runtime_of(app).redis is None:
    runtime_of(app).work.start_loops()
    logging.getLogger("crms").warning("embedded mode: SQLite/one process, no Redis")
