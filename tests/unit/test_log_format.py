"""The rare log lines (warnings and errors), written by the standard library's logging in Powertools' shape."""

import logging
import re

from app import app
from chalicelib import observability
from chalicelib.config import settings

ISO_8601_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_a_warning_carries_the_keys_operators_query_and_its_extra_fields(log_lines):
    observability.log_dependency_failure("dynamodb", RuntimeError("no route to host"))
    (line,) = log_lines()
    assert list(line)[:5] == ["level", "location", "message", "timestamp", "service"]
    assert line["level"] == "WARNING" and line["message"] == "dependency check failed"
    assert line["location"].startswith("log_dependency_failure:")
    assert ISO_8601_UTC.match(line["timestamp"])
    assert line["service"] == settings.service_name
    assert line["dependency"] == "dynamodb" and line["error"] == "no route to host"
    assert "exception" not in line


def test_an_error_carries_its_stack_trace_and_the_exception_name(log_lines):
    try:
        raise ZeroDivisionError("division by zero")
    except ZeroDivisionError:
        observability.logger.exception("unhandled error", extra={"request_id": "r-1"})
    (line,) = log_lines()
    assert line["level"] == "ERROR" and line["request_id"] == "r-1"
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert line["exception"].endswith("ZeroDivisionError: division by zero")
    assert line["exception_name"] == "ZeroDivisionError"


def test_extra_fields_that_json_cannot_encode_are_written_as_text(log_lines):
    observability.logger.warning("odd field", extra={"when": object.__new__(object)})
    (line,) = log_lines()
    assert line["when"].startswith("<object object at ")


def test_request_lines_and_warnings_share_one_stream_in_the_order_written(log_lines):
    observability.write_line({"level": "INFO", "message": "first"})
    observability.logger.warning("second")
    observability.write_line({"level": "INFO", "message": "third"})
    assert [line["message"] for line in log_lines()] == ["first", "second", "third"]


def test_the_logger_writes_through_its_one_handler_and_not_through_the_root_logger():
    logger = observability.logger
    # pytest's log capture adds handlers of its own subclasses to non-propagating loggers while a test runs.
    assert [handler for handler in logger.handlers if type(handler) is logging.StreamHandler] == [
        observability.log_handler
    ]
    assert logger.propagate is False
    assert logger.level == logging.getLevelName(settings.log_level)
    assert app.log is logger  # Chalice's app logger: configure_logs=False leaves it as this module built it


def test_a_line_is_one_line_of_json_whatever_the_message_holds(log_lines):
    observability.logger.warning("two\nlines")
    (line,) = log_lines()
    assert line["message"] == "two\nlines"
