"""``python -m nmfaudio.cli``: the same command line as ``nmfaudio``."""

from . import main

if __name__ == "__main__":
    main()
