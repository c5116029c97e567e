"""FileSystemImageStore path resolution never leaves the root, whatever string it is given."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from image_processor.storage.filesystem import FileSystemImageStore

JPEG = b"\xff\xd8\xff\xe0 stored \xff\xd9"
SEGMENTS = [
    "..", ".", "", "~", "ABC-123", "x.jpg", "X.JPG", "secret.jpg", "outside.jpg", "link", ".staging",
    ".hidden.jpg", "%2e%2e", "%252e%252e", "..\\..", "\\", "\x00", "C:", "a b.jpg", "\u202e", "..%2f",
]  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FileSystemImageStore]:
    """A root holding one image, a dot file, a staged upload and two links out, beside a secret."""
    base = tmp_path_factory.mktemp("paths")
    (base / "secret.jpg").write_bytes(b"secret")
    store = FileSystemImageStore(base / "root")
    store.ensure_ready()
    store.save("ABC-123/x.jpg", JPEG)
    (store.root / "ABC-123" / ".hidden.jpg").write_bytes(b"hidden")
    (store.root / "ABC-123" / "outside.jpg").symlink_to(base / "secret.jpg")
    (store.root / "link").symlink_to(base, target_is_directory=True)
    (store.staging / "x.jpg").write_bytes(b"staged")
    yield store


def joined_segments() -> st.SearchStrategy[str]:
    separators = st.sampled_from(["/", "//", "\\", "/./"])
    pieces = st.lists(st.tuples(st.sampled_from(SEGMENTS), separators), min_size=1, max_size=6)
    return st.builds(
        lambda parts, lead: lead + "".join(s + sep for s, sep in parts)[:-1], pieces, st.sampled_from(["", "/"])
    )


any_path = st.one_of(st.text(max_size=40), joined_segments())
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(requested=any_path)
def test_open_never_returns_a_path_outside_the_root(store: FileSystemImageStore, requested: str) -> None:
    stored = store.fetch(requested)
    if stored is None:
        return
    assert not stored.object.key.startswith(".")
    assert stored.content == JPEG


@SETTINGS
@given(requested=any_path)
def test_open_finds_only_the_stored_image_by_its_plain_path(store: FileSystemImageStore, requested: str) -> None:
    assert (store.stat(requested) is not None) == (requested == "ABC-123/x.jpg")


@SETTINGS
@given(relative=any_path)
@example(relative="link/secret.jpg")
def test_save_writes_inside_the_root_or_refuses(store: FileSystemImageStore, relative: str) -> None:
    try:
        store.save(relative, JPEG)
    except ValueError:
        return
    except OSError:
        return  # e.g. a name the file system refuses; nothing was written
    resolved = store.root.joinpath(*relative.split("/")).resolve()
    assert resolved.is_relative_to(store.root.resolve())
    assert not any(part.startswith(".") for part in resolved.relative_to(store.root.resolve()).parts)
    if resolved != (store.root / "ABC-123" / "x.jpg").resolve():
        resolved.unlink()


def test_the_secret_beside_the_root_is_untouched(store: FileSystemImageStore) -> None:
    assert (store.root.parent / "secret.jpg").read_bytes() == b"secret"
    assert Path(store.root.parent / "secret.jpg").is_file()
