import pytest

from anomaly_lab.core.errors import ConfigError
from anomaly_lab.core.registry import Registry


def test_register_keeps_order_defaults_and_summary():
    reg = Registry("test kind")

    @reg.register("b", defaults={"x": 1})
    def b():
        """Second letter.

        More text."""

    reg.add("a", len, summary="length")
    assert reg.names == ("b", "a")
    assert reg["b"].obj is b and reg["b"].defaults == {"x": 1} and reg["b"].summary == "Second letter."
    assert reg["a"].summary == "length"
    assert reg.index("a") == 1 and "a" in reg and len(reg) == 2 and list(reg) == ["b", "a"]


def test_unknown_name_is_a_config_error_listing_choices():
    reg = Registry("test kind")
    reg.add("a", 1)
    with pytest.raises(ConfigError, match=r"test kind 'z' is not known; choose one of \['a'\]"):
        reg["z"]
    with pytest.raises(ConfigError):
        reg.index("z")
    with pytest.raises(ConfigError):
        reg[["unhashable"]]


def test_duplicate_name_refused():
    reg = Registry("test kind")
    reg.add("a", 1)
    with pytest.raises(ValueError, match="registered twice"):
        reg.add("a", 2)
