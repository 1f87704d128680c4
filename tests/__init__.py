"""segcli's tests (a package, so that `tests.conftest` is ours even beside a site-packages `tests`)."""
