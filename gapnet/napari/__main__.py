"""`python -m gapnet.napari [FILE ...]`: napari with the given fields opened by gapnet's
reader and the gapnet widget docked (the same as `napari --plugin gapnet FILE`, then
Plugins > gapnet; without `--plugin`, napari asks which of its readers to use)."""

import sys


def main(argv=None) -> int:
    import napari

    from gapnet.napari.widget import GapnetWidget

    viewer = napari.Viewer()
    for path in argv if argv is not None else sys.argv[1:]:
        viewer.open(path, plugin="gapnet")
    viewer.window.add_dock_widget(GapnetWidget(viewer), name="gapnet", area="right")
    napari.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
