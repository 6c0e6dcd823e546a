"""Run a program as an interactive shell runs a command: the program is not the
terminal's session leader, so its death hangs nothing up (a session leader's exit
SIGHUPs the terminal's foreground group, which a tree killed from another shell
never gets). Prints ``PROGRAM EXITED <code>`` when it ends, then waits for a line on
the terminal, as a shell's next prompt does, and prints what the terminal was left
in.

    python like_a_shell.py PROGRAM [ARGS...]
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _terminal_state import print_terminal_state

code = subprocess.call([sys.executable, *sys.argv[1:]])
print(f"PROGRAM EXITED {code}", flush=True)
sys.stdin.readline()
print_terminal_state()
