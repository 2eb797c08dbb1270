"""bench.wrk reads wrk's --latency report (text captured from wrk 4.1.0)."""

import pytest

from bench.wrk import parse_report

REPORT = """Running 1s test @ http://127.0.0.1:18999/nonexistent
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     0.96ms    1.29ms  13.15ms   91.78%
    Req/Sec     2.66k     0.94k    3.88k    50.00%
  Latency Distribution
     50%  542.00us
     75%  834.00us
     90%    1.85ms
     99%    1.20s
  2650 requests in 1.00s, 1.31MB read
  Socket errors: connect 0, read 3, write 0, timeout 7
  Non-2xx or 3xx responses: 2650
Requests/sec:   2648.63
Transfer/sec:      1.31MB
"""


def test_reads_rate_percentiles_in_milliseconds_and_errors():
    result = parse_report(REPORT)

    assert result.requests == 2650
    assert result.duration_s == 1.0
    assert result.requests_per_second == 2648.63
    assert result.latency_ms == {
        "p50": 0.542,
        "p75": 0.834,
        "p90": 1.85,
        "p99": 1200.0,
        "avg": 0.96,
        "max": 13.15,
    }
    assert result.non_2xx_3xx == 2650
    assert result.socket_errors == {"connect": 0, "read": 3, "write": 0, "timeout": 7}
    assert result.failed == 2660


def test_a_clean_run_has_no_failures():
    clean = REPORT.replace("  Socket errors: connect 0, read 3, write 0, timeout 7\n", "")
    clean = clean.replace("  Non-2xx or 3xx responses: 2650\n", "")

    assert parse_report(clean).failed == 0


def test_refuses_a_report_without_latency_distribution():
    without = "".join(line for line in REPORT.splitlines(True) if "%  " not in line)
    with pytest.raises(ValueError, match="without latency percentiles"):
        parse_report(without)


def test_refuses_text_that_is_not_a_wrk_report():
    with pytest.raises(ValueError, match="not a wrk report"):
        parse_report("unable to connect to 127.0.0.1:1 Connection refused\n")
