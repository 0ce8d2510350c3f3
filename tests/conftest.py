"""Every test gets the shared fixtures of tests/support (the trakt emulator, the app configured against it,
the users, and the browser of the browser tests); helpers are imported from tests.support."""

pytest_plugins = ["tests.support.fixtures", "tests.support.browser"]
