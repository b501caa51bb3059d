from musicdrops.catalog.http import retry_after_seconds


def test_retry_after_reads_seconds_and_dates_caps_them_and_ignores_garbage():
    assert retry_after_seconds("2", longest=60) == 2.0
    assert retry_after_seconds("3600", longest=60) == 60.0
    assert retry_after_seconds("-5", longest=60) == 0.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", longest=60) == 0.0  # in the past
    for garbage in ("", None, "soon", "nan", "Wed, 99 Foo"):
        assert retry_after_seconds(garbage, longest=60) is None
