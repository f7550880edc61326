from orderstatus.cli import main

raise SystemExit(main())
