"""The report per test groups one mistake as one reason, whatever numbers or code lines its messages quote."""
from i2dl_course.reports.items import reason


def test_two_students_lines_of_the_same_mistake_are_one_reason():
    first = "Encoder(hparams): a division by zero at Encoder.__init__, line 8: `h = 500 // (latent_dim - 20)` (by zero)"
    second = "Encoder(hparams): a division by zero at Encoder.__init__, line 12: `hidden = 2000 // k` (by zero)"
    assert reason(first) == reason(second)
    assert reason(first) != reason(first.replace("a division by zero", "an index out of range"))
