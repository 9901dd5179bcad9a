"""``python -m bot [--sync]`` starts the Discord bot (same as ``corpusbot serve``)."""

from bot.app import main

raise SystemExit(main())
