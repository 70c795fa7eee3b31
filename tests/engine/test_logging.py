"""The metrics log of a resumed run holds every step once."""

import json

from pixelvit.engine.logging import MetricWriter, read_metrics


def test_a_resumed_writer_drops_what_the_killed_session_logged_after_its_checkpoint(tmp_path):
    writer = MetricWriter(tmp_path, tensorboard=False)
    for step in (1, 2, 3, 4, 5):
        writer.log(step, "train", {"loss": 1.0 / step})
    writer.log(4, "eval", {"acc1": 50.0})
    writer.close()
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 6, "tag": "tra')  # a line torn by the kill
    resumed = MetricWriter(tmp_path, tensorboard=False, resume_step=3)  # the last checkpoint was at step 3
    for step in (4, 5, 6):
        resumed.log(step, "train", {"loss": 0.5})
    resumed.close()
    records = read_metrics(tmp_path)
    assert [(r["tag"], r["step"]) for r in records] == [("train", s) for s in (1, 2, 3, 4, 5, 6)]
    assert [r["loss"] for r in records][3:] == [0.5, 0.5, 0.5]
    assert all(json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines())


def test_a_run_killed_between_its_epoch_end_checkpoint_and_the_next_one_logs_that_evaluation_once(tmp_path):
    """The step-4 checkpoint was written at the end of an epoch, before its evaluation; the killed session had
    logged that evaluation, and the resumed run evaluates again at step 4."""
    writer = MetricWriter(tmp_path, tensorboard=False)
    for step in (1, 2, 3, 4):
        writer.log(step, "train", {"loss": 1.0 / step})
    writer.log(4, "eval", {"acc1": 50.0})
    writer.close()
    resumed = MetricWriter(tmp_path, tensorboard=False, resume_step=4, redo_evals=True)
    resumed.log(4, "eval", {"acc1": 50.0})
    resumed.log(5, "train", {"loss": 0.2})
    resumed.close()
    assert [(r["tag"], r["step"]) for r in read_metrics(tmp_path)] == [("train", 1), ("train", 2), ("train", 3),
                                                                       ("train", 4), ("eval", 4), ("train", 5)]  # fmt: skip
    kept = MetricWriter(tmp_path, tensorboard=False, resume_step=5)  # a checkpoint after the evaluation keeps it
    kept.close()
    assert [(r["tag"], r["step"]) for r in read_metrics(tmp_path)][-2:] == [("eval", 4), ("train", 5)]


def test_a_resume_drops_hand_edited_lines_that_are_no_records(tmp_path):
    from pixelvit.engine.logging import drop_records_after, read_metrics

    path = tmp_path / "metrics.jsonl"
    path.write_text('5\n[1]\n{"step": "x"}\n{"step": 1, "tag": "train", "loss": 1.0}\n{"step": 3, "tag": "train"}\n')
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 3]
    drop_records_after(path, 2)
    assert [r["step"] for r in read_metrics(tmp_path)] == [1]
