"""`python -m gapnet.napari [FILE ...]`: napari with TensorFlow imported first, the given
fields opened with gapnet's reader and the gapnet widget docked.

Why a launcher: on a machine drawing with Mesa (software OpenGL, e.g. under Xvfb), importing
TensorFlow after napari has made its OpenGL canvas crashes the process (a segfault in
TensorFlow's import, measured with napari 0.9.2, PyQt5 5.15, TensorFlow 2.21); imported
before the viewer, with Mesa's softpipe renderer (GALLIUM_DRIVER=softpipe, set here unless
set; llvmpipe then crashes in its first draw), it does not. Plain `napari FILE` and
Plugins > gapnet work where the OpenGL driver does not clash (not tested here)."""

import sys


def main(argv=None) -> int:
    import os

    os.environ.setdefault("GALLIUM_DRIVER", "softpipe")
    import napari
    import tensorflow  # noqa: F401  (before the viewer's OpenGL canvas: see above)

    from gapnet.napari.widget import GapnetWidget

    viewer = napari.Viewer()
    for path in argv if argv is not None else sys.argv[1:]:
        viewer.open(path, plugin="gapnet")
    viewer.window.add_dock_widget(GapnetWidget(viewer), name="gapnet", area="right")
    napari.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
