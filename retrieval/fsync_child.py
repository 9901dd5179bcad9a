"""The child of :meth:`retrieval.store.Store.synced_in_background`: ``fsync`` the files
given every EVERY seconds until its standard input reaches its end (the parent closed
it, or died). Run as ``python -I -m retrieval.fsync_child EVERY PATH...``; it imports
nothing of corpusbot, so it starts in a few milliseconds."""

import os
import select
import sys


def main(argv: list[str]) -> None:
    every, paths = float(argv[0]), argv[1:]
    files = [os.open(p, os.O_RDONLY) for p in paths]
    while not select.select([sys.stdin], [], [], every)[0]:
        for fd in files:
            os.fsync(fd)


if __name__ == "__main__":
    main(sys.argv[1:])
