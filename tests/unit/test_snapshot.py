from chalicelib.snapshot import Snapshot, comes_after, sort_key

from .support import make_item


def snapshot():
    return Snapshot(
        [
            make_item("b", provider="Beta", score=90, release_date="2024-01-01"),
            make_item("a", provider="alpha", score=90),
            make_item("c", provider="ALPHA", score=70, release_date="2025-01-01"),
            make_item("d", provider="Beta", score=80, release_date="2023-06-01"),
        ],
        skipped_items=0,
        loaded_at=0.0,
    )


def test_views_sort_with_name_tiebreak_and_missing_values_last():
    snap = snapshot()
    assert snap.view(None, "score", "desc").names == ["a", "b", "d", "c"]
    assert snap.view(None, "score", "asc").names == ["c", "d", "a", "b"]
    assert snap.view(None, "release_date", "desc").names == ["c", "b", "d", "a"]
    assert snap.view(None, "release_date", "asc").names == ["d", "b", "c", "a"]


def test_provider_view_is_case_insensitive_and_unknown_provider_is_empty_and_not_memoised():
    snap = snapshot()
    assert snap.view("alpha", "model_name", "asc").names == ["a", "c"]
    assert snap.view("nobody", "model_name", "asc").names == []
    assert ("nobody", "model_name", "asc") not in snap._views


def test_start_after_finds_position_even_when_the_item_vanished():
    snap = snapshot()
    view = snap.view(None, "score", "desc")
    assert view.start_after(sort_key(snap.items["b"], "score")) == 2
    vanished = (False, 85, "zz")
    assert view.start_after(vanished) == 2


def test_comes_after_respects_order_and_missing_values():
    assert comes_after((False, 2, "a"), (False, 1, "a"), descending=False)
    assert comes_after((False, 1, "a"), (False, 2, "a"), descending=True)
    assert comes_after((True, 0, "a"), (False, 9, "z"), descending=True)
    assert not comes_after((False, 1, "a"), (False, 1, "a"), descending=False)


def test_digest_changes_with_content_only():
    assert snapshot().digest == snapshot().digest
    other = Snapshot([make_item("a")], 0, 0.0)
    assert other.digest != snapshot().digest
