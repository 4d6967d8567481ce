"""Text from the student's process is bounded where it enters feedback, whatever the child sent.

The child cuts exception messages itself, but the child is the student's process, so these replies are
made up as a student's own code could send them (tests/unit/fakes.py): messages of 100 000 characters,
traceback lines as long, type names with newlines and terminal escapes in them.
"""

from __future__ import annotations

from attnlab.judging.judge import STUDENT_NAME, STUDENT_TEXT, judge_task

from .fakes import COURSE, cases, checks_right, judge, raised, returns, right

FLOOD = "hidden: assert causal_mask(3) ... " + "x" * 100_000
BUDGET = STUDENT_NAME + STUDENT_TEXT + STUDENT_TEXT + 40  # a type, a message, two traceback lines, and punctuation


def test_an_exception_message_is_cut_in_the_parent():
    tb = f'File "lesson.ipynb [cell 2]", line 3, in qk_scores\n{"y" * 50_000}\n'
    reply = raised("ValueError\n\x1b[31m" + "E" * 5_000, FLOOD, tb=tb)
    result = judge("qk_scores", lambda c: checks_right(c, lambda c: reply))
    (exception,) = [d for d in result.diagnoses if d.id == "exception"]
    assert "hidden: assert causal_mask(3)" in exception.message  # the start is shown...
    assert "x" * (STUDENT_TEXT + 1) not in exception.message  # ...cut to a few hundred characters
    assert len(exception.message) < len("on , your code raised at : ``.") + 200 + BUDGET
    assert "\n" not in exception.message and "\x1b" not in exception.message
    assert len(result.feedback) < 2 * BUDGET + 400


def test_a_raised_message_and_a_returned_type_name_are_cut():
    def answer(case):
        if case.kind == "expect_error":
            return {
                "status": "ok",
                "raised": "TypeError" * 1000,
                "raised_msg": FLOOD,
                "mutated": [],
                "forbidden": [],
                "evasion": False,
                "callee_calls": [],
            }, {}
        return right(case)

    result = judge("causal_mask", lambda c: checks_right(c, answer))
    details = [r.detail for r in result.cases if r.case.kind == "expect_error"]
    assert details and all(len(d) < BUDGET for d in details), [len(d) for d in details]


def test_a_forged_forbidden_name_and_output_description_are_cut():
    def answer(case):
        meta, tensors = right(case)
        meta["forbidden"] = [FLOOD]
        meta["outputs"][0]["dtype"] = "float32" + "z" * 10_000
        return meta, tensors

    the_cases = [c for c in cases("qk_scores") if c.kind == "call"]
    replies, tensors = {}, {}
    for c in the_cases:
        replies[c.id], tensors[c.id] = answer(c)
    result = judge_task(COURSE.task("qk_scores"), the_cases, replies, tensors, COURSE)
    for d in result.diagnoses:
        assert "x" * (STUDENT_TEXT + 1) not in d.message and "z" * (STUDENT_NAME + 1) not in d.message, d.id
    assert len(result.feedback) < 3 * BUDGET + 600


def test_ordinary_messages_pass_unchanged():
    reply = raised("ZeroDivisionError", "division by zero", tb='File "w.py", line 2, in qk_scores\n    return 1 / 0\n')
    result = judge("qk_scores", lambda c: checks_right(c, lambda c: reply if c.kind == "call" else returns()))
    (exception,) = [d for d in result.diagnoses if d.id == "exception"]
    said = 'ZeroDivisionError: division by zero at File "w.py", line 2, in qk_scores: `return 1 / 0`'
    assert said in exception.message
