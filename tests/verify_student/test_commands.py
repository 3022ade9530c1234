"""What the verify_student commands share: help, batches, pacing, option checks, input files."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.core.management import call_command, load_command_class
from django.core.management.base import CommandError

from verify_student.management.commands._batching import (
    BatchCommand,
    parse_datetime_option,
    read_lines,
    unique,
    whole_number_option,
)

COMMANDS = [
    "retry_failed_photo_verifications",
    "set_software_secure_status",
    "manual_verifications",
    "approve_id_verifications",
    "send_verification_expiry_email",
]


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_is_found_and_explains_itself(name):
    command = load_command_class("verify_student", name)
    text = command.create_parser("manage.py", name).format_help()
    assert command.help.split()[0] in text
    assert len(command.help) > 80
    if name != "set_software_secure_status":
        assert "--batch-size" in text and "--sleep-time" in text
    assert "--dry-run" in text


def test_the_helper_module_is_not_a_command():
    from django.core.management import get_commands

    commands = get_commands()
    assert "_batching" not in commands
    assert {name: commands[name] for name in COMMANDS} == dict.fromkeys(COMMANDS, "verify_student")


class Counting(BatchCommand):
    """A batch command over the numbers 1..--total, recording batches and pauses."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.batches = []
        self.pauses = []
        self.sleep = self.pauses.append

    def add_arguments(self, parser):
        parser.add_argument("--total", type=int, default=5)
        from verify_student.management.commands._batching import add_batch_arguments

        add_batch_arguments(parser, batch_size=2, sleep_time=3)

    def handle(self, *args, **options):
        batch_size, sleep_time = self.batch_options(options)
        items = list(range(1, options["total"] + 1))
        self.run_batches(items, self.batches.append, batch_size, sleep_time)


def run(command, *args, **options):
    out = io.StringIO()
    call_command(command, *args, stdout=out, **options)
    return out.getvalue()


def test_batches_report_progress_and_pause_between_batches_only():
    command = Counting()
    output = run(command)
    assert command.batches == [[1, 2], [3, 4], [5]]
    assert output.splitlines() == ["batch 1/3: 2/5", "batch 2/3: 4/5", "batch 3/3: 5/5"]
    assert command.pauses == [3.0, 3.0]


def test_the_original_underscore_spellings_are_accepted():
    command = Counting()
    run(command, "--batch_size", "4", "--sleep_time", "0.5")
    assert command.batches == [[1, 2, 3, 4], [5]]
    assert command.pauses == [0.5]


def test_no_pause_with_sleep_time_zero_and_nothing_to_do():
    command = Counting()
    run(command, "--sleep-time", "0", "--batch-size", "1")
    assert len(command.batches) == 5
    assert command.pauses == []
    empty = Counting()
    assert run(empty, "--total", "0") == ""
    assert empty.batches == [] and empty.pauses == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"batch_size": 0}, "--batch-size must be a whole number of at least 1, not 0"),
        ({"batch_size": "3"}, "--batch-size must be a whole number"),
        ({"batch_size": True}, "--batch-size must be a whole number"),
        ({"sleep_time": -1}, "--sleep-time must be a number of seconds >= 0, not -1"),
        ({"sleep_time": float("nan")}, "--sleep-time must be a number of seconds"),
        ({"sleep_time": "soon"}, "--sleep-time must be a number of seconds"),
    ],
)
def test_bad_batch_options_are_refused(options, message):
    with pytest.raises(CommandError, match=message):
        run(Counting(), **options)


def test_non_numeric_batch_options_on_the_command_line_are_refused():
    with pytest.raises(CommandError, match="invalid int value"):
        run(Counting(), "--batch-size", "many")
    with pytest.raises(CommandError, match="invalid float value"):
        run(Counting(), "--sleep-time", "soon")


def test_whole_number_option():
    assert whole_number_option(3, "--n", minimum=1) == 3
    with pytest.raises(CommandError, match="--n must be a whole number of at least 2, not 1"):
        whole_number_option(1, "--n", minimum=2)


def test_parse_datetime_option(settings):
    settings.TIME_ZONE = "Europe/Paris"
    assert parse_datetime_option(None, "--x") is None
    assert parse_datetime_option("", "--x") is None
    assert parse_datetime_option("2024-03-01T12:00:00+00:00", "--x") == datetime(
        2024, 3, 1, 12, tzinfo=UTC
    )
    # Naive values are in TIME_ZONE; a date alone is its midnight.
    assert parse_datetime_option("2024-03-01", "--x") == datetime(
        2024, 3, 1, tzinfo=timezone(timedelta(hours=1))
    )
    assert parse_datetime_option(" 2024-03-01 10:30:00 ", "--x") == datetime(
        2024, 3, 1, 9, 30, tzinfo=UTC
    )
    for bad in ["yesterday", "2024-13-01", "01/03/2024"]:
        with pytest.raises(CommandError, match=f"--x: '{bad}' is not an ISO 8601"):
            parse_datetime_option(bad, "--x")


def test_read_lines(tmp_path):
    path = tmp_path / "ids.txt"
    path.write_text("\ufeffa\n\n  b  \n# a comment\nc\n", encoding="utf-8")
    assert read_lines(str(path), "id") == ["a", "b", "c"]


def test_read_lines_errors(tmp_path):
    with pytest.raises(CommandError, match=r"The id file '.*missing.txt' does not exist"):
        read_lines(str(tmp_path / "missing.txt"), "id")
    with pytest.raises(CommandError, match="does not exist or is not a file"):
        read_lines(str(tmp_path), "id")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\xfa not utf-8")
    with pytest.raises(CommandError, match="Cannot read the id file"):
        read_lines(str(binary), "id")


def test_unique_keeps_the_first_occurrence_in_order():
    assert unique(["b", "a", "B", "b", "c"]) == ["b", "a", "B", "c"]
    assert unique(["b", "a", "B", "A"], key=str.lower) == ["b", "a"]
