"""The example configuration in deploy/ loads and equals the defaults it claims to show."""

from parallax.config import Settings, load_settings


def test_the_example_configuration_is_valid_and_shows_the_defaults(repo_root):
    assert load_settings(repo_root / "deploy" / "parallax.toml", env={}) == Settings()


def test_the_example_collector_configuration_is_valid(repo_root):
    settings = load_settings(repo_root / "deploy" / "collector.toml", env={})
    assert settings.collector.hardware_tier == "device"
    assert settings.collector.backend


def test_the_example_fleet_policy_is_valid(repo_root):
    from store.fleet.policy_file import load_policy

    assert load_policy(repo_root / "deploy" / "fleet-policy.toml").sampling_ratio == 1.0
