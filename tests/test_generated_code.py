"""Generated protobuf code must match its .proto sources (run `make proto` to refresh)."""

from tools.protogen import stale_files


def test_generated_code_is_up_to_date():
    assert stale_files() == [], "stale generated code: run `make proto`"
