"""Words the generator builds titles, names and texts from; odd ones on purpose (unicode, markup, duplicates)."""

ADJ = ["Silent", "Broken", "Golden", "Last", "Hidden", "Crimson", "Frozen", "Electric", "Lost",
       "Midnight", "Burning", "Savage", "Quiet", "Iron", "Paper", "Glass", "Hollow", "Wild",
       "Distant", "Bitter", "Velvet", "Northern", "Endless", "Secret", "Little", "Dark", "Bright",
       "Final", "Second", "Strange", "Lucky", "Rusty", "Violent", "Gentle", "Restless"]
NOUN = ["River", "Empire", "Garden", "Signal", "Harbor", "Machine", "Kingdom", "Protocol",
        "Frontier", "Shadow", "Orchard", "Station", "Mirror", "Circus", "Letter", "Horizon",
        "Voyage", "Island", "Witness", "Theory", "Engine", "Country", "Summer", "Winter", "Code",
        "Heart", "Storm", "Family", "Doctor", "Detective", "Lighthouse", "Border", "Archive"]
ODD_TITLES = ["Amélie", "Léon: The Professional", "千と千尋の神隠し", "Ōkami", "Crouching Tiger, Hidden Dragon",
              "Don't Look Up", 'The "Quoted" Movie', "Æon Flux", "Señor Ávila", "¡Three Amigos!",
              "Mr. & Mrs. Smith", "50/50", "M*A*S*H", "Shark 🦈 Attack", "Ça & Là", "Ζ",
              "Москва слезам не верит", "<script>alert(1)</script>", "100% Wolf", "What?!",
              "Tora! Tora! Tora!", "Ocean's Eleven", "Back to the Future Part II", "Se7en",
              "The Thing", "The Thing", "Dune", "Dune", "\u202eReversed", "Tab\tTitle", "  Spaces  "]
ODD_USERNAMES = ["Zoë", "ŁukaszK", "用户123", "o'brien", "a b c", "😀emoji", "JOHN_DOE", "sean-ø",
                 "x" * 40, "Null", "undefined", "Ångström"]
LIST_NAMES = ["Favourites", "Watch with kids", "Best of 2025", "Ünïcödé list ✨", "Horror 🎃",
              "To rewatch", "Director: Kubrick", "Slow cinema", "\"Quoted\" & <tagged>", "Best of 2025",
              "Sci-Fi", "Comfort shows", "Weekend", "Documentaries", "日本映画", "A/B test list"]
COMMENT_TEXT = ["Great pacing and a brilliant ending, would watch again.",
                "Not for everyone, but the cinematography alone makes it worth your time.",
                "Spoiler: the butler did it. Honestly the third act drags a lot.",
                "Ça m'a beaucoup plu — très belle photographie. 🎬",
                "I have mixed feelings about this one; the cast is great but the script is thin.",
                "Rewatched it with friends, still holds up after all these years!",
                "素晴らしい作品でした。Highly recommended for a rainy evening.",
                "The soundtrack is the real star here. <b>Loved it</b> & the score."]
NOTE_TEXT = ["Watched on the plane.", "Recommended by Anna", "Rewatch before the sequel",
             "Director's cut is better", "Saw it at the cinema 🍿", "Ending explained: ...",
             "Bought the Blu-ray", "Trop long, mais beau."]
