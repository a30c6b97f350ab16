"""`python -m config --env-example` prints .env.example from the setting declarations."""

import sys

from config.settings import env_example

if __name__ == "__main__":
    if sys.argv[1:] != ["--env-example"]:
        sys.exit("usage: python -m config --env-example")
    sys.stdout.write(env_example())
