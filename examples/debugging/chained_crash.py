"""A child's error raised from another (`raise ... from`): its crash REPL, on Python
3.13, has pdb's `exceptions` (list the chain, `exceptions N` moves to one) and
`$_exception`, as `pdb.pm()` there; then the root's REPL on the boxed error."""

import trio

import devx

PRICES = {"apple": 3}


def price(item: str) -> int:
    try:
        return PRICES[item]
    except KeyError as exc:
        raise ValueError(f"no price for {item!r}") from exc


async def total(items: list[str]) -> int:
    return sum(price(item) for item in items)


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        await an.run_in_actor(total, name="till", items=["apple", "pear"])


if __name__ == "__main__":
    trio.run(main)
