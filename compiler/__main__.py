"""`python -m compiler`: the modelkiln command line, for when its script is not on PATH."""

from compiler.cli import main

if __name__ == "__main__":
    main(prog_name="modelkiln")
