import pytest

from anomaly_lab.core.errors import ConfigError, check_interval


def test_check_interval_accepts_a_number_or_an_ordered_pair():
    assert check_interval("p", 3) == (3.0, 3.0)
    assert check_interval("p", [1, 2.5]) == (1.0, 2.5)
    assert check_interval("p", (2, 4), 1, integer=True) == (2, 4)
    assert check_interval("p", [2, 4], as_float=False) == (2, 4)


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [
        ("ab", {}, r"p='ab' must be a number or a \[low, high\] pair"),
        ([1, 2, 3], {}, "must be a number or a"),
        ([True, 2], {}, "must be a number"),
        ([1.5, 2], {"integer": True}, "must be an integer"),
        ([3, 1], {}, r"p=\[3, 1\] has low > high"),
        ([-1, 1], {"low": 0}, r"p=\[-1, 1\] is out of range; allowed: 0 <= low <= high"),
        (None, {}, "must be a number"),
    ],
)
def test_check_interval_refuses_with_one_line(value, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        check_interval("p", value, **kwargs)
