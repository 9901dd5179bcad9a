"""Front ends of corpusbot: the ``corpusbot`` command line and the Discord bot."""
