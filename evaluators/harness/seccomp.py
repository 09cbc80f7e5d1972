"""The sandbox's seccomp filter: no new user namespaces, no mounts, no namespace joins.

A user namespace hands its creator a full capability set inside it (the bounding set is
reset there too), and with it mounts; as root, bwrap runs without a user namespace and
so cannot pass --disable-userns. This filter, which bwrap loads (`--seccomp FD`) just
before it runs the command, refuses the calls instead, in both modes:

- unshare and clone with CLONE_NEWUSER: EPERM (other namespace flags need
  CAP_SYS_ADMIN, which the command never holds);
- clone3: ENOSYS, since its flags sit behind a pointer a filter cannot read; the C
  library then falls back to clone, which is checked;
- setns, mount, umount2, pivot_root, chroot, the new mount API (open_tree ...
  mount_setattr), the kernel keyring calls and bpf: EPERM;
- another system call ABI (i386 or x32 calls on x86-64): EPERM, since its numbers differ.

The program is classic BPF, assembled here (no libseccomp needed) for x86-64 and
aarch64; on another architecture `program()` returns None and the sandbox says so.
"""

from __future__ import annotations

import errno
import platform
import struct

CLONE_NEWUSER = 0x10000000
X32_SYSCALL_BIT = 0x40000000

# (audit arch, {name: number}) per machine; numbers from the kernel's syscall tables.
_TABLES: dict[str, tuple[int, dict[str, int]]] = {
    "x86_64": (
        0xC000003E,
        {
            "clone": 56, "unshare": 272, "clone3": 435, "setns": 308, "mount": 165,
            "umount2": 166, "pivot_root": 155, "chroot": 161, "open_tree": 428,
            "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
            "fspick": 433, "mount_setattr": 442, "add_key": 248, "request_key": 249,
            "keyctl": 250, "bpf": 321,
        },
    ),
    "aarch64": (
        0xC00000B7,
        {
            "clone": 220, "unshare": 97, "clone3": 435, "setns": 268, "mount": 40,
            "umount2": 39, "pivot_root": 41, "chroot": 51, "open_tree": 428,
            "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
            "fspick": 433, "mount_setattr": 442, "add_key": 217, "request_key": 218,
            "keyctl": 219, "bpf": 280,
        },
    ),
}  # fmt: skip
FLAGGED = ("clone", "unshare")  # refused only with CLONE_NEWUSER in their first argument

# Classic BPF opcodes and seccomp return values (linux/filter.h, linux/seccomp.h).
_LD_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_ALLOW = 0x7FFF0000
_ERRNO = 0x00050000
_NR, _ARCH, _ARG0_LOW = 0, 4, 16  # offsets in struct seccomp_data (little endian)


def program(machine: str | None = None) -> bytes | None:
    """The filter as bwrap reads it (struct sock_filter[]), or None if unsupported."""
    table = _TABLES.get(machine or platform.machine())
    if table is None:
        return None
    arch, numbers = table
    return b"".join(struct.pack("<HBBI", *op) for op in _assemble(arch, numbers))


def _assemble(arch: int, numbers: dict[str, int]) -> list[tuple[int, int, int, int]]:
    """Instructions as (code, jump if true, jump if false, k), jumps resolved."""
    refused = [n for name, n in numbers.items() if name not in (*FLAGGED, "clone3")]
    code: list[tuple[int, int | str, int | str, int]] = [
        (_LD_ABS, 0, 0, _ARCH),
        (_JEQ, 0, "deny", arch),  # another ABI (i386 calls on x86-64): other numbers
        (_LD_ABS, 0, 0, _NR),
        (_JGE, "deny", 0, X32_SYSCALL_BIT),  # x32 calls on x86-64
        *((_JEQ, "deny", 0, number) for number in refused),
        (_JEQ, "enosys", 0, numbers["clone3"]),
        *((_JEQ, "flags", 0, numbers[name]) for name in FLAGGED),
        (_RET, 0, 0, _ALLOW),
    ]
    labels = {"flags": len(code), "deny": len(code) + 3, "enosys": len(code) + 4}
    code += [
        (_LD_ABS, 0, 0, _ARG0_LOW),
        (_JSET, "deny", 0, CLONE_NEWUSER),
        (_RET, 0, 0, _ALLOW),
        (_RET, 0, 0, _ERRNO | errno.EPERM),  # "deny"
        (_RET, 0, 0, _ERRNO | errno.ENOSYS),  # "enosys"
    ]
    return [
        (op, _jump(jt, at, labels), _jump(jf, at, labels), k)
        for at, (op, jt, jf, k) in enumerate(code)
    ]


def _jump(target: int | str, at: int, labels: dict[str, int]) -> int:
    """A forward jump: how many instructions to skip after the one at `at`."""
    return target if isinstance(target, int) else labels[target] - at - 1
