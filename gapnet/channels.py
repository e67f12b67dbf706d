"""A run's channel set: which of gapnet's four roles its images have, and what the files
call them.

gapnet's roles are `CHANNELS` (red = microtubules, green = the protein, blue = the nucleus,
yellow = the ER; red and yellow are cytoplasm markers). A run may use any subset that
holds green (the protein is what is classified), in that canonical order: a model's input
channel k is `roles[k]`. The files of a sample are `<Id>_<name>.<ext>`, one per role, where
`name` is the role itself or, with a channel map (`GFP=green,DAPI=blue`: file name =
role), the user's own channel name. Roles not mapped are absent from the model.
"""

from __future__ import annotations

from dataclasses import dataclass

from gapnet.classes import CHANNELS


@dataclass(frozen=True)
class ChannelSet:
    """The roles (model input order) and each role's file channel name."""

    roles: tuple[str, ...] = CHANNELS
    names: tuple[str, ...] = CHANNELS

    def __len__(self) -> int:
        return len(self.roles)

    def index(self, role: str) -> int | None:
        """The input channel of `role`, or None if the set lacks it."""
        return self.roles.index(role) if role in self.roles else None

    @property
    def default(self) -> bool:
        return self.roles == CHANNELS and self.names == CHANNELS

    def name_of(self, role: str) -> str:
        return self.names[self.roles.index(role)]

    def describe(self) -> str:
        """ "green, blue" or "GFP=green, DAPI=blue"."""
        return ", ".join(
            r if n == r else f"{n}={r}" for n, r in zip(self.names, self.roles, strict=True)
        )

    def to_json(self) -> dict:
        return {"roles": list(self.roles), "names": list(self.names)}

    @classmethod
    def from_json(cls, d: dict | None) -> "ChannelSet":
        return (
            cls()
            if not d
            else make_channel_set(d["roles"], dict(zip(d["names"], d["roles"], strict=True)))
        )


def parse_channel_map(text: str) -> dict[str, str]:
    """ "GFP=green,DAPI=blue" -> {"GFP": "green", "DAPI": "blue"}.

    Raises:
        ValueError: an entry is not name=role, or a file channel is named twice."""
    out: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, role = part.partition("=")
        if not sep or not name.strip() or not role.strip():
            raise ValueError(f"channel map entry {part!r}: expected NAME=ROLE, e.g. GFP=green")
        name = name.strip()
        if name in out:
            raise ValueError(f"channel map: file channel {name!r} is named twice")
        out[name] = role.strip().lower()
    return out


def make_channel_set(channels=CHANNELS, channel_map: dict | None = None) -> ChannelSet:
    """The channel set of `channels` (roles, any order, put in `CHANNELS` order) and an
    optional `channel_map` {file name: role}; with a map, its roles are the set's (and
    `channels`, unless the four defaults, must agree).

    Raises:
        ValueError: an unknown role, a role or file name given twice, no green channel,
            or channels that disagree with the map.
    """
    if isinstance(channels, str):
        channels = [c for c in (p.strip() for p in channels.split(",")) if c]
    given = [str(c).strip().lower() for c in channels]
    channel_map = dict(channel_map or {})
    for name, role in channel_map.items():
        if role not in CHANNELS:
            raise ValueError(f"channel map {name}={role}: {role!r} is not one of {CHANNELS}")
        if not name or any(ch in name for ch in "/\\_.,= ") or name.startswith("-"):
            raise ValueError(
                f"channel map: file channel name {name!r} must be a plain word (no "
                "'_', '.', '/', ',', '=' or spaces)"
            )
    roles_of_map = list(channel_map.values())
    twice = sorted({r for r in roles_of_map if roles_of_map.count(r) > 1})
    if twice:
        raise ValueError(f"channel map: role {twice[0]!r} is given to two file channels")
    if channel_map:
        if tuple(given) != CHANNELS and set(given) != set(roles_of_map):
            raise ValueError(
                f"channels={','.join(given)} disagrees with the channel map's roles "
                f"({','.join(roles_of_map)})"
            )
        given = roles_of_map
    unknown = [c for c in given if c not in CHANNELS]
    if unknown:
        raise ValueError(f"channels: {unknown[0]!r} is not one of {CHANNELS}")
    twice = sorted({c for c in given if given.count(c) > 1})
    if twice:
        raise ValueError(f"channels: {twice[0]!r} is named twice")
    if "green" not in given:
        raise ValueError("channels: a run needs the green (protein) channel")
    roles = tuple(c for c in CHANNELS if c in given)
    name_of = {r: n for n, r in channel_map.items()}
    return ChannelSet(roles, tuple(name_of.get(r, r) for r in roles))


ALL = ChannelSet()
