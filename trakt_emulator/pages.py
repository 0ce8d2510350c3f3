"""The OAuth host's HTML pages: authorize (code flow) and activate (device flow)."""

import html
from urllib.parse import urlencode

from .responses import HTML_CT, Resp, html_resp, not_found_html

OOB = "urn:ietf:wg:oauth:2.0:oob"


def page_form(title, inner):
    return html_resp(200, title, "<h1>%s</h1>\n%s" % (html.escape(title), inner))


def activate_page(emu, method, query, form):
    st = emu.state
    if method == "GET":
        code = query.get("code") or query.get("user_code") or ""
        return page_form("Activate your device",
                          "<form method=\"post\" action=\"/activate\">\n"
                          "<label>Code <input id=\"user_code\" name=\"user_code\" value=\"%s\" maxlength=\"9\"></label>\n"
                          "<label>Username <input id=\"username\" name=\"username\"></label>\n"
                          "<button type=\"submit\" id=\"approve\" name=\"decision\" value=\"approve\">Approve</button>\n"
                          "<button type=\"submit\" id=\"deny\" name=\"decision\" value=\"deny\">Deny</button>\n"
                          "</form>" % html.escape(code))
    if method != "POST":
        return not_found_html()
    code = form.get("user_code", "")
    try:
        if form.get("decision") == "deny":
            st.deny_device(code)
            return page_form("Device denied", "<p id=\"result\">denied</p>")
        st.approve_device(code, form.get("username", ""))
        return page_form("Device approved", "<p id=\"result\">approved</p><p>You can close this window.</p>")
    except KeyError as exc:
        r = page_form("Invalid code", "<p id=\"error\">%s</p>" % html.escape(str(exc)))
        r.status = 404
        return r
    except ValueError as exc:
        r = page_form("Code expired or used", "<p id=\"error\">%s</p>" % html.escape(str(exc)))
        r.status = 410
        return r


AUTHORIZE_KEYS = ("response_type", "client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method")


def _authorize_request_error(emu, params: dict):
    """The 400 page for an authorize request trakt refuses outright, or None."""
    with emu.state.lock:
        app = emu.state.apps.get(params.get("client_id"))
    if app is None:
        return html_resp(400, "Invalid client", "<h1>Client authentication failed</h1>"
                         "<p id=\"error\">invalid_client: unknown client_id</p>")
    if params.get("redirect_uri") not in app.redirect_uris:
        return html_resp(400, "Invalid redirect URI", "<h1>The redirect uri included is not valid.</h1>"
                         "<p id=\"error\">invalid_redirect_uri</p>")
    if params.get("response_type") != "code":
        return html_resp(400, "Unsupported response type", "<p id=\"error\">unsupported_response_type</p>")
    if (params.get("code_challenge_method") or None) not in (None, "S256", "plain"):
        return html_resp(400, "Invalid request", "<p id=\"error\">unsupported code_challenge_method</p>")
    return None


def _redirect(redirect_uri: str, answer: dict, state_param) -> Resp:
    if state_param is not None:
        answer["state"] = state_param
    return Resp(302, b"", {"Location": add_query(redirect_uri, answer), "Content-Type": HTML_CT})


def _authorize_decision(emu, params: dict):
    """The answer to the form's approve or deny; a page with an error (str) for an unknown username."""
    redirect_uri = params.get("redirect_uri")
    if params.get("decision") == "deny":
        if redirect_uri == OOB:
            return page_form("Authorization denied", "<p id=\"result\">denied</p>")
        return _redirect(redirect_uri, {"error": "access_denied",
                                        "error_description": "The resource owner denied the request."},
                         params.get("state"))
    username = params.get("username", "")
    try:
        code = emu.state.issue_code(username, redirect_uri, params.get("code_challenge") or None,
                                    params.get("code_challenge_method") or None, client_id=params.get("client_id"))
    except KeyError:
        return "<p id=\"error\">Unknown username %s</p>" % html.escape(username)
    if redirect_uri == OOB:
        return page_form("Authorization code",
                         "<p>Copy this code and paste it into the application:</p>\n"
                         "<code id=\"code\">%s</code>" % code)
    return _redirect(redirect_uri, {"code": code}, params.get("state"))


def authorize_page(emu, method: str, query: dict, form: dict) -> Resp:
    params = dict(query)
    params.update(form)
    refused = _authorize_request_error(emu, params)
    if refused is not None:
        return refused
    error = ""
    if method == "POST":
        decided = _authorize_decision(emu, params)
        if not isinstance(decided, str):
            return decided
        error = decided
    elif method != "GET":
        return not_found_html()
    hidden = "".join("<input type=\"hidden\" name=\"%s\" value=\"%s\">\n" % (key, html.escape(params[key]))
                     for key in AUTHORIZE_KEYS if params.get(key) is not None)
    page = page_form("Authorize application",
                     "%s<form method=\"post\" action=\"/oauth/authorize\">\n%s"
                     "<label>Username <input id=\"username\" name=\"username\"></label>\n"
                     "<button type=\"submit\" id=\"authorize\" name=\"decision\" value=\"approve\">Authorize</button>\n"
                     "<button type=\"submit\" id=\"deny\" name=\"decision\" value=\"deny\">Deny</button>\n"
                     "</form>" % (error, hidden))
    if error:
        page.status = 400
    return page


def add_query(url, params):
    sep = "&" if "?" in url else "?"
    return url + sep + urlencode(params)
