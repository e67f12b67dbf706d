"""Label schemes as data: the HPA Kaggle 2018 set (28 locations) and the HPA 2021
Single-Cell Classification set (18 locations and Negative).

A scheme fixes the class names, the label CSV's columns and separator, and the index of
"Negative" where it has one. `HPA2018_TO_HPA2021` maps each 2018 class to the 2021 class
its images carry in the 2021 labels, measured on the 21,806 training Ids the two sets
share (`data_prep/scheme_correspondence.py`; the counts are in
`gapnet/resources/hpa2018_to_hpa2021.csv` and docs/single_cell.md), not assumed from the
names: e.g. peroxisomes, endosomes, lysosomes, lipid droplets and cytoplasmic bodies all
became "Vesicles and punctate cytosolic patterns", focal adhesion sites joined actin
filaments, and microtubule ends, the cytokinetic bridge and rods & rings have no 2021 class
(None: their images carry other labels). `to_hpa2021` of the 2018 labels reproduces the
2021 labels exactly for 97.4 % of the shared images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gapnet.classes import CLASS_NAMES

HPA2021_NAMES = CLASS_NAMES[:8] + (  # 0-7 as in 2018, then the merged set
    "Intermediate filaments",
    "Actin filaments",
    "Microtubules",
    "Mitotic spindle",
    "Centrosome",
    "Plasma membrane",
    "Mitochondria",
    "Aggresome",
    "Cytosol",
    "Vesicles and punctate cytosolic patterns",
    "Negative",
)


@dataclass(frozen=True)
class LabelScheme:
    """One label set and how its CSVs write it."""

    name: str
    classes: tuple[str, ...]
    id_column: str  # "Id" (2018) or "ID" (2021)
    label_column: str  # "Target" (2018) or "Label" (2021)
    separator: str  # between labels in a cell: " " (2018) or "|" (2021)
    negative: int | None = None  # the index of "Negative", if the scheme has one

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def format(self, multi_hot) -> str:
        """A row's label cell: labels ascending, joined by the scheme's separator."""
        return self.separator.join(str(i) for i in np.flatnonzero(np.asarray(multi_hot)))


SCHEMES = {
    "hpa2018": LabelScheme("hpa2018", CLASS_NAMES, "Id", "Target", " "),
    "hpa2021": LabelScheme("hpa2021", HPA2021_NAMES, "ID", "Label", "|", negative=18),
}


def get_scheme(name: str | LabelScheme) -> LabelScheme:
    """The scheme called `name` (a LabelScheme passes through).

    Raises:
        ValueError: an unknown name, listing the known ones."""
    if isinstance(name, LabelScheme):
        return name
    try:
        return SCHEMES[name]
    except KeyError:
        raise ValueError(f"unknown label scheme {name!r} (known: {', '.join(SCHEMES)})") from None


# A user's own classes (`DIR/classes.csv`, a run's copy): the latest declared per width.
_OWN: dict[int, LabelScheme] = {}


def own_scheme(names) -> LabelScheme:
    """A user's own classes (`classes.csv`) as a scheme written like 2018's (`Id,Target`,
    labels space-separated), remembered for `scheme_of_width` in this process."""
    sc = LabelScheme("own", tuple(names), "Id", "Target", " ")
    _OWN[sc.n_classes] = sc
    return sc


def scheme_of_width(n_classes: int) -> LabelScheme:
    """The scheme with `n_classes` classes: a user's own classes declared in this process
    (`own_scheme`), else 28: hpa2018, 19: hpa2021; how a table of probabilities or labels
    names its columns.

    Raises:
        ValueError: no scheme has that many classes."""
    if n_classes in _OWN:
        return _OWN[n_classes]
    for sc in SCHEMES.values():
        if sc.n_classes == n_classes:
            return sc
    widths = ", ".join(f"{s.name} {s.n_classes}" for s in SCHEMES.values())
    raise ValueError(f"no label scheme has {n_classes} classes (known: {widths})")


# From the classes' names (HPA's merge), checked on the 21,806 shared training Ids
# (gapnet/resources/hpa2018_to_hpa2021.csv): 90.9-100 % of each mapped class's images carry
# its 2021 class (92-100 % of its single-label ones); None for the three classes the 2021
# set dropped, whose images carry the 2021 classes of their other labels.
HPA2018_TO_HPA2021: dict[int, int | None] = {
    0: 0,
    1: 1,
    2: 2,
    3: 3,
    4: 4,
    5: 5,
    6: 6,
    7: 7,
    8: 17,
    9: 17,
    10: 17,
    11: 8,
    12: 9,
    13: 9,
    14: 10,
    15: None,
    16: None,
    17: 11,
    18: 12,
    19: 12,
    20: 17,
    21: 13,
    22: 13,
    23: 14,
    24: 15,
    25: 16,
    26: 17,
    27: None,
}


def to_hpa2021(targets_2018: np.ndarray) -> np.ndarray:
    """(n, 19) multi-hot 2021 labels implied by (n, 28) 2018 labels through
    `HPA2018_TO_HPA2021` (classes without a 2021 class dropped; a row left empty gets
    Negative). An approximation: the 2021 labels were revised by hand; on the shared Ids
    this reproduces them exactly for 97.4 % of the images."""
    t = np.asarray(targets_2018, bool)
    out = np.zeros((len(t), len(HPA2021_NAMES)), np.uint8)
    for k, j in HPA2018_TO_HPA2021.items():
        if j is not None:
            out[t[:, k], j] = 1
    out[out.sum(1) == 0, SCHEMES["hpa2021"].negative] = 1
    return out


def probabilities_to_hpa2021(p2018: np.ndarray) -> np.ndarray:
    """(n, 19) 2021 probabilities from (n, 28) 2018 ones, for a model trained on the 2018
    classes: a 2021 class merging several 2018 ones is their noisy-OR, 1 - prod(1 - p_k)
    (the probability that any of them is there, were they independent); Negative is the
    probability that none of the 18 locations is, prod_j(1 - p_j); the three 2018 classes
    without a 2021 class are left out. Pure."""
    p = np.clip(np.asarray(p2018, np.float64), 0.0, 1.0)
    out = np.ones((len(p), len(HPA2021_NAMES)), np.float64)  # running prod(1 - p) per class
    for k, j in HPA2018_TO_HPA2021.items():
        if j is not None:
            out[:, j] *= 1.0 - p[:, k]
    negative = SCHEMES["hpa2021"].negative
    locations = 1.0 - out[:, :negative]
    out[:, :negative] = locations
    out[:, negative] = np.prod(1.0 - locations, axis=1)
    return out.astype(np.float32)
