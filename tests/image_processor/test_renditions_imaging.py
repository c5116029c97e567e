"""imaging.render: a small rendition of a large JPEG never decodes it at full size, within its estimate."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import pyvips

_MEASURE = textwrap.dedent(
    """
    import pathlib, sys
    import pyvips
    from image_processor import imaging
    from image_processor.presets import BUILT_IN_PRESETS
    imaging.configure(max_pixels=50_000_000)
    # Made by the test beforehand: making it here would set a peak of its own before the measurement starts.
    data = pathlib.Path(sys.argv[2]).read_bytes()
    warm_up = pyvips.Image.black(600, 400, bands=3).jpegsave_buffer()
    imaging.render(warm_up, BUILT_IN_PRESETS["thumbnail"], "jpg", max_pixels=50_000_000)
    pyvips.Image.new_from_buffer(warm_up, "").copy_memory()
    def peak_rss():
        # VmHWM, this process's own peak; getrusage's ru_maxrss keeps the parent's size across fork and exec.
        status = pathlib.Path("/proc/self/status").read_text().split("VmHWM:")[1]
        return int(status.split()[0]) * 1024
    before = peak_rss()
    if sys.argv[1] == "full":
        pyvips.Image.new_from_buffer(data, "").copy_memory()
        estimate = 0
    else:
        preset = BUILT_IN_PRESETS[sys.argv[1]]
        imaging.render(data, preset, "jpg", max_pixels=50_000_000)
        estimate = imaging.rendition_cost("JPEG", 4000, 3000, len(data), preset)
    after = peak_rss()
    print(after - before, estimate)
    """
)


def _peak_growth(work: str, photo: Path) -> tuple[int, int]:
    """In a fresh process: the peak RSS `work` adds to a warmed-up libvips, and the budget's estimate of it."""
    output = subprocess.run(
        [sys.executable, "-c", _MEASURE, work, str(photo)], capture_output=True, text=True, check=True, timeout=120
    )
    grew, estimate = (int(value) for value in output.stdout.split())
    return grew, estimate


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 12 MP photo-like JPEG (blurred noise, so it compresses like a photo, not like a flat colour)."""
    noise = pyvips.Image.gaussnoise(4000, 3000, sigma=20, mean=128)
    image = noise.bandjoin([noise, noise]).cast("uchar").copy(interpretation="srgb").gaussblur(1.5)
    path = tmp_path_factory.mktemp("renditions") / "photo.jpg"
    path.write_bytes(image.jpegsave_buffer(Q=90))
    return path


@pytest.fixture(scope="module")
def full_decode(photo: Path) -> int:
    return _peak_growth("full", photo)[0]


@pytest.mark.parametrize("preset", ["thumbnail", "listing"])
def test_a_small_rendition_of_12_megapixels_stays_far_below_a_full_decode_and_within_its_estimate(
    photo: Path, full_decode: int, preset: str
) -> None:
    grew, estimate = _peak_growth(preset, photo)
    assert grew <= estimate, (grew, estimate)
    assert grew < full_decode / 3, (grew, full_decode)
    assert estimate < 4000 * 3000 * 3  # shrink-on-load: less than the decoded frame alone
