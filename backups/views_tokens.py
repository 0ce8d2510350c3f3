"""The API tokens page: a user makes tokens (shown once), sees their names and when each was last used, and revokes
them. Tokens themselves live in ``api_auth.py``; the API in ``api.py``."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from backups.api_auth import make_token
from backups.models import ApiToken
from backups.site_url import absolute_url

MAX_TOKENS = 50  # a user's tokens at once


class TokenForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100, help_text="what the token is for (a script, a host)")
    read_only = forms.BooleanField(label="Read only (cannot start backups or restores)", required=False)


@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    tokens = ApiToken.objects.filter(user=request.user)
    form, made = TokenForm(request.POST or None), None
    if request.method == "POST" and form.is_valid():
        if tokens.count() >= MAX_TOKENS:
            form.add_error(None, f"You have {MAX_TOKENS} tokens, as many as one user may: revoke one first.")
        else:
            row, token = make_token(request.user, form.cleaned_data["name"], read_only=form.cleaned_data["read_only"])
            made, form = {"row": row, "token": token}, TokenForm()
    return render(request, "accounts/tokens.html", {"form": form, "tokens": tokens, "made": made,
                                                     "api_url": absolute_url("/api/v1/", request)},
                  status=400 if form.errors else 200)


@login_required
@require_POST
def api_token_revoke(request: HttpRequest) -> HttpResponse:
    token_id = request.POST.get("token", "")
    deleted, _ = ApiToken.objects.filter(user=request.user, pk=int(token_id) if token_id.isdigit() and len(token_id) < 19 else 0).delete()
    if deleted:
        messages.success(request, "The token is revoked: the API refuses it from now on.")
    else:
        messages.error(request, "There is no such token (it may have been revoked already).")
    return redirect("api_tokens")
