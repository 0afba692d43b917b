"""WSGI entry point for gunicorn: `gunicorn bot.wsgi:app`.

With Redis, RQ workers (`crms-bot worker`) and one `crms-bot scheduler` do the background
work. Without Redis this process runs it on threads, so run a single gunicorn worker then.
"""

from bot import create_app, runtime_of

app = create_app()
if runtime_of(app).redis is None:
    runtime_of(app).work.start_loops()
