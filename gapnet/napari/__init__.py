"""gapnet in napari (`pip install -e ".[napari]"`): a reader for HPA samples,
multi-channel TIFF / OME-TIFF files and OME-Zarr fields, and a dock widget that segments a
field, shows its calls per cell and each class's localization map (npe2 manifest
`napari.yaml`).

The last room of the house: it reads every stage before it and nothing imports it.
`analysis` holds the computation (no Qt), `reader` the reader, `layers` what becomes a
layer, `widget` the dock widget.
"""
