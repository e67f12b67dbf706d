"""The HPA Kaggle 2018 label set and the one channel order used everywhere in gapnet."""

# Channel order of every image array in gapnet: (red, green, blue, yellow), i.e.
# microtubules, protein of interest, nucleus, endoplasmic reticulum. Index 1 (green)
# is the signal to classify; the others are reference stains.
CHANNELS = ("red", "green", "blue", "yellow")

CLASS_NAMES = (
    "Nucleoplasm",
    "Nuclear membrane",
    "Nucleoli",
    "Nucleoli fibrillar center",
    "Nuclear speckles",
    "Nuclear bodies",
    "Endoplasmic reticulum",
    "Golgi apparatus",
    "Peroxisomes",
    "Endosomes",
    "Lysosomes",
    "Intermediate filaments",
    "Actin filaments",
    "Focal adhesion sites",
    "Microtubules",
    "Microtubule ends",
    "Cytokinetic bridge",
    "Mitotic spindle",
    "Microtubule organizing center",
    "Centrosome",
    "Lipid droplets",
    "Plasma membrane",
    "Cell junctions",
    "Mitochondria",
    "Aggresome",
    "Cytosol",
    "Cytoplasmic bodies",
    "Rods & rings",
)
N_CLASSES = len(CLASS_NAMES)
