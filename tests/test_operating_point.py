"""AUROC, DeLong's variance and paired test, and the validation threshold, against hand-computed values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import recipe_dict, write_jsonl, write_recipe
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from poc_cli.cli import app
from poc_cli.errors import PocError, RecipeError
from poc_cli.operating_point import (
    auroc,
    choose_threshold,
    delong_paired,
    positive_scores,
    rates_at,
)

# 3 defects and 4 good parts; a tie at 0.4 between a defect and a good part.
SCORES = np.array([0.9, 0.8, 0.4, 0.7, 0.4, 0.2, 0.1])
DEFECT = np.array([True, True, True, False, False, False, False])


def _psi(x: float, y: float) -> float:
    return 1.0 if x > y else 0.5 if x == y else 0.0


def _delong_by_definition(a: np.ndarray, b: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """DeLong's difference and its variance from the pairwise kernel, O(m n): the slow reference."""
    def components(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pos, neg = s[positive], s[~positive]
        return (np.array([np.mean([_psi(x, y) for y in neg]) for x in pos]),
                np.array([np.mean([_psi(x, y) for x in pos]) for y in neg]))
    (a10, a01), (b10, b01) = components(a), components(b)
    m, n = len(a10), len(a01)
    d10, d01 = a10 - b10, a01 - b01
    return float(a10.mean() - b10.mean()), float(np.var(d10, ddof=1) / m + np.var(d01, ddof=1) / n)


def test_auroc_and_its_delong_variance_equal_the_hand_computed_values() -> None:
    """12 pairs: 0.9 and 0.8 outscore every good part (8), 0.4 outscores two and ties one (2.5): 10.5 / 12.
    Components: defects [1, 1, 0.625], good parts [2/3, 5/6, 1, 1]; variance 0.046875/3 + 0.0254630/4."""
    result = auroc(SCORES, DEFECT)
    assert result.value == pytest.approx(0.875) == roc_auc_score(DEFECT, SCORES)
    assert result.variance == pytest.approx(0.046875 / 3 + (0.0763889 / 3) / 4, rel=1e-5)
    half = 1.959964 * result.variance ** 0.5
    assert (result.low, result.high) == (pytest.approx(0.875 - half, rel=1e-5), 1.0)  # clipped at 1


def test_delongs_paired_test_equals_its_definition() -> None:
    generator = np.random.default_rng(0)
    positive = generator.random(60) < 0.3
    a = positive * 0.8 + generator.normal(0, 0.5, 60)
    b = positive * 0.3 + generator.normal(0, 0.5, 60) + 0.2 * a
    paired = delong_paired(a, b, positive)
    difference, variance = _delong_by_definition(a, b, positive)
    assert paired.difference == pytest.approx(difference)
    z = difference / variance ** 0.5
    from scipy.stats import norm

    assert paired.p_value == pytest.approx(2 * norm.sf(abs(z)), rel=1e-6)
    assert paired.low < difference < paired.high
    same = delong_paired(a, a, positive)
    assert (same.difference, same.p_value) == (0.0, 1.0)


def test_the_positive_score_follows_from_the_stored_prediction() -> None:
    scores = positive_scores([0, 1, 0], [0.9, 0.7, 0.6], positive=0)
    assert scores.tolist() == pytest.approx([0.9, 0.3, 0.6])


def test_the_threshold_is_the_highest_that_catches_enough_or_the_lowest_under_the_ceiling() -> None:
    # Catch 2 of 3 defects: the highest threshold doing so is 0.8 (flags 0.9 and 0.8, no good part).
    chosen = choose_threshold(SCORES, DEFECT, detection=0.6)
    assert (chosen.threshold, chosen.detection, chosen.false_alarm) == (0.8, pytest.approx(2 / 3), 0.0)
    # Catch every defect: down to 0.4, which also flags the good part at 0.4 and the one at 0.7.
    every = choose_threshold(SCORES, DEFECT, detection=1.0)
    assert (every.threshold, every.false_alarm) == (0.4, 0.5)
    # At most a quarter of good parts flagged: the lowest such threshold is 0.7 (flags one of four).
    ceiling = choose_threshold(SCORES, DEFECT, false_alarm=0.25)
    assert (ceiling.threshold, ceiling.detection, ceiling.false_alarm) == (0.7, pytest.approx(2 / 3), 0.25)
    on_test = rates_at(np.array([0.85, 0.75, 0.1, 0.95]), np.array([True, False, True, False]), chosen.threshold)
    assert (on_test.true_positives, on_test.false_negatives, on_test.false_positives, on_test.true_negatives) == (
        1, 1, 1, 1)
    detection, false_alarm = on_test.intervals()
    assert detection[0] < 0.5 < detection[1] and false_alarm[0] < 0.5 < false_alarm[1]


def test_a_target_no_threshold_reaches_names_the_closest() -> None:
    with pytest.raises(PocError, match=r"no threshold on the validation split reaches a detection rate of at least "
                                       r"100.0% with false alarms at most 10.0%; the closest: detection 100.0% with "
                                       r"false alarms 50.0% \(threshold 0.4\)"):
        choose_threshold(SCORES, DEFECT, detection=1.0, false_alarm=0.1)
    with pytest.raises(PocError, match="needs both classes"):
        choose_threshold(SCORES[:2], DEFECT[:2], detection=0.9)


def _record(validation: tuple[list[int], list[int], list[float]], test: tuple[list[int], list[int], list[float]]):
    """A stored record holding the two splits' predictions (labels "defect", "ok"; defect is class 0)."""
    from poc_cli.records.record import StoredRecord
    from poc_cli.records.sections import DataSection, Predictions

    def split(rows: tuple[list[int], list[int], list[float]]) -> Predictions:
        y_true, y_pred, confidence = rows
        return Predictions(y_true=y_true, y_pred=y_pred, confidence=confidence)

    return StoredRecord.model_construct(job_id="j", method="lora", seed=0, data=DataSection(labels=["defect", "ok"]),
                                        predictions={"validation": split(validation), "test": split(test)})


def test_the_threshold_comes_from_validation_and_a_changed_test_split_does_not_move_it() -> None:
    from poc_cli.business_spec import BusinessSpec
    from poc_cli.operating_point import flagged_answers, seed_point

    spec = BusinessSpec(positive_class="defect", cost_missed=500, cost_false_alarm=20, monthly_items=1000,
                        minutes_per_item=1, hourly_rate=40, required_detection_rate=0.6)
    # validation: defects scored 0.9, 0.8, 0.4 (as P(defect)); good parts 0.7, 0.4, 0.2, 0.1
    validation = ([0, 0, 0, 1, 1, 1, 1], [0, 0, 1, 0, 1, 1, 1], [0.9, 0.8, 0.6, 0.7, 0.6, 0.8, 0.9])
    first = seed_point(spec, _record(validation, ([0, 1, 0, 1], [0, 0, 1, 1], [0.85, 0.75, 0.9, 0.95])))
    other = seed_point(spec, _record(validation, ([0, 0, 1], [0, 1, 1], [0.99, 0.7, 0.6])))
    assert first.validation.threshold == other.validation.threshold == 0.8
    assert (first.test.true_positives, first.test.false_positives) == (1, 0)  # 0.85 flagged, 0.75 below 0.8
    assert (other.test.true_positives, other.test.false_negatives) == (1, 1)
    record = _record(validation, ([0, 1, 0, 1], [0, 0, 1, 1], [0.85, 0.75, 0.9, 0.95]))
    assert flagged_answers(first, record, positive=0) == [0, 1, 1, 1]
    both = spec.model_copy(update={"required_detection_rate": 1.0, "max_false_alarm_rate": 0.1})
    with pytest.raises(RecipeError, match=r"^business: lora seed 0: no threshold on the validation split reaches"):
        seed_point(both, record)


BUSINESS = {"positive_class": "positive", "cost_missed": 500, "cost_false_alarm": 20, "monthly_items": 1000,
            "minutes_per_item": 1, "hourly_rate": 40}


def test_an_operating_point_without_a_validation_split_is_one_line_naming_the_field(
        tmp_path: Path, tiny_model_dir: Path, tiny_data: dict[str, Path]) -> None:
    recipe = recipe_dict(tiny_model_dir, tiny_data, business={**BUSINESS, "max_false_alarm_rate": 0.05})
    result = CliRunner().invoke(app, ["plan", str(write_recipe(tmp_path / "r.yaml", recipe)), "--no-estimate"])
    assert result.exit_code == 2 and result.output.strip().splitlines() == [
        f"error: {tmp_path / 'r.yaml'}: business.max_false_alarm_rate: the threshold is chosen on a validation split, "
        "never on test; set data.validation_fraction (or data.validation)"]


def test_an_operating_point_on_three_classes_is_refused(tmp_path: Path, tiny_model_dir: Path) -> None:
    rows = [{"text": f"word{i % 7} item", "label": ["positive", "negative", "neutral"][i % 3]} for i in range(60)]
    data = {"train": write_jsonl(tmp_path / "train.jsonl", rows), "test": write_jsonl(tmp_path / "test.jsonl", rows)}
    recipe = recipe_dict(tiny_model_dir, data, business={**BUSINESS, "required_detection_rate": 0.9})
    recipe["data"]["validation_fraction"] = 0.2
    result = CliRunner().invoke(app, ["plan", str(write_recipe(tmp_path / "r.yaml", recipe)), "--no-estimate"])
    assert result.exit_code == 2 and result.output.strip().splitlines() == [
        "error: business.required_detection_rate: a threshold on the positive class's score needs two classes; "
        "the data has 3"]
