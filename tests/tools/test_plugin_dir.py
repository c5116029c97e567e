"""TF_PLUGIN_DIR: the mirror's root, its registry.terraform.io folder or a provider folder all name one mirror."""

from pathlib import Path

import pytest

from tools.plugin_dir import NotAProviderMirror, main, mirror_root


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    root = tmp_path / "tf-plugins"
    (root / "registry.terraform.io" / "hashicorp" / "aws" / "5.100.0" / "linux_amd64").mkdir(parents=True)
    return root


@pytest.mark.parametrize(
    "inside",
    [
        "",
        "registry.terraform.io",
        "registry.terraform.io/",
        "registry.terraform.io/hashicorp/aws",
        "registry.terraform.io/hashicorp/aws/5.100.0/linux_amd64",
    ],
)
def test_the_root_and_every_folder_inside_name_the_same_mirror(mirror: Path, inside: str) -> None:
    """Issue 12: TF_PLUGIN_DIR naming registry.terraform.io itself made `terraform init` look one level too deep."""
    assert mirror_root(f"{mirror}/{inside}") == mirror.resolve()


def test_a_folder_that_is_no_mirror_is_refused_with_what_is_meant(tmp_path: Path) -> None:
    with pytest.raises(NotAProviderMirror) as refused:
        mirror_root(tmp_path)
    message = str(refused.value)
    assert str(tmp_path) in message
    assert "the folder that holds registry.terraform.io/hashicorp/aws" in message


def test_as_a_script_it_prints_the_root_or_says_what_is_wrong(
    mirror: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(mirror / "registry.terraform.io")]) == 0
    assert capsys.readouterr().out.strip() == str(mirror.resolve())
    assert main([str(tmp_path / "elsewhere")]) == 1
    assert "is not a Terraform provider mirror" in capsys.readouterr().err
