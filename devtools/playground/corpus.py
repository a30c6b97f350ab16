"""The playground's offline internet: a few Wikipedia pages, SearXNG results made from them, one Urban
Dictionary entry. Enough for /wiki, /ask, /search and /urban to answer with no network."""

from __future__ import annotations

from typing import Any

from devtools.fakes.search_servers import FakeSearchServers, searxng_result, urban_entry

PAGES = {
    "Python (programming language)": (
        "General-purpose programming language",
        "Python is a high-level, general-purpose programming language. Its design philosophy emphasizes code "
        "readability with the use of significant indentation. Python is dynamically typed and garbage-collected."),
    "Discord": (
        "Instant messaging and VoIP social platform",
        "Discord is an instant messaging and VoIP social platform which allows communication through voice calls, "
        "video calls, text messaging, and media. Communication can be private or take place in communities "
        "called servers."),
    "Ollama": (
        "Software for running large language models locally",
        "Ollama is an open-source tool that runs large language models on a local computer. It serves them over "
        "an HTTP API, which chat programs and bots use to generate text without a cloud service."),
    "Moon": (
        "Natural satellite of Earth",
        "The Moon is Earth's only natural satellite. It orbits at an average distance of 384,400 km, about 30 "
        "times the diameter of Earth, and always shows the same face to it."),
    "Mercury (planet)": (
        "Smallest planet in the Solar System",
        "Mercury is the first planet from the Sun and the smallest in the Solar System. It has no moons."),
    "Mercury (element)": (
        "Chemical element with atomic number 80",
        "Mercury is a chemical element; it has symbol Hg and atomic number 80. It is the only metal that is "
        "liquid at room temperature."),
}
TOPICS = ("Python", "Discord", "Ollama", "Moon", "Mercury")


def fill(servers: FakeSearchServers) -> None:
    for title, (description, extract) in PAGES.items():
        servers.add_wiki_page(title, extract, description=description)
    servers.wiki_redirects["Python"] = "Python (programming language)"
    servers.add_disambiguation("Mercury", ["Mercury (planet)", "Mercury (element)"])
    servers.add_urban("yeet", urban_entry(
        "yeet", "To throw something with great force and no regard for where it lands.",
        "He yeeted the empty can into the bin from across the room.", thumbs_up=4200, thumbs_down=310, defid=7))
    servers.searxng_default = search


def search(query: str) -> dict[str, Any]:
    """Pages sharing a word with the query, best match first, as SearXNG would list them."""
    words = {w.strip("?!.,").casefold() for w in query.split() if len(w.strip("?!.,")) > 2}
    scored = []
    for title, (description, extract) in PAGES.items():
        text = f"{title} {description} {extract}".casefold()
        score = sum(word in text for word in words)
        if score:
            scored.append((-score, title, extract))
    url = "https://en.wikipedia.org/wiki/"
    return {"results": [searxng_result(title, url + title.replace(" ", "_"), extract, engine="wikipedia")
                        for _, title, extract in sorted(scored)[:5]]}
