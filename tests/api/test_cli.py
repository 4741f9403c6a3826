"""The `hcc` command: keys, users, migrations, settings."""

from sqlalchemy import select

from api.cli import main
from core.models import ApiClient, User
from core.security import split_api_key


def test_api_keys_create_prints_the_key_alone(runner, session):
    result = runner.invoke(main, ["api-keys", "create", "--name", "Hệ thống một cửa"], catch_exceptions=False)
    assert result.exit_code == 0
    key = result.stdout.strip()
    assert "\n" not in key and split_api_key(key)
    client = session.scalars(select(ApiClient)).one()
    assert client.name == "Hệ thống một cửa" and key not in (client.key_hash, client.key_prefix)


def test_users_create_makes_an_admin_who_can_sign_in(runner, session, client):
    result = runner.invoke(main, ["users", "create", "quantri", "--role", "admin", "--password", "mật-khẩu-đủ-dài",
                                  "--name", "Trần Thị Bình"])
    assert result.exit_code == 0, result.output
    assert session.scalars(select(User)).one().roles == ["admin"]
    from tests.factories import sign_in

    assert sign_in(client, "quantri").status_code == 302


def test_users_create_refuses_an_unknown_centre(runner):
    result = runner.invoke(main, ["users", "create", "x", "--role", "admin", "--password", "12345678",
                                  "--centre", "NOWHERE"])
    assert result.exit_code != 0 and "NOWHERE" in result.output


def test_settings_lists_every_setting(runner):
    result = runner.invoke(main, ["settings", "--markdown"])
    assert "`HCC_DATABASE_URL`" in result.output and "`HCC_SECRET_KEY`" in result.output


def test_production_does_not_guess_the_centre_of_a_new_key_or_user(runner, settings, session):
    settings.env = "production"
    key = runner.invoke(main, ["api-keys", "create", "--name", "Một cửa"])
    user = runner.invoke(main, ["users", "create", "x", "--role", "admin", "--password", "mật-khẩu-đủ-dài"])
    assert key.exit_code != 0 and "--centre" in key.output
    assert user.exit_code != 0 and "--centre" in user.output
    named = runner.invoke(main, ["api-keys", "create", "--name", "Một cửa", "--centre", "DEMO-HN"])
    assert named.exit_code == 0, named.output
    assert session.scalars(select(ApiClient)).one().name == "Một cửa"
