"""A click CLI with a --pdb flag: any crash, in the sync code before trio.run() or
in the actor tree, lands in a post-mortem REPL instead of a bare traceback.

    python click_app.py 3/4          # ratio = 0.75
    python click_app.py 3/0          # ZeroDivisionError, plain traceback
    python click_app.py --pdb 3/0    # the REPL at the raising frame (or DEVX_PDB=1)
"""

import click
import trio

import devx
from devx.debug import maybe_open_crash_handler


def parse_ratio(text: str) -> float:
    num, den = (int(part) for part in text.split("/"))
    return num / den


async def report(value: float, debug: bool) -> None:
    # the same flag turns on the runtime's debugger for the tree
    async with devx.open_root_actor(debug_mode=debug):
        await trio.sleep(0)
        click.echo(f"ratio = {value}")


@click.command()
@click.argument("ratio")
@click.option("--pdb", is_flag=True, envvar="DEVX_PDB", help="Post-mortem REPL on a crash.")
def main(ratio: str, pdb: bool) -> None:
    with maybe_open_crash_handler(pdb=pdb):
        value = parse_ratio(ratio)
        trio.run(report, value, pdb)


if __name__ == "__main__":
    main()
