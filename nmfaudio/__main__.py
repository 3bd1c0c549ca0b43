"""``python -m nmfaudio``: the same command line as the ``nmfaudio`` console script."""

from .cli import main

if __name__ == "__main__":
    main()
