"""Finding nuclei and cells: the stage between reading images (`gapnet.data`) and
everything that works per cell (explain, the single-cell job, benchmarks).

- `nucleus_size`: the nucleus diameter estimated from an image (no size given).
- `learned`: nuclei by the learned segmenter (the default, `SegmentParams(method="learned")`):
  `nuclei_net` (its network, targets and post-processing), `nuclei_training` (how its
  packaged weights in `weights/` were trained).
- `nuclei`: nuclei by the classical method (`SegmentParams(method="classical")`).
- `cells`: `SegmentParams`; cells grown from the nuclei on the cytoplasm channels.
- `masks`: label images on disk (16-bit PNG, NPY, TIFF), resizing, the free-space check.
- `folder`: a whole Kaggle-layout split, parallel and resumable, with segmentation.csv.
- `files`: a user's own image files at their own size.
- `match`: one-to-one matching of predicted and reference objects by IoU.

The names below are the public API: `from gapnet.segment import segment_cells, read_mask`.
"""

from gapnet.segment.cells import (
    SegmentParams,
    edge_labels,
    grow_cells,
    segment_cells,
    segment_nuclei,
)
from gapnet.segment.folder import (
    NO_NUCLEI,
    SEGMENTATION_FIELDS,
    segment_folder,
    segmentation_row,
    write_segmentation_csv,
)
from gapnet.segment.masks import (
    MASK_SUFFIXES,
    check_mask_space,
    mask_bytes,
    mask_path,
    read_mask,
    resize_labels,
    write_mask,
)
from gapnet.segment.match import Match, iou_matrix, match

__all__ = [
    "MASK_SUFFIXES",
    "NO_NUCLEI",
    "SEGMENTATION_FIELDS",
    "Match",
    "SegmentParams",
    "check_mask_space",
    "edge_labels",
    "grow_cells",
    "iou_matrix",
    "mask_bytes",
    "mask_path",
    "match",
    "read_mask",
    "resize_labels",
    "segment_cells",
    "segment_folder",
    "segment_nuclei",
    "segmentation_row",
    "write_mask",
    "write_segmentation_csv",
]
