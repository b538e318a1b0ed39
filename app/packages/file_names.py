"""The rules every file name in a package must follow, for uploads and archive entries alike.

A name is a relative POSIX path. It is rejected, never repaired, when it could escape the
package, mean different things on different systems or show as another name: ``..``
segments, absolute paths (``/x``, ``C:\\x``), backslashes, NUL, other control characters
and invisible ones (bidirectional controls such as U+202E, which shows ``evil\\u202etxt.exe``
as ``evilexe.txt``, zero-width characters: see :func:`domain.rules.hidden_character`),
names that are not valid UTF-8, and names longer than 900 bytes or with a segment longer
than 255 bytes. Harmless spellings are normalised: ``./a//b/`` becomes ``a/b``.
"""

from __future__ import annotations

import re
import unicodedata

from domain.rules import hidden_character

# A file is stored under models/<model id>/<number>/<file set>/<name>, which must fit the
# object store's 1024 bytes, and extracted, stored and cached under folders of the data
# directory, which with the name must fit Linux's 4096 bytes (PATH_MAX).
MAX_NAME_BYTES = 900
MAX_SEGMENT_BYTES = 255

_DRIVE = re.compile(r"^[A-Za-z]:")
_SHOWN_CHARS = 80


class UnsafeName(ValueError):
    """A file name that could escape the package or be read differently elsewhere."""


def shown(name: str) -> str:
    """The name as it appears in messages: quoted, escaped and cut short when long."""
    if len(name) > _SHOWN_CHARS:
        return repr(name[:_SHOWN_CHARS]) + f"… ({len(name)} characters)"
    return repr(name)


def normalise_name(name: str) -> str:
    """The normalised form of ``name``; ``""`` for names of the root itself (``.``, ``./``).

    Raises :class:`UnsafeName` with the reason when the name breaks a rule.
    """
    if not name:
        raise UnsafeName("the name is empty")
    if "\x00" in name:
        raise UnsafeName("the name contains a NUL character")
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        # tarfile decodes undecodable bytes to lone surrogates.
        raise UnsafeName("the name is not valid UTF-8") from None
    hidden = hidden_character(name)
    if hidden is not None:
        raise UnsafeName(f"the name contains the invisible or control character {hidden}")
    if size > MAX_NAME_BYTES:
        raise UnsafeName(f"the name is longer than {MAX_NAME_BYTES} bytes ({size})")
    if "\\" in name:
        raise UnsafeName("the name contains a backslash; use '/' between folders")
    if name.startswith("/"):
        raise UnsafeName("the name is an absolute path")
    if _DRIVE.match(name):
        raise UnsafeName("the name starts with a drive letter (an absolute Windows path)")
    segments = [segment for segment in name.split("/") if segment not in ("", ".")]
    for segment in segments:
        if segment == "..":
            raise UnsafeName("the name contains a '..' segment")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise UnsafeName(f"a part of the name is longer than {MAX_SEGMENT_BYTES} bytes")
    return "/".join(segments)


def check_file_name(name: str) -> str:
    """Validate the name of an uploaded file (or a file path inside a package).

    Returns the normalised relative POSIX path; raises :class:`UnsafeName` otherwise.
    """
    normalised = normalise_name(name)
    if not normalised:
        raise UnsafeName("the name does not name a file")
    return normalised


def collision_key(name: str) -> str:
    """Two names with the same key would be one file on a case-insensitive or
    Unicode-normalising file system (macOS, Windows), so a package may not hold both."""
    return unicodedata.normalize("NFC", name).casefold()
