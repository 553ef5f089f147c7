#!/usr/bin/python3
"""Checks an `strace -f` log of tallyd against the unit's seccomp filter and
MemoryDenyWriteExecute: every system call made after tallyd's own execve must be in
@system-service minus the groups the unit denies (group contents from this machine's
`systemd-analyze syscall-filter`), and no mapping may be both writable and executable.

Usage: syscall_check.py STRACE_LOG UNIT_FILE   (exit 1 and the offenders on failure)
"""
import re
import subprocess
import sys

CALL = re.compile(r"^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)(?:\(| resumed>)")
WX = re.compile(r"\b(?:mmap|mprotect|pkey_mprotect)\(.*(PROT_WRITE\|PROT_EXEC|PROT_EXEC\|PROT_WRITE)")


def groups():
    """{"@system-service": ["@aio", "io_setup", ...], ...} from systemd-analyze."""
    text = subprocess.run(["systemd-analyze", "syscall-filter"], check=True,
                          capture_output=True, text=True).stdout
    out, current = {}, None
    for line in text.splitlines():
        if line.startswith("@"):
            current = out.setdefault(line.strip(), [])
        elif current is not None and line.strip() and not line.strip().startswith("#"):
            current.append(line.strip())
    return out


def expand(name, table, seen=None):
    seen = set() if seen is None else seen
    if not name.startswith("@"):
        return {name}
    if name in seen:
        return set()
    seen.add(name)
    result = set()
    for member in table[name]:
        result |= expand(member, table, seen)
    return result


def unit_filter(unit_path, table):
    """The allowed set from the unit's SystemCallFilter= lines (an allow list, then ~denials)."""
    allowed = None
    for line in open(unit_path):
        if not line.startswith("SystemCallFilter="):
            continue
        value = line.split("=", 1)[1].strip()
        deny = value.startswith("~")
        names = set()
        for item in value.lstrip("~").split():
            names |= expand(item, table)
        if deny:
            allowed -= names
        else:
            allowed = names if allowed is None else allowed | names
    if allowed is None:
        sys.exit(f"no SystemCallFilter= in {unit_path}")
    return allowed


def main():
    log, unit = sys.argv[1], sys.argv[2]
    allowed = unit_filter(unit, groups())
    used, wx, started = set(), [], False
    for line in open(log, errors="replace"):
        if not started:
            # setpriv's own calls (setresuid, capset, ...) are systemd's job under the unit.
            started = 'execve("/usr/bin/tallyd"' in line and "= 0" in line
            continue
        if m := CALL.match(line):
            used.add(m.group(1))
        if WX.search(line):
            wx.append(line.strip())
    if not started:
        sys.exit(f"{log}: no execve of /usr/bin/tallyd")
    denied = sorted(used - allowed)
    print(f"{len(used)} system calls used, all in the unit's filter" if not denied else
          f"system calls the unit's SystemCallFilter denies: {' '.join(denied)}")
    for line in wx:
        print(f"writable and executable mapping (MemoryDenyWriteExecute): {line}")
    sys.exit(1 if denied or wx else 0)


if __name__ == "__main__":
    main()
