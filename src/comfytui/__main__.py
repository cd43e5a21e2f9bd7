"""``python -m comfytui``."""

from comfytui.cli import main

raise SystemExit(main())
