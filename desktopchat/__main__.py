"""``python -m desktopchat``: the CLI and the window, or the app's own engine process and
file reader (its child processes)."""

import sys

if sys.argv[1:2] == ["--engine-host"]:  # the app's own engine process (see ProcessEngine)
    from desktopchat.core.inference.engine_host import main
elif sys.argv[1:2] == ["--extract-worker"]:  # the indexer's reader (see extract_worker)
    from desktopchat.core.documents.extract_worker import main
else:
    from desktopchat.cli import main

raise SystemExit(main())
