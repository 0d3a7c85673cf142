#!/usr/bin/env python3
"""The WIT of a stub that exports the wasi:sockets interfaces a component imports.

Reads `wasm-tools component wit COMPONENT.wasm` on stdin; writes the same WIT with its root
world replaced by `world sockets-stub`, which exports exactly the `wasi:sockets/*`
interfaces the component imports, at the versions it imports them (every package they use
is in the input). Then:

    wasm-tools component embed --dummy --world sockets-stub stub.wit -o stub.core.wasm
    wasm-tools component new stub.core.wasm -o stub.wasm      # every function traps
    wac plug COMPONENT.wasm --plug stub.wasm -o plugged.wasm  # no wasi:sockets import left

Used for Python components (componentize-py's libc imports wasi:sockets, which BYOC's
host refuses); see docs/writing-adapters.md. Exits with an error when there is nothing to
stub.
"""

import re
import sys


def main() -> None:
    text = sys.stdin.read()
    try:
        start = text.index("world root {")
        end = text.index("\n}\n", start) + 3
    except ValueError:
        sys.exit("sockets_stub_wit.py: no `world root { ... }` in the input "
                 "(expected the output of `wasm-tools component wit`)")
    sockets = re.findall(r"^  import (wasi:sockets/[^;]+);$", text[start:end], re.M)
    if not sockets:
        sys.exit("sockets_stub_wit.py: the component imports no wasi:sockets interface")
    world = "world sockets-stub {\n" + "".join(f"  export {s};\n" for s in sockets) + "}\n"
    sys.stdout.write(text[:start] + world + text[end:])


if __name__ == "__main__":
    main()
