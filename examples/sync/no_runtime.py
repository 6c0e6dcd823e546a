"""pause_from_sync() with no runtime: a clear error, or a plain pdbp REPL with
allow_no_runtime=True."""

import devx


def main() -> None:
    try:
        devx.pause_from_sync()
    except devx.NoRuntime as err:
        print(f"error: {err}", flush=True)
    answer = 42
    devx.pause_from_sync(allow_no_runtime=True)
    print(f"answer is {answer}", flush=True)


if __name__ == "__main__":
    main()
