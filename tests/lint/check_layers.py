#!/usr/bin/env python3
"""Checks docs/design.md's Layers table on src/: every `#include "folder/..."` of a file points at
its own folder or at one its layer may use. Prints each include that does not, and exits 1."""
import os
import re
import sys

# The folder (or file) a layer may include, besides itself: docs/design.md, "Layers".
ALLOWED = {
    "cli": ["commands", "util"],
    "commands": ["verify", "pipeline", "target", "backup", "sources", "core", "util"],
    "verify": ["target", "sources", "core", "util"],
    "pipeline": ["sources/source.hpp", "core", "util"],
    "target": ["core", "util"],
    "backup": ["core", "util"],
    "sources/backup": ["sources", "backup", "core", "util"],
    "sources": ["core", "util"],
    "core": ["util"],
    "util": [],
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def layer_of(rel):
    for layer in sorted(ALLOWED, key=len, reverse=True):  # sources/backup before sources
        if rel == layer or rel.startswith(layer + "/"):
            return layer
    return None


def main(src):
    bad = []
    for root, _, files in os.walk(src):
        for f in sorted(files):
            if not f.endswith((".cpp", ".hpp", ".hpp.in")):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, src)
            layer = layer_of(rel)
            if layer is None:
                bad.append("%s: in no layer of docs/design.md" % rel)
                continue
            # A layer's own files; sources/ subfolders are one layer (they share sources/source.hpp).
            own = "sources" if layer.startswith("sources") else layer
            with open(path, encoding="utf-8") as fh:
                for n, line in enumerate(fh, 1):
                    m = INCLUDE.match(line)
                    if not m or "/" not in m.group(1):
                        continue  # "version_info.hpp" and the like: generated beside the file
                    inc = m.group(1)
                    if inc.startswith(own + "/") or any(inc == a or inc.startswith(a + "/")
                                                        for a in ALLOWED[layer]):
                        continue
                    bad.append("%s:%d: includes %s (%s/ may include %s)" %
                               (rel, n, inc, layer, ", ".join(ALLOWED[layer]) or "nothing of src/"))
    for b in bad:
        print(b)
    print("%d include(s) against the layers" % len(bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else
                  os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src")))
