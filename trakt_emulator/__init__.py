"""A faithful and nasty emulator of trakt.tv's API (api.trakt.tv) and OAuth host (auth.trakt.tv).

Standard library only.  Real HTTP servers on loopback, for tests, benchmarks and demos::

    from trakt_emulator import Emulator

    with Emulator(client_id="cid", client_secret="secret") as emu:
        emu.add_user("alice", profile="small")
        token = emu.grant("alice")
        # point the client at emu.api_url / emu.auth_url

Run standalone with ``python -m trakt_emulator --help``; the HTTP control API lives under
``<api_url>/_emulator/``.  Behaviour choices not fixed by trakt's docs:

* missing/unknown ``trakt-api-key`` -> 403 with an empty text/plain body;
  ``trakt-api-version`` missing or not ``2`` -> 400 JSON ``{"error": "bad_request", ...}``;
  no ``User-Agent`` (either host) -> 403 Cloudflare HTML page.
* ``/oauth/*`` on the API host -> 404 HTML; API paths on the auth host -> 404 HTML.
* The OAuth JSON endpoints accept ``application/json`` or form-encoded bodies, anything else -> 412.
* Device-token errors (400 pending, 404, 409, 410, 418, 429) have empty bodies.
* Unknown API path -> 404 JSON ``{"error": "not_found", ...}``.
* Empty collections paginate with ``X-Pagination-Page-Count: 0``.
* ``/_emulator/`` control requests are not logged and get no latency or faults.

Knobs for a trakt that changed its ways (attributes of the Emulator, or ``POST /_emulator/config``):
``date_offset`` (seconds added to every Date header: a wrong clock), ``max_limit`` (the page size that
larger limits are clamped to, 250), ``require_user_agent`` (False lets requests without one through),
``token_lifetime`` (the ``expires_in`` of new tokens); and the fault ``drop_headers`` (``headers=[names]``,
by default the four pagination headers) takes headers off the real answer.
"""

from .profiles import PROFILES
from .server import Emulator
from .faults import FAULT_KINDS, FaultSpec

__all__ = ["Emulator", "FaultSpec", "FAULT_KINDS", "PROFILES"]
