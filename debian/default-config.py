#!/usr/bin/python3
"""Writes /etc/tallyd/tallyd.yaml: every config key at its built-in default, commented out.

Run at package build time on the binary just built (debian/rules), so the file cannot drift
from the binary's defaults. The source is `tallyd --help=markdown`, the key table that
config_test already holds the README to: one row per key, `| `key` | `--flag` | `default` |
allowed | live/restart | meaning |`, cells split on `|` not preceded by a backslash.

Every line of the output starts with `#`; removing exactly that first `#` from each line gives
YAML that tallyd reads back as its defaults (tests/package/default_config_test checks it), since
prose lines are `#` + a YAML comment (`## ...`, `#  # ...`) and each backend section carries its `enabled` key.

Usage: default-config.py TALLYD_BINARY > tallyd.yaml
"""
import re
import textwrap
import subprocess
import sys

HEADER = """\
## tallyd's configuration: read by `tallyd --config /etc/tallyd/tallyd.yaml` (tallyd.service)
## and read again on SIGHUP (`systemctl reload tallyd`). Flags in ARGS= of /etc/default/tallyd
## override it (`--flush_interval=2s`); `tallyd --check-config --config FILE` validates a file.
##
## Every key is shown below at its built-in default, commented out (generated from
## `tallyd --help=markdown` of this build), so this file as shipped changes nothing: tallyd
## takes metrics on UDP 127.0.0.1:8125 and [::1]:8125 and serves Prometheus on 0.0.0.0:9102.
## To change a key, uncomment it and the section lines above it. A backend is on when its
## section is present, unless it says `enabled: false`; without a `backends:` map only
## Prometheus runs. "restart" marks keys a reload does not apply.
##
## The unit gives tallyd /run/tallyd for a DogStatsD socket: `unix: ["/run/tallyd/dsd.socket"]`.
"""

ROW = re.compile(r"(?<!\\)\|")


def rows(markdown):
    for line in markdown.splitlines():
        cells = [c.strip().replace("\\|", "|") for c in ROW.split(line)[1:-1]]
        if len(cells) != 6 or not cells[0].startswith("`"):
            continue  # the header row and its |---| line
        key, _flag, default, allowed, reload, meaning = cells
        yield key.strip("`"), default[1:-1], allowed, reload, meaning


def main():
    markdown = subprocess.run([sys.argv[1], "--help=markdown"], check=True,
                              capture_output=True, text=True).stdout
    out = HEADER.rstrip("\n").split("\n") + ["#"]
    open_sections = []
    count = 0
    for key, default, allowed, reload, meaning in rows(markdown):
        *section, name = key.split(".")
        common = 0
        while (common < len(open_sections) and common < len(section)
               and open_sections[common] == section[common]):
            common += 1
        del open_sections[common:]
        while len(open_sections) < len(section):
            out.append("#" + "  " * len(open_sections) + section[len(open_sections)] + ":")
            open_sections.append(section[len(open_sections)])
        indent = "  " * len(section)
        note = f"{meaning} ({allowed}{'; restart' if reload == 'restart' else ''})"
        out += textwrap.wrap(note, 100, initial_indent=f"#{indent}# ",
                             subsequent_indent=f"#{indent}# ", break_on_hyphens=False)
        out.append(f"#{indent}{name}: {default}")
        count += 1
    if count < 10:  # the table's format changed under us: fail the build, not ship an empty file
        sys.exit(f"default-config.py: only {count} keys read from {sys.argv[1]} --help=markdown")
    print("\n".join(out))


if __name__ == "__main__":
    main()
