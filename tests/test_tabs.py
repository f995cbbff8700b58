"""How rendered cells are grouped into tabs."""

from d2lext.render.tabs import OUTPUTS, PLAIN, TABS, plan_groups


def fw(name, shared=None):
    return {"framework": name} if shared is None else {"framework": name, "shared": shared}


def test_consecutive_framework_cells_form_one_group():
    marks = [None, fw("numpy"), fw("torch"), fw("torch"), None, fw("numpy")]
    assert plan_groups(marks) == [(PLAIN, [0]), (TABS, [1, 2, 3]), (PLAIN, [4]), (TABS, [5])]


def test_prose_between_framework_cells_splits_groups():
    assert plan_groups([fw("numpy"), None, fw("torch")]) == [(TABS, [0]), (PLAIN, [1]), (TABS, [2])]


def test_copies_of_one_shared_cell_form_an_output_group():
    marks = [fw("numpy", 3), fw("torch", 3), fw("numpy", 4), fw("torch", 4), {"shared": True}]
    assert plan_groups(marks) == [(OUTPUTS, [0, 1]), (OUTPUTS, [2, 3]), (PLAIN, [4])]


def test_framework_cells_and_shared_copies_do_not_mix():
    assert plan_groups([fw("numpy"), fw("torch", 2), fw("numpy", 2)]) == [(TABS, [0]), (OUTPUTS, [1, 2])]
