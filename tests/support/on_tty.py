"""Runs a command on a pseudo-terminal and types answers to its prompts, as a person at
a terminal would: `on_tty.py PROMPT ANSWER [PROMPT ANSWER ...] -- COMMAND ARGS...`.
Each ANSWER (plus a newline) is typed once PROMPT has appeared. Prints what the
terminal showed and exits with the command's exit code."""

import os
import pty
import sys


def main():
    argv = sys.argv[1:]
    split = argv.index("--")
    pairs, command = argv[:split], argv[split + 1:]
    if len(pairs) % 2:
        sys.exit("on_tty.py: prompts and answers come in pairs")
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(command[0], command)
    shown = b""

    def read():
        try:
            return os.read(fd, 4096)
        except OSError:  # EIO: the command closed the terminal
            return b""

    for prompt, answer in zip(pairs[::2], pairs[1::2]):
        while prompt.encode() not in shown:
            chunk = read()
            if not chunk:
                sys.stdout.write(shown.decode(errors="replace"))
                sys.exit(f"on_tty.py: the command ended before prompting {prompt!r}")
            shown += chunk
        # What came before this prompt is not searched again.
        sys.stdout.write(shown.decode(errors="replace"))
        shown = b""
        os.write(fd, answer.encode() + b"\n")
    while chunk := read():
        shown += chunk
    sys.stdout.write(shown.decode(errors="replace"))
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
