"""Search over real SQLite files: what is left out (the trash) and what is found."""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktopchat.core.chat import Role
from desktopchat.core.session import Core
from desktopchat.core.storage.database import MIGRATIONS, SCHEMA_VERSION, Database
from desktopchat.core.storage.fulltext import (
    SEGMENTED_RANGES,
    index_text,
    parse_query,
    snippet,
    unspaced_runs,
)
from desktopchat.core.storage.repositories import SNIPPET_MARKS, ConversationRepository


def test_hits_in_the_trash_do_not_eat_the_limit(core: Core) -> None:
    """The trash used to be left out after the LIMIT: 30 newer hits in the trash and a
    limit of 5 returned nothing, though three live conversations match."""
    repo = core.conversations
    live = []
    for i in range(3):
        conv = repo.create(title=f"live {i}")
        live.append(repo.add_message(conv.id, Role.USER, f"pelican number {i}", parent_id=None))
    for i in range(30):  # newer than the live ones, and better matches
        conv = repo.create(title=f"trashed {i}")
        repo.add_message(conv.id, Role.USER, f"pelican pelican pelican {i}", parent_id=None)
        repo.move_to_trash(conv.id)
    expected = {m.id for m in live}
    assert {h.message_id for h in repo.search("pelican", limit=5)} == expected
    assert {h.message_id for h in repo.search("pelican", newest_first=True, limit=5)} == expected
    assert [h.message_id for h in repo.search("pelican", newest_first=True, limit=2)] == [
        live[2].id,
        live[1].id,
    ]


# -- unspaced scripts: Chinese, Japanese, Thai (FTS5's unicode61 made a run one token) ---


def _found(core: Core, query: str) -> set[int]:
    return {h.message_id for h in core.conversations.search(query)}


def _message(core: Core, text: str) -> int:
    conv = core.conversations.create()
    return core.conversations.add_message(conv.id, Role.USER, text, parent_id=None).id


def test_japanese_words_are_found_inside_a_sentence(core: Core) -> None:
    weather = _message(core, "東京の天気について教えてください")
    coffee = _message(core, "朝はコーヒーを飲みたいです")
    assert _found(core, "天気") == {weather}  # two characters in the middle of the run
    assert _found(core, "東京") == {weather}
    assert _found(core, "京") == {weather}  # one kanji
    assert _found(core, "コーヒー") == {coffee}  # a katakana word
    assert _found(core, "について教え") == {weather}  # longer than two
    assert _found(core, "天気 教え") == {weather}  # every term must appear
    assert _found(core, "京天") == set()  # not adjacent in the text
    assert _found(core, "天気 コーヒー") == set()


def test_chinese_and_thai_words_are_found_inside_a_sentence(core: Core) -> None:
    beijing = _message(core, "我想知道北京的天气")
    thai = _message(core, "ผมชอบกินข้าวผัดมากครับ")  # "I like fried rice a lot"
    assert _found(core, "北京") == {beijing}
    assert _found(core, "天气") == {beijing}
    assert _found(core, "ข้าวผัด") == {thai}  # vowel and tone marks are part of the word
    assert _found(core, "กิน") == {thai}


def test_a_word_does_not_run_on_from_one_run_into_the_next(core: Core) -> None:
    _message(core, "東京の天 and 気分")
    assert _found(core, "天気") == set()
    assert _found(core, "天気分") == set()


def test_mixed_latin_and_japanese(core: Core) -> None:
    mixed = _message(core, "iPhone15の使い方を教えて, please")
    latin = _message(core, "How do I use an iPhone?")
    assert _found(core, "使い方") == {mixed}
    assert _found(core, "iPhone15") == {mixed}  # glued to the Japanese run
    assert _found(core, "iPhone15 使い方") == {mixed}
    assert _found(core, "使い方 please") == {mixed}
    assert _found(core, "iphone") == {mixed, latin}  # prefix, as before
    assert _found(core, "use iphone") == {latin}


def test_snippets_mark_the_found_words_in_the_original_text(core: Core) -> None:
    start, end = SNIPPET_MARKS
    _message(core, "東京の天気について教えてください")
    _message(core, "我想知道北京的天气, thanks")
    (hit,) = core.conversations.search("天気")
    assert hit.snippet == f"東京の{start}天気{end}について教えてください"
    (hit,) = core.conversations.search("北京 thanks")
    assert hit.snippet == f"我想知道{start}北京{end}的天气, {start}thanks{end}"
    long = "これは長い文章です。" * 30 + "最後に天気の話をします。" + "終わり。" * 30
    _message(core, long)
    (hit,) = core.conversations.search("天気の話")
    assert f"{start}天気の話{end}" in hit.snippet
    assert hit.snippet.startswith("…") and hit.snippet.endswith("…")
    assert len(hit.snippet) < 100


