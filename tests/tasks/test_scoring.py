"""rnnkit.tasks.scoring: token and sequence error rates against the closest reference."""
import pytest

from rnnkit.tasks.scoring import edit_distance, error_rates

pytestmark = pytest.mark.slow


def test_error_rates_score_each_output_against_its_closest_reference():
    assert edit_distance("abc", "") == 3 and edit_distance(["K", "AE", "T"], ["K", "AA", "T"]) == 1
    rates = error_rates([["T", "AH", "M", "EY", "T", "OW"]],
                        [[["T", "AH", "M", "AA", "T", "OW"], ["T", "AH", "M", "EY", "T", "OW"]]])
    assert rates == {"token_error_rate": 0.0, "sequence_error_rate": 0.0}
    rates = error_rates([["K", "AE"], ["D", "AO", "G"]], [[["K", "AE", "T"]], [["D", "AO", "G"]]])
    assert rates["token_error_rate"] == pytest.approx(1 / 6) and rates["sequence_error_rate"] == 0.5
