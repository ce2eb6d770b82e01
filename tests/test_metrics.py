"""Clara metric names -> cumulative MONAI metrics, checked against hand-computed values."""

from __future__ import annotations

import pytest
import torch

from mmar_hydra.components.metrics import (
    CLARA_METRIC_NAMES,
    build_metric,
    is_clara_metric,
    metric_value,
)
from mmar_hydra.errors import ComponentError

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")  # MONAI's own deprecations


def onehot(mask: torch.Tensor) -> torch.Tensor:
    """(H, W) 0/1 mask -> (2, H, W) one-hot, as Clara's post transforms produced."""
    mask = mask.float()
    return torch.stack([1 - mask, mask])


def square(rows: slice, cols: slice, size: int = 8) -> torch.Tensor:
    mask = torch.zeros(size, size)
    mask[rows, cols] = 1
    return mask


def pixel(r: int, c: int) -> torch.Tensor:
    return square(slice(r, r + 1), slice(c, c + 1))


def test_names():
    assert set(CLARA_METRIC_NAMES) == {
        "MeanDice",
        "Accuracy",
        "ROCAUC",
        "HausdorffDistance",
        "SurfaceDistance",
        "MeanIoU",
        "ConfusionMatrix",
    }
    assert is_clara_metric("MeanDice") and is_clara_metric("monai.handlers.MeanDice")
    assert not is_clara_metric("Dice")


def test_mean_dice_of_known_masks_with_and_without_background():
    pred = square(slice(0, 2), slice(0, 2))  # 4 pixels
    label = square(slice(0, 2), slice(1, 3))  # 4 pixels, 2 shared
    fg_dice = 2 * 2 / (4 + 4)
    bg_dice = 2 * 58 / (60 + 60)  # 64 - 4 each, 58 shared
    dice = build_metric("MeanDice", {"include_background": False, "output_transform": "x"})
    dice(y_pred=[onehot(pred)], y=[onehot(label)])
    assert metric_value(dice.aggregate()) == pytest.approx(fg_dice)
    both = build_metric("MeanDice", {"include_background": True})
    both(y_pred=[onehot(pred)], y=[onehot(label)])
    assert metric_value(both.aggregate()) == pytest.approx((fg_dice + bg_dice) / 2)
    assert both.get_buffer().shape == (1, 2)  # one row per case, one column per class


def test_dice_averages_cases_and_resets():
    dice = build_metric("MeanDice", {"include_background": False})
    perfect = onehot(pixel(1, 1))
    dice(y_pred=[perfect, onehot(pixel(5, 5))], y=[perfect, perfect])
    assert dice.get_buffer().squeeze(1).tolist() == [1.0, 0.0]
    assert metric_value(dice.aggregate()) == pytest.approx(0.5)
    dice.reset()
    dice(y_pred=[perfect], y=[perfect])
    assert metric_value(dice.aggregate()) == pytest.approx(1.0)


def test_accuracy_binary_one_hot_is_share_of_equal_elements():
    label = onehot(square(slice(0, 4), slice(0, 8)))
    wrong_row = onehot(square(slice(0, 3), slice(0, 8)))  # 8 of 64 pixels wrong, both channels
    acc = build_metric("Accuracy", {"output_transform": "#x", "device": "cpu"})
    acc(y_pred=[label, wrong_row], y=[label, label])
    assert acc.get_buffer().squeeze(1).tolist() == [1.0, 56 / 64]
    assert metric_value(acc.aggregate()) == pytest.approx((1 + 56 / 64) / 2)


def test_accuracy_weighs_cases_by_size_like_ignite():
    ignite_metrics = pytest.importorskip("ignite.metrics")
    big = onehot(square(slice(0, 4), slice(0, 8)))  # 2x8x8 = 128 elements, all right
    small_label = onehot(pixel(0, 0)[:2, :2])  # 2x2x2 = 8 elements
    small_pred = onehot(pixel(1, 1)[:2, :2])  # 4 of 8 elements wrong
    ours = build_metric("Accuracy", {})
    ours(y_pred=[big], y=[big])
    ours(y_pred=[small_pred], y=[small_label])
    ignite = ignite_metrics.Accuracy()
    ignite.update((big[None], big[None]))
    ignite.update((small_pred[None], small_label[None]))
    assert metric_value(ours.aggregate()) == pytest.approx(ignite.compute())
    assert metric_value(ours.aggregate()) == pytest.approx((128 + 4) / (128 + 8))
    assert ours.get_buffer().squeeze(1).tolist() == [1.0, 0.5]


