"""A typer CLI with a --pdb flag: any crash, in the sync code before trio.run() or
in the actor tree, lands in a post-mortem REPL instead of a bare traceback.

    python typer_app.py 3/4          # ratio = 0.75
    python typer_app.py --pdb 3/0    # the REPL at the raising frame (or DEVX_PDB=1)
"""

from typing import Annotated

import trio
import typer

import devx
from devx.debug import maybe_open_crash_handler

app = typer.Typer(pretty_exceptions_enable=False)


def parse_ratio(text: str) -> float:
    num, den = (int(part) for part in text.split("/"))
    return num / den


async def report(value: float, debug: bool) -> None:
    async with devx.open_root_actor(debug_mode=debug):
        await trio.sleep(0)
        typer.echo(f"ratio = {value}")


@app.command()
def main(
    ratio: str,
    pdb: Annotated[bool, typer.Option("--pdb", envvar="DEVX_PDB", help="REPL on a crash.")] = False,
) -> None:
    with maybe_open_crash_handler(pdb=pdb):
        value = parse_ratio(ratio)
        trio.run(report, value, pdb)


if __name__ == "__main__":
    app()
