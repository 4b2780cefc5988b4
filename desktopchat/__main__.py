"""``python -m desktopchat``: the CLI and the window, or the app's own engine process."""

import sys

if sys.argv[1:2] == ["--engine-host"]:  # the app's own engine process (see ProcessEngine)
    from desktopchat.core.inference.engine_host import main
else:
    from desktopchat.cli import main

raise SystemExit(main())
