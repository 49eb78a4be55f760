"""Linux Landlock: a process takes away its own rights to files and the network.

A process calls :func:`confine` once; from then on the kernel refuses it (``EACCES``)
every file operation outside the rules it gave, and every TCP bind and connect, whatever
library asks and whatever the process's user may do. The restriction lasts for the life
of the process and is inherited by its children; nothing can lift it. Files opened
before :func:`confine` stay usable through their open descriptors.

Landlock needs Linux 5.13 or later with Landlock enabled (``lsm=...,landlock``); where it
is missing, :func:`confine` raises :class:`LandlockUnavailable` rather than run unconfined.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable
from pathlib import Path

# System call numbers of the generic table (x86_64 and arm64 alike).
_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_VERSION_FLAG = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
_TRUNCATE = 1 << 14
_IOCTL_DEV = 1 << 15
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | _TRUNCATE | _IOCTL_DEV
READ = READ_FILE | READ_DIR
_NET_TCP = 0b11  # bind and connect
_SCOPES = 0b11  # abstract unix sockets and signals outside the sandbox


class LandlockUnavailable(OSError):
    """This kernel cannot confine a process with Landlock."""


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = ctypes.CDLL(None, use_errno=True)


def abi_version() -> int:
    """The kernel's Landlock ABI version; 0 without Landlock."""
    version = _libc.syscall(_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(version, 0)


def confine(read: Iterable[Path], write: Iterable[Path], network: bool = False) -> None:
    """Allow reading under ``read``, everything under ``write``, nothing else.

    Without ``network``, no TCP bind or connect either (Landlock ABI 4 and later). Paths
    that do not exist are skipped (nothing can be read there anyway).
    """
    version = abi_version()
    if version < 1:
        raise LandlockUnavailable(
            "Linux Landlock is not available (Linux 5.13 or later with Landlock enabled is "
            "needed to confine SQL queries)"
        )
    handled = _handled_file_rights(version)
    net = _NET_TCP if version >= 4 and not network else 0
    attr = _RulesetAttr(handled, net, _SCOPES if version >= 6 else 0)
    size = 8 if version < 4 else 16 if version < 6 else 24
    ruleset = _check(_libc.syscall(_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0))
    try:
        for path in read:
            _allow(ruleset, path, READ & handled)
        for path in write:
            _allow(ruleset, path, handled)
        _check(_libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
        _check(_libc.syscall(_RESTRICT_SELF, ruleset, 0))
    finally:
        os.close(ruleset)


def _handled_file_rights(version: int) -> int:
    rights = (1 << 13) - 1  # ABI 1: execute ... make_sym
    if version >= 2:
        rights |= 1 << 13  # refer (link or rename across directories)
    if version >= 3:
        rights |= _TRUNCATE
    if version >= 5:
        rights |= _IOCTL_DEV
    return rights


def _allow(ruleset: int, path: Path, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        if not path.is_dir():
            rights &= _FILE_RIGHTS
        rule = _PathBeneath(rights, fd)
        _check(_libc.syscall(_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0))
    finally:
        os.close(fd)


def _check(result: int) -> int:
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"landlock: {os.strerror(errno)}")
    return result
