from desktopchat.cli import main

raise SystemExit(main())
