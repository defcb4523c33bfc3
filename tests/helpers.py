"""Assertions shared by several test files (importable: pytest puts tests/ on the path)."""
import pytest


def assert_raises_naming(call, exc, words) -> None:
    """``call()`` raises ``exc`` whose message contains every string of ``words``
    (the argument's name, the expected and the actual value...)."""
    with pytest.raises(exc) as info:
        call()
    message = str(info.value)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
