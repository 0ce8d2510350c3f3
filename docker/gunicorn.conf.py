"""gunicorn settings for the container, read from the same variables as `manage.py serve`.

gthread workers: a long archive download holds one thread, not a whole worker,
so the dashboard stays responsive while someone downloads a large backup.
"""

import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
worker_class = "gthread"
workers = int(os.environ.get("WEB_WORKERS", "2"))
threads = int(os.environ.get("WEB_THREADS", "8"))
timeout = 120
graceful_timeout = 20
accesslog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# No control socket (gunicorn 25.1+, for `gunicornc`): it would go to $HOME/.gunicorn, and the image's user has
# no home (/nonexistent), so gunicorn logged "Control server error: Permission denied" at every start. A
# container is managed by its orchestrator's signals instead (SIGTERM stops, SIGHUP reloads).
control_socket_disable = True
