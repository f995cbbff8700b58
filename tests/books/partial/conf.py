project = "Partial book"
release = "1.0"
extensions = ["d2lext"]
exclude_patterns = ["_build"]
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 2
numfig = True
html_title = "Partial book"
d2l_frameworks = {
    "numpy": {"label": "NumPy", "requires": ["numpy", "matplotlib"]},
    "torch": {"label": "PyTorch", "requires": ["torch", "matplotlib"]},
}
d2l_selected = ["numpy"]
d2l_timeout = 120
