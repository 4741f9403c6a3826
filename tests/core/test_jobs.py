"""Background jobs: retried with backoff on retryable errors, re-driven by the sweep when lost."""

from core import jobs

calls: list[int] = []


@jobs.job(retries=3, backoff=2.0)
def flaky_job(n: int):
    calls.append(n)
    if len(calls) < 3:
        raise jobs.RetryableJobError("carrier down")


def test_a_retryable_failure_is_rescheduled_with_growing_delays(app, monkeypatch):
    calls.clear()
    scheduled = []
    jobs.huey.immediate = False
    try:
        monkeypatch.setattr(flaky_job, "schedule", lambda args, kwargs, delay: scheduled.append((kwargs, delay)))
        flaky_job.call_local(1)
        flaky_job.call_local(1, _attempt=1)
    finally:
        jobs.huey.immediate = True
    assert [d for _k, d in scheduled] == [2.0, 4.0]
    assert [k["_attempt"] for k, _d in scheduled] == [1, 2]


def test_gives_up_after_its_retries_and_leaves_the_rest_to_the_sweep(app, monkeypatch):
    calls.clear()
    scheduled = []
    jobs.huey.immediate = False
    try:
        monkeypatch.setattr(flaky_job, "schedule", lambda **kw: scheduled.append(kw))
        assert flaky_job.call_local(1, _attempt=3) is None
    finally:
        jobs.huey.immediate = True
    assert scheduled == []


def test_the_sweep_runs_every_sweeper_even_when_one_fails(app):
    seen = []

    def broken(session):
        raise RuntimeError("boom")

    def counting(session):
        seen.append(session)
        return 2

    jobs.register_sweeper(broken)
    jobs.register_sweeper(counting)
    try:
        result = jobs.sweep()
    finally:
        jobs._sweepers.remove(broken)
        jobs._sweepers.remove(counting)
    assert result["broken"] == -1 and result["counting"] == 2 and len(seen) == 1


def test_immediate_mode_runs_jobs_in_the_caller(app):
    calls.clear()
    flaky_job(7)
    assert calls == [7]


def test_a_job_enqueued_before_a_savepoint_waits_for_the_real_commit(db):
    from sqlalchemy import text

    from core import jobs

    ran = []
    with db.sessionmaker() as session:
        session.execute(text("SELECT 1"))
        jobs.enqueue_after_commit(session, lambda: ran.append("job"))
        with session.begin_nested():
            session.execute(text("SELECT 1"))
        assert ran == []  # the savepoint's release is not the commit
        session.commit()
    assert ran == ["job"]
