"""rnnkit.tools.figures: the confusion matrix is written as a PNG that matplotlib reads back, at a size that grows with
the number of classes."""
import matplotlib.image
import pytest
import torch

from rnnkit.tools.figures import confusion_figure

PNG = b"\x89PNG\r\n\x1a\n"


def test_confusion_figure_writes_a_png_of_the_matrix(tmp_path):
    confusion = torch.tensor([[50, 3, 0], [4, 20, 1], [0, 0, 0]])        # the last class never occurs: a zero row
    path = confusion_figure(confusion, ["Arabic", "Chinese", "Czech"], tmp_path / "confusion.png")
    assert path == tmp_path / "confusion.png" and path.read_bytes()[:8] == PNG
    assert matplotlib.image.imread(path).shape[2] in (3, 4)
    assert [p.name for p in tmp_path.iterdir()] == ["confusion.png"]          # no temporary file left


def test_confusion_figure_grows_with_the_classes_and_takes_fifty(tmp_path):
    g = torch.Generator().manual_seed(0)
    sizes = {}
    for C in (3, 18, 50):
        confusion = torch.randint(0, 30, (C, C), generator=g) + 200 * torch.eye(C, dtype=torch.long)
        path = confusion_figure(confusion, [f"language {k}" for k in range(C)], tmp_path / f"c{C}.png")
        sizes[C] = matplotlib.image.imread(path).shape[:2]
    assert sizes[3][0] < sizes[18][0] < sizes[50][0] and sizes[3][1] < sizes[18][1] < sizes[50][1]


def test_confusion_figure_refuses_a_matrix_that_does_not_fit_its_labels(tmp_path):
    with pytest.raises(ValueError, match=r"expected a \(3, 3\) confusion matrix for 3 labels; received shape \(2, 2\)"):
        confusion_figure(torch.zeros(2, 2), ["a", "b", "c"], tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()