def test_latin_search_is_as_before(core: Core) -> None:
    start, end = SNIPPET_MARKS
    message = _message(core, "Le café est chaud. Привет, мир!")
    assert _found(core, "cafe") == {message}  # accents folded by unicode61
    assert _found(core, "привет") == {message}
    assert _found(core, "мир") == {message}
    assert _found(core, "caf") == {message}  # the last word is a prefix
    assert _found(core, "caf est") == set()  # the others are whole words
    (hit,) = core.conversations.search("chaud")
    assert hit.snippet == f"Le café est {start}chaud{end}. Привет, мир!"


def test_nul_and_lone_surrogates_do_not_break_indexing(core: Core) -> None:
    text = "bad \ud800 東京\x00の天気 \udfff end \x00"
    grams = index_text(text)
    assert "\x00" not in grams
    assert not any("\ud800" <= c <= "\udfff" for c in grams)
    message = _message(core, text)
    assert _found(core, "天気") == {message}
    assert _found(core, "東京") == {message}
    assert _found(core, "end") == {message}


def test_the_segmented_ranges_hold_only_letters_marks_and_digits() -> None:
    """Punctuation of those scripts (、。・ ฯ ၊ ។) must still separate words."""
    for low, high in SEGMENTED_RANGES:
        for code in range(low, high + 1):
            category = unicodedata.category(chr(code))
            assert category == "Cn" or category[0] in "LMN", (hex(code), category)
    for punctuation in "、。・「」！？ ๏ ๚ ၊ ။ ។":
        assert index_text(punctuation) == ""


def test_an_old_database_with_japanese_messages_is_migrated_and_then_found(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(MIGRATIONS[:4], start=1):
        conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version={number};\nCOMMIT;")
    conn.execute(
        "INSERT INTO conversations (id, title, created_at, updated_at) VALUES (1, 't', 1, 1)"
    )
    for i, text in enumerate(("東京の天気について教えてください", "walrus"), start=1):
        conn.execute(
            "INSERT INTO messages (id, conversation_id, role, content, status, created_at,"
            " updated_at) VALUES (?, 1, 'user', ?, 'complete', 1, 1)",
            (i, text),
        )
        conn.execute("INSERT INTO messages_fts(rowid, content) VALUES (?, ?)", (i, text))
    assert (
        conn.execute("SELECT rowid FROM messages_fts WHERE messages_fts MATCH '天気'").fetchall()
        == []
    )
    conn.close()
    db = Database.open(path, backup_dir=tmp_path / "backups")
    try:
        assert db.user_version() == SCHEMA_VERSION
        repo = ConversationRepository(db)
        assert [h.message_id for h in repo.search("天気")] == [1]
        assert [h.message_id for h in repo.search("walrus")] == [2]
    finally:
        db.close()
    (backup,) = (tmp_path / "backups").glob("*.sqlite3")
    old = sqlite3.connect(backup)
    assert old.execute("PRAGMA user_version").fetchone()[0] == 4
    old.close()


# Text mixing unspaced scripts, their marks, Latin and punctuation.
_mixed_chars = st.sampled_from(
    list("東京の天気北京的我想知道コーヒーをくださいกินข้าวผัดมากครับ서울날씨ကျွန်ប្រទេសabc ,。、!")
)
_mixed_text = st.lists(_mixed_chars, min_size=1, max_size=40).map("".join)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(text=_mixed_text, data=st.data())
def test_any_piece_of_a_run_is_found_and_marked(
    tmp_path: Path, text: str, data: st.DataObject
) -> None:
    """Whatever its length (1, 2, 3+ characters) and wherever it sits inside a run of an
    unspaced script, a piece of it is found, and the snippet marks it in the text."""
    runs = unspaced_runs(text)
    if not runs:
        return
    run = data.draw(st.sampled_from(runs))
    start = data.draw(st.integers(0, len(run) - 1))
    piece = run[start : data.draw(st.integers(start + 1, len(run)))]
    path = tmp_path / "props.sqlite3"
    db = Database.open(path)
    try:
        repo = ConversationRepository(db)
        conv = repo.create()
        message = repo.add_message(conv.id, Role.USER, text, parent_id=None)
        terms = parse_query(piece)
        found = db.query(
            "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? AND rowid = ?",
            (terms.match(), message.id),
        )
        assert found, (text, piece, terms.match())
        start_mark, end_mark = SNIPPET_MARKS
        marked = snippet(text, terms, SNIPPET_MARKS, width=len(text) + 10)
        assert marked.replace(start_mark, "").replace(end_mark, "") == text
        assert any(piece in m for m in re.findall(f"{start_mark}(.*?){end_mark}", marked))
    finally:
        db.close()
        path.unlink()
