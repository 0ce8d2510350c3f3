"""Rendering: a user's stored records -> trakt-shaped JSON values.

``UserRendering`` is mixed into ``UserData``; record layouts are described in ``user.py``.
"""

from .shared import ACTIONS, EPISODE, MOVIE, SEASON, SHOW, iso
from .words import NOTE_TEXT


class UserRendering:
    def render_activities(self):
        out = {"all": iso(self.activity_all)}
        for group, vals in self.activities.items():
            out[group] = {key: iso(value) for key, value in vals.items()}
        return out

    # ------------------------------------------------------------------ rendering
    def user_brief(self):
        return {"username": self.username, "private": self.private, "deleted": False, "name": self.name,
                "vip": self.vip, "vip_ep": False, "ids": {"slug": self.slug, "trakt": self.trakt_id}}

    def profile_obj(self, full=False):
        brief = self.user_brief()
        if full:
            brief.update({"joined_at": iso(self.joined_at), "location": "Lyon, France", "about": "Films & séries.",
                          "gender": None, "age": None,
                          "images": {"avatar": {"full": "https://walter-r2.trakt.tv/images/users/%s/avatars/large/%s.jpg"
                                                        % (self.trakt_id, self.uuid[:10])}},
                          "vip_og": False, "vip_years": 2 if self.vip else 0, "vip_cover_image": None})
        return brief

    def settings_obj(self, extended: str = ""):
        """/users/settings: ``browsing`` and ``sharing_text`` only when ``extended`` asks for them (as trakt-web's
        export does, ``extended=sharing,browsing,gdpr``)."""
        asked = set(extended.split(","))
        profile = self.profile_obj(full=True)
        profile["ids"] = {"slug": self.slug, "uuid": self.uuid, "trakt": self.trakt_id}
        profile["director"] = False
        limits = ({"list": {"count": 1000, "item_count": 5000}, "watchlist": {"item_count": 10000},
                   "favorites": {"item_count": 250}} if self.vip else
                  {"list": {"count": 2, "item_count": 100}, "watchlist": {"item_count": 100},
                   "favorites": {"item_count": 50}})
        settings = {
            "user": profile,
            "account": {"timezone": "Europe/Paris", "date_format": "dmy", "time_24hr": True,
                        "cover_image": None, "display_ads": not self.vip, "token": None},
            "browsing": {"calendar": {"hide_specials": False, "autoscroll": True}, "comments": {"blocked_uids": []},
                         "display_early_ratings": False, "genres": {"favorites": ["drama"], "disliked": []},
                         "hide_episode_type_tags": False, "hide_unsaved_filters_prompt": False,
                         "hide_watching_now": False, "other_site_ratings": True, "locale": "fr-FR",
                         "profile": {"favorites": {"sort_by": "rank", "sort_how": "asc"},
                                     "most_watched_movies": {"sort_by": "plays", "tab": "all"},
                                     "most_watched_shows": {"sort_by": "plays", "tab": "all"}},
                         "progress": {"on_deck": {"sort_how": "desc", "refresh": True, "simple_progress": False,
                                                  "only_favorites": False, "sort": "activity"},
                                      "watched": {"refresh": True, "simple_progress": False, "include_specials": False,
                                                  "include_watchlisted": True, "include_collected": True,
                                                  "sort_how": "desc", "use_last_activity": True, "grid_view": False}},
                         "recommendations": {"ignore_collected": True, "ignore_watchlisted": True},
                         "release_date_ignore_runtime": False},
            "connections": {key: False for key in ("facebook", "twitter", "mastodon", "google", "tumblr", "medium",
                                               "slack", "apple", "dropbox", "microsoft")},
            "sharing_text": {"watching": "I'm watching [item]", "watched": "I just watched [item]",
                             "rated": "[item] [stars]"},
            "limits": limits,
            "permissions": {"commenting": True, "liking": True, "following": True},
        }
        for part, key in (("browsing", "browsing"), ("sharing", "sharing_text")):
            if part not in asked:
                del settings[key]
        return settings

    def render_history(self, record):
        rendered = {"id": record[0], "watched_at": iso(record[1]), "action": ACTIONS[record[2]]}
        rendered.update(self.catalog.media(record[3], record[4], record[5], record[6]))
        return rendered

    def render_rating(self, record):
        rendered = {"rated_at": iso(record[0]), "rating": record[1]}
        rendered.update(self.catalog.media(record[2], record[3], record[4], record[5]))
        return rendered

    def render_listed(self, record):
        note = record[7]
        if not isinstance(note, str):
            note = NOTE_TEXT[note] if note is not None and note >= 0 else None
        rendered = {"rank": record[0], "id": record[1], "listed_at": iso(record[2]), "notes": note}
        rendered.update(self.catalog.media(record[3], record[4], record[5], record[6]))
        return rendered

    def render_playback(self, record):
        rendered = {"progress": record[1], "paused_at": iso(record[2]), "id": record[0]}
        rendered.update(self.catalog.media(record[3], record[4], record[5], record[6]))
        return rendered

    def render_coll_movie(self, record, metadata=False):
        rendered = {"collected_at": iso(record[0]), "updated_at": iso(record[1]),
                    "movie": self.catalog.movie(record[2])}
        if metadata:
            bits = record[3]
            rendered["metadata"] = {"media_type": ("bluray", "digital", "dvd", "vhs")[bits % 4],
                                    "resolution": ("hd_1080p", "uhd_4k", "hd_720p", "sd_480p")[(bits >> 2) % 4],
                                    "hdr": (None, "dolby_vision", "hdr10")[(bits >> 4) % 3],
                                    "audio": ("dolby_atmos", "dts", "aac", "dolby_digital_plus")[(bits >> 6) % 4],
                                    "audio_channels": ("7.1", "5.1", "2.0")[(bits >> 8) % 3], "3d": bits % 29 == 0}
        return rendered

    def render_coll_show(self, record, metadata=False):
        ts, show, what = record
        catalog = self.catalog
        by_season = {}
        for season, episode in self.collected_episodes(record):
            by_season.setdefault(season, []).append(episode)
        n_seasons = max(by_season) if by_season else 0
        seasons = []
        for season in sorted(by_season):
            episodes = []
            for episode in by_season[season]:
                # collected a week per season and a minute per episode apart, the newest at ts
                collected = ts - (n_seasons - season) * 86400 * 7 - (64 - episode) * 60
                entry = {"number": episode, "collected_at": iso(collected)}
                if metadata:
                    entry["metadata"] = {"media_type": "digital", "resolution": "hd_1080p", "hdr": None,
                                         "audio": "aac", "audio_channels": "2.0", "3d": False}
                episodes.append(entry)
            seasons.append({"number": season, "episodes": episodes})
        return {"last_collected_at": iso(ts), "last_updated_at": iso(ts), "show": catalog.show(show),
                "seasons": seasons}

    def render_list(self, listed):
        return {"name": listed["name"], "description": listed["description"], "privacy": listed["privacy"],
                "share_link": "https://trakt.tv/lists/%d" % listed["trakt"], "type": "personal",
                "display_numbers": listed["display_numbers"], "allow_comments": listed["allow_comments"],
                "sort_by": listed["sort_by"], "sort_how": listed["sort_how"], "created_at": iso(listed["created_at"]),
                "updated_at": iso(listed["updated_at"]), "item_count": len(listed["items"]),
                "comment_count": listed["comment_count"], "likes": listed["likes"],
                "ids": {"trakt": listed["trakt"], "slug": listed["slug"]}, "user": listed["owner"]}

    def render_watched_movie(self, record):
        return {"plays": record[1], "last_watched_at": iso(record[2]), "last_updated_at": iso(record[2]),
                "movie": self.catalog.movie(record[0])}

    def render_watched_show(self, record, progress=False, specials=False):
        rendered = {"plays": record[1], "last_watched_at": iso(record[2]), "last_updated_at": iso(record[2]),
                    "reset_at": None, "show": self.catalog.show(record[0])}
        if progress:
            seasons = {}
            for (season, episode), (plays, ts) in record[3].items():
                if season == 0 and not specials:
                    continue
                seasons.setdefault(season, []).append({"number": episode, "plays": plays, "last_watched_at": iso(ts)})
            rendered["seasons"] = [{"number": season, "episodes": sorted(episodes, key=lambda entry: entry["number"])}
                                   for season, episodes in sorted(seasons.items())]
        return rendered

    def stats_obj(self):
        watched_movies, watched_shows = self.watched()
        catalog = self.catalog
        movie_plays = sum(record[1] for record in watched_movies)
        ep_plays = sum(record[1] for record in watched_shows)
        dist = {str(key): 0 for key in range(1, 11)}
        for record in self.ratings:
            dist[str(record[1])] += 1
        count = {key: 0 for key in range(4)}
        for record in self.ratings:
            count[record[2]] += 1
        comments = {"movie": 0, "show": 0, "season": 0, "episode": 0, "list": 0}
        for comment in self.comments:
            comments[comment["type"]] += 1
        return {
            "movies": {"plays": movie_plays, "watched": len(watched_movies),
                       "minutes": sum(catalog.movies[record[0]][6] * record[1] for record in watched_movies),
                       "collected": len(self.collection_movies), "ratings": count[MOVIE],
                       "comments": comments["movie"]},
            "shows": {"watched": len(watched_shows), "collected": len(self.collection_shows), "ratings": count[SHOW],
                      "comments": comments["show"]},
            "seasons": {"ratings": count[SEASON], "comments": comments["season"]},
            "episodes": {"plays": ep_plays, "watched": sum(len(record[3]) for record in watched_shows),
                         "minutes": sum(catalog.shows[record[0]][10] * record[1] for record in watched_shows),
                         "collected": sum(len(self.collected_episodes(record)) for record in self.collection_shows),
                         "ratings": count[EPISODE], "comments": comments["episode"]},
            "network": {"friends": len(self.friends), "followers": len(self.followers),
                        "following": len(self.following)},
            "ratings": {"total": len(self.ratings), "distribution": dist},
        }

