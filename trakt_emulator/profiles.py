"""How much data each account profile has (``add_user(..., profile=...)``); ``sizes=`` overrides keys."""

PROFILES = {
    "tiny": dict(
        years=1, history=12, movie_share=0.4, watched_movies=3, watched_shows=2,
        collection_movies=3, collection_shows=2, ratings_movies=2, ratings_shows=2,
        ratings_seasons=1, ratings_episodes=2, watchlist=4, favorites=2, playback=2,
        hidden_calendar=1, hidden_progress_watched=1, hidden_progress_collected=1,
        hidden_recommendations=2, hidden_comments=1, hidden_dropped=1, hidden_progress_watched_reset=1,
        lists=2, list_items=3, collaborations=1, comments=3, likes_comments=2, likes_lists=2,
        notes=2, followers=2, following=2, friends=1, requests=1, requests_following=1,
        blocked=1, saved_filters=1),
    "small": dict(
        years=4, history=600, movie_share=0.3, watched_movies=110, watched_shows=25,
        collection_movies=140, collection_shows=15, ratings_movies=120, ratings_shows=30,
        ratings_seasons=10, ratings_episodes=60, watchlist=130, favorites=30, playback=6,
        hidden_calendar=5, hidden_progress_watched=8, hidden_progress_collected=4,
        hidden_recommendations=12, hidden_comments=2, hidden_dropped=3, hidden_progress_watched_reset=4,
        lists=3, list_items=[260, 45, 7], collaborations=1, comments=27, likes_comments=15,
        likes_lists=6, notes=12, followers=18, following=25, friends=9, requests=2,
        requests_following=1, blocked=2, saved_filters=3),
    "medium": dict(
        years=8, history=5000, movie_share=0.25, watched_movies=700, watched_shows=200,
        collection_movies=600, collection_shows=60, ratings_movies=150, ratings_shows=60,
        ratings_seasons=30, ratings_episodes=60, watchlist=400, favorites=60, playback=15,
        hidden_calendar=30, hidden_progress_watched=40, hidden_progress_collected=20,
        hidden_recommendations=50, hidden_comments=5, hidden_dropped=25, hidden_progress_watched_reset=15,
        lists=10, list_items=[80, 250, 12, 40, 1, 120, 30, 60, 9, 200], collaborations=2,
        comments=120, likes_comments=80, likes_lists=30, notes=60, followers=150, following=200,
        friends=60, requests=5, requests_following=3, blocked=5, saved_filters=5),
    "heavy": dict(
        years=15, history=100_000, movie_share=0.25, watched_movies=12_000, watched_shows=3_000,
        collection_movies=5_000, collection_shows=800, ratings_movies=4_000, ratings_shows=2_000,
        ratings_seasons=1_000, ratings_episodes=3_000, watchlist=2_500, favorites=100, playback=60,
        hidden_calendar=300, hidden_progress_watched=300, hidden_progress_collected=200,
        hidden_recommendations=300, hidden_comments=40, hidden_dropped=150, hidden_progress_watched_reset=100,
        lists=100, list_items=250, collaborations=5, comments=1_500, likes_comments=1_000,
        likes_lists=400, notes=900, followers=3_000, following=800, friends=400, requests=25,
        requests_following=10, blocked=40, saved_filters=10),
}