def test_accuracy_class_index_labels_and_multilabel():
    scores = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.5, 0.4, 0.1]])
    classes = torch.tensor([0, 1, 1, 0])  # third is wrong
    acc = build_metric("Accuracy", {})
    acc(y_pred=scores, y=classes)  # y has one dim fewer: argmax over channels
    assert metric_value(acc.aggregate()) == pytest.approx(0.75)
    seg = build_metric("Accuracy", {})
    pred = onehot(square(slice(0, 2), slice(0, 8)))
    seg(y_pred=[pred], y=[square(slice(0, 4), slice(0, 8))[None]])  # (1, H, W) class labels
    assert metric_value(seg.aggregate()) == pytest.approx(48 / 64)
    multi = build_metric("Accuracy", {"is_multilabel": True})
    y = torch.tensor([[1, 0, 1], [0, 1, 1]])
    multi(y_pred=torch.tensor([[1, 0, 1], [0, 1, 0]]), y=y)  # a row counts only if all match
    assert metric_value(multi.aggregate()) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="does not fit"):
        build_metric("Accuracy", {})(y_pred=torch.zeros(2, 3), y=torch.zeros(2, 4))


def test_accuracy_empty_is_nan():
    assert torch.isnan(build_metric("Accuracy", {}).aggregate())


def test_rocauc_hand_computed():
    auc = build_metric("ROCAUC", {"output_transform": "#x"})
    auc(y_pred=torch.tensor([[0.1], [0.4], [0.35], [0.8]]), y=torch.tensor([[0], [0], [1], [1]]))
    assert metric_value(auc.aggregate()) == pytest.approx(0.75)  # 3 of 4 pairs ordered


@pytest.mark.parametrize("name", ["HausdorffDistance", "SurfaceDistance"])
def test_distances_of_single_pixels_three_apart(name):
    metric = build_metric(name, {"include_background": False, "save_details": True})
    metric(y_pred=[onehot(pixel(2, 2))], y=[onehot(pixel(2, 5))])
    assert metric_value(metric.aggregate()) == pytest.approx(3.0)
    assert metric.get_buffer().shape == (1, 1)


def test_mean_iou_and_confusion_matrix():
    pred = square(slice(0, 2), slice(0, 2))
    label = square(slice(0, 2), slice(1, 3))  # 2 shared of 6 in the union
    iou = build_metric("MeanIoU", {"include_background": False})
    iou(y_pred=[onehot(pred)], y=[onehot(label)])
    assert metric_value(iou.aggregate()) == pytest.approx(2 / 6)
    cm = build_metric(
        "ConfusionMatrix",
        {"include_background": False, "metric_name": ["sensitivity", "precision"]},
    )
    cm(y_pred=[onehot(square(slice(0, 1), slice(0, 2)))], y=[onehot(pred)])  # TP 2, FN 2, FP 0
    aggregated = cm.aggregate()
    assert isinstance(aggregated, list) and metric_value(aggregated) == pytest.approx(0.5)
    assert float(aggregated[1]) == pytest.approx(1.0)


def test_unknown_metric_and_args_are_component_errors():
    with pytest.raises(ComponentError) as err:
        build_metric("MeanDyce", {}, where="validate.key_metric", file="c.json")
    assert err.value.path == "validate.key_metric.name" and "MeanDice" in err.value.expected
    with pytest.raises(ComponentError) as err:
        build_metric("MeanDice", {"include_backgrnd": False}, where="validate.key_metric")
    e = err.value
    assert e.path == "validate.key_metric.args.include_backgrnd"
    assert e.fix == "did you mean 'include_background'?" and "accepts:" in e.expected
    with pytest.raises(ComponentError, match="not a confusion-matrix metric"):
        build_metric("ConfusionMatrix", {"metric_name": "sensitivty"})
    with pytest.raises(ComponentError, match="reduction 'avg'"):
        build_metric("HausdorffDistance", {"reduction": "avg"})


def test_metric_value_reduces_what_aggregate_returns():
    assert metric_value(torch.tensor(0.25)) == 0.25
    assert metric_value(torch.tensor([0.2, float("nan"), 0.4])) == pytest.approx(0.3)
    assert metric_value((torch.tensor(0.5), torch.tensor(3.0))) == 0.5  # get_not_nans=True
    assert metric_value([torch.tensor([0.7])]) == pytest.approx(0.7)
    assert metric_value(0.9) == 0.9
    assert metric_value(torch.tensor([])) != metric_value(torch.tensor([]))  # nan
