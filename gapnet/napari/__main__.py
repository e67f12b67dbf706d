"""`python -m gapnet.napari [FILE ...]`: napari with the given fields opened by gapnet's
reader and the gapnet widget docked (the same as `napari --plugin gapnet FILE`, then
Plugins > gapnet; without `--plugin`, napari asks which of its readers to use).

A file gapnet cannot read is told in one line (`error: FILE: reason`, exit 1) before
napari's window opens, never as a traceback. gapnet's npe2 manifest is registered from
`gapnet/napari/napari.yaml` when napari has not discovered it (a checkout used without
`pip install`, or an install without the entry point)."""

import os
import sys


def register_manifest(pm=None) -> None:
    """Registers gapnet's manifest with `pm` (default napari's plugin manager) unless its
    discovery already found it."""
    from npe2 import PluginManager, PluginManifest

    pm = PluginManager.instance() if pm is None else pm
    pm.discover()
    try:
        pm.get_manifest("gapnet")
    except KeyError:
        here = os.path.dirname(os.path.abspath(__file__))
        pm.register(PluginManifest.from_file(os.path.join(here, "napari.yaml")))


def check_path(path: str) -> str | None:
    """Why gapnet's reader cannot open `path` (one line naming it), or None when it can."""
    from gapnet.napari.analysis import FieldError
    from gapnet.napari.reader import get_reader

    if not os.path.exists(path):
        return f"{path}: no such file or folder"
    reader = get_reader(path)
    if reader is None:
        return (
            f"{path}: not a field gapnet reads (an HPA sample <id>_<colour>.png|jpg|tif, "
            "an OME-TIFF with named channels, a folder of one sample, or an OME-Zarr .zarr)"
        )
    try:
        reader(path)
    except (FieldError, ValueError, OSError) as e:  # ImageError is a ValueError
        return str(e)
    return None


def main(argv=None) -> int:
    paths = list(argv if argv is not None else sys.argv[1:])
    for path in paths:
        why = check_path(path)
        if why:
            print(f"error: {why}", file=sys.stderr)
            return 1
    import napari

    from gapnet.napari.widget import GapnetWidget

    register_manifest()
    viewer = napari.Viewer()
    try:
        for path in paths:
            viewer.open(path, plugin="gapnet")
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        viewer.close()
        return 1
    viewer.window.add_dock_widget(GapnetWidget(viewer), name="gapnet", area="right")
    napari.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
