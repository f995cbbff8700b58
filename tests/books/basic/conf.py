project = "Fixture book"
release = "1.2.3"
extensions = ["d2lext"]
exclude_patterns = ["_build"]
myst_enable_extensions = ["dollarmath", "colon_fence"]
d2l_frameworks = {
    "numpy": {"label": "NumPy", "requires": ["numpy", "matplotlib"]},
    "torch": {"label": "PyTorch", "requires": ["torch", "matplotlib"]},
}
d2l_selected = ["numpy", "torch"]
d2l_timeout = 120
myst_heading_anchors = 2
