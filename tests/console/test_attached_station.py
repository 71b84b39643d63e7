"""An operator station attached to the team's shared database (`agent-console
--database postgresql://… --attach`): what it refuses, what it shows of other
processes' work, and what an operator sees when its live link to the database is
lost and back.

The engine's store follower turns other processes' changes into events on the
engine's bus; these tests publish those events themselves (the events are the
interface) after changing the store the way another process would, on SQLite where
the backend does not matter, and start one real attached station on PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import time

import pytest
from PySide6.QtGui import QTextDocument

from agentcore import (
    DatabaseLink,
    Engine,
    KeyringCredentials,
    Outcome,
    Request,
    RequestAnswered,
    Route,
    RuleBook,
    RulesChanged,
    SettingsError,
    Status,
    StoreChanged,
    Usage,
)
from console.app import attach_url, parse_args
from console.escalations_view import Column as QueueColumn
from console.feed import Column
from console.workspaces import Workspace


def plain(label) -> str:
    """A label's text as the operator reads it (rich text rendered)."""
    document = QTextDocument()
    document.setHtml(label.text())
    return document.toPlainText()


def feed_texts(window) -> list[str]:
    window.feed_model.flush()
    proxy = window.feed.proxy
    return [proxy.index(row, Column.TEXT).data() for row in range(proxy.rowCount())]


def answered_elsewhere(text: str, request_id: str, *, ago_s: float = 5.0) -> Outcome:
    """An outcome another process finished (no spans: the store does not send them)."""
    request = Request(text=text, customer_id=42, id=request_id,
                      received_at=time.time() - ago_s)
    return Outcome(request=request, route=Route.RULE, status=Status.ANSWERED,
                   answer="We open at nine.", intent="opening_hours", latency_ms=3.0,
                   usage=Usage())


def store_as_another_process(engine: Engine, outcome: Outcome) -> None:
    """Written to the shared store without a word to this console's bus."""
    engine.store.requests.accept(outcome.request)
    engine.store.requests.finish(outcome)
    engine.store.requests.flush()


# -- refused -----------------------------------------------------------------------


def test_attach_takes_an_optional_intake_url_and_defaults_to_the_settings_intake(settings):
    assert parse_args([]).attach is None
    assert parse_args(["--attach"]).attach == ""
    assert parse_args(["--attach", "http://intake.team:9000/"]).attach == \
        "http://intake.team:9000/"
    settings.database_url = "postgresql://ops@db.team:5432/support"
    assert attach_url(settings, "") == "http://127.0.0.1:8088"
    settings.intake.port = 9100
    assert attach_url(settings, "") == "http://127.0.0.1:9100"
    assert attach_url(settings, "http://intake.team:9000/") == "http://intake.team:9000"


def test_an_attached_station_on_a_private_sqlite_file_is_refused_in_one_sentence(
        make_console, settings):
    with pytest.raises(SettingsError) as refused:
        make_console(settings, attach_to="")
    # main() shows this in the start-up error box (`_fatal`).
    assert "--database postgresql://" in str(refused.value)
    assert "private SQLite file" in str(refused.value)
    assert not make_console.open


# -- other processes' work ---------------------------------------------------------


def test_a_request_answered_elsewhere_adds_a_row_though_the_feed_never_saw_it_accepted(
        console, qtbot):
    window = console.window
    outcome = answered_elsewhere("When do you open on Sunday?", "other-station-1")
    console.engine.bus.publish(RequestAnswered(outcome))
    qtbot.waitUntil(lambda: feed_texts(window) == ["When do you open on Sunday?"])
    window.feed.view.selectRow(0)  # the detail opens it without its spans
    assert window.detail_model.outcome is outcome


def test_rules_saved_elsewhere_replace_a_clean_draft_and_never_throw_away_edits(
        console, qtbot):
    window, engine = console.window, console.engine
    view = window.rules
    window.show_rules()
    elsewhere = RuleBook(engine)  # another station's book over the same store
    first = engine.router.rules[0]

    # A clean draft follows the new set: the rule another station disabled shows so.
    version = elsewhere.apply([dataclasses.replace(r, enabled=not r.enabled)
                               if r.id == first.id else r for r in engine.router.rules],
                              author="bea")
    engine.bus.publish(RulesChanged(version.id))
    row = view.draft.index_of(first.id)
    assert view.draft.rules[row].enabled is not first.enabled and not view.draft.dirty
    assert f"version {version.id}" in view.state.text()
    assert view.history.versions[0].id == version.id  # newest first

    # Unapplied edits are kept; the operator is told the live set changed underneath.
    view.draft.toggle(row)
    edited = list(view.draft.rules)
    assert view.draft.dirty
    second = elsewhere.apply([dataclasses.replace(r, priority=r.priority + 1)
                              if r.id == first.id else r for r in engine.router.rules],
                             author="bea")
    engine.bus.publish(RulesChanged(second.id))
    assert view.draft.rules == edited and view.draft.dirty
    assert "changed underneath" in view.state.text()
    assert f"version {second.id}" in view.state.text()
    assert "unapplied edits are kept" in window.statusBar().currentMessage()
    # Discarding the edits shows the new set and the warning goes.
    view.undo()
    assert not view.draft.dirty and "underneath" not in view.state.text()
    assert view.draft.rules[row].priority == first.priority + 1


def test_undo_at_a_station_never_drops_a_rule_set_saved_elsewhere(console, qtbot):
    """This station's undo after another's change goes back to the other's set, not
    past it: the history is the store's, whoever saved in it."""
    window, engine = console.window, console.engine
    view = window.rules
    window.show_rules()
    first, second = engine.router.rules[0], engine.router.rules[1]
    theirs = RuleBook(engine).apply(
        [dataclasses.replace(r, enabled=not r.enabled) if r.id == first.id else r
         for r in engine.router.rules], author="bea")
    engine.bus.publish(RulesChanged(theirs.id))

    view.draft.toggle(view.draft.index_of(second.id))  # this station's own change
    assert view.session.apply().done
    view.undo()
    live = {r.id: r for r in engine.router.rules}
    assert live[first.id].enabled is not first.enabled  # bea's change is still live
    assert live[second.id].enabled is second.enabled  # this station's is undone
    assert "undo: back to version" in view.history.versions[0].summary


def test_saved_replies_and_the_audit_log_written_elsewhere_show_when_announced(
        console, qtbot):
    window, engine = console.window, console.engine
    picker = window.escalation.saved_replies
    assert picker is not None
    window.show_workspace(Workspace.AUDIT)
    engine.store.replies.add("Sunday hours", "We open at ten on Sundays.", "bea",
                             engine.clock.now())

    engine.bus.publish(StoreChanged("replies"))
    titles = [picker.combo.itemText(i) for i in range(picker.combo.count())]
    assert "Sunday hours" in titles

    engine.bus.publish(StoreChanged("audit"))  # read at once, not at the next tick
    audit = window.audit.model
    operators = [audit.index(r, 1).data() for r in range(audit.rowCount())]
    assert "bea" in operators


# -- the live link -------------------------------------------------------------------


def test_a_lost_link_says_so_and_when_back_the_feed_and_charts_read_the_store_again(
        console, qtbot):
    window, engine = console.window, console.engine
    window.show()
    charts = window.charts
    qtbot.waitUntil(lambda: charts.history_loaded)
    assert not window.link_banner.isVisible()

    engine.bus.publish(DatabaseLink(False, "server closed the connection unexpectedly"))
    banner = window.link_banner
    assert banner.isVisible()
    assert banner.text.text() == (
        "Lost the live link to the database: server closed the connection unexpectedly. "
        "What you see may be out of date; reconnecting…")

    # Meanwhile another process answers a request; nobody tells this console.
    missed = answered_elsewhere("Do you ship to Norway?", "missed-while-lost")
    store_as_another_process(engine, missed)
    assert "Do you ship to Norway?" not in feed_texts(window)
    counted = charts.series.total_outcomes

    engine.bus.publish(DatabaseLink(True))
    assert not banner.isVisible()
    qtbot.waitUntil(lambda: "Do you ship to Norway?" in feed_texts(window))
    qtbot.waitUntil(lambda: charts.history_loaded)
    assert charts.series.total_outcomes == counted + 1  # from the store, counted once


def test_the_resync_keeps_live_rows_and_shows_each_request_once(console, qtbot):
    window, engine = console.window, console.engine
    live = answered_elsewhere("Where is my parcel?", "seen-live", ago_s=2)
    store_as_another_process(engine, live)
    engine.bus.publish(RequestAnswered(live))
    qtbot.waitUntil(lambda: feed_texts(window) == ["Where is my parcel?"])
    older = answered_elsewhere("Can I change my address?", "missed", ago_s=30)
    store_as_another_process(engine, older)

    engine.bus.publish(DatabaseLink(False, "timeout"))
    engine.bus.publish(DatabaseLink(True))
    qtbot.waitUntil(lambda: len(feed_texts(window)) == 2)
    assert feed_texts(window) == ["Where is my parcel?", "Can I change my address?"]
    assert window.feed_model.outcome(0) is live  # the row shown stays (its spans, if any)


# -- on PostgreSQL --------------------------------------------------------------------


def test_an_attached_station_on_postgresql_starts_with_the_teams_recent_work(
        make_console, pg_settings, qtbot, run_async):
    service = Engine(pg_settings, credentials=KeyringCredentials())  # a service's engine

    async def answer() -> None:
        for n, text in enumerate(("What are your opening hours?", "Do you ship abroad?")):
            await service.submit(Request(text, id=f"served-{n}"))
        service.store.flush()
        await service.close()

    run_async(answer())
    console = make_console(pg_settings, attach_to="")
    window = console.window
    assert console.engine.attached and console.engine.attach_to == "http://127.0.0.1:8088"
    db = pg_settings.database_url.rsplit("/", 1)[1]
    where = f"attached to PostgreSQL database {db!r}"
    assert where in window.windowTitle() and "via http://127.0.0.1:8088" in \
        window.windowTitle()
    segment = window.attached_segment
    assert segment is not None and plain(segment) == f"● A{where[1:]} at " \
        f"{pg_settings.database_url.split('@')[1].rsplit('/', 1)[0]} via http://127.0.0.1:8088"
    assert not window.intake_segment.isVisibleTo(window)

    # The services make the traffic: none of its own, and it says why.
    assert not window.act_traffic.isEnabled() and not window.traffic_panel.isEnabled()
    assert "services answer" in window.traffic_panel.toolTip()
    # Nor does it host the intake; Settings says so.
    dialog = window.open_intake_settings()
    assert not dialog.intake.enabled.isEnabled()
    assert "Not hosted here" in dialog.intake.note.text()
    assert "http://127.0.0.1:8088" in dialog.intake.note.text()
    dialog.reject()

    # A fresh station's feed starts from what the team's services answered.
    qtbot.waitUntil(lambda: sorted(feed_texts(window)) == [
        "Do you ship abroad?", "What are your opening hours?"])

    console.engine.bus.publish(DatabaseLink(False, "connection refused"))
    assert window.link_banner.isVisibleTo(window)
    assert plain(segment).startswith("● Link lost · attached to PostgreSQL")
    assert "color: #" in segment.styleSheet()  # red
    assert "connection refused" in segment.toolTip()
    console.engine.bus.publish(DatabaseLink(True))
    assert not window.link_banner.isVisibleTo(window)
    assert plain(segment).startswith("● Attached to") and segment.styleSheet() == ""


def _listeners(url: str) -> list[int]:
    """The change feed's connections to the database (the stations' live links)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return [pid for (pid,) in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'agentcore-changes'"
            " AND datname = current_database()").fetchall()]


def test_a_station_following_the_database_shows_a_services_work_and_its_lost_link(
        make_console, pg_settings, postgres_server, qtbot, run_async):
    """The real store follower (Engine.start) on a real server: a service's answer and
    rule set reach the station's views; the link cut, the banner; back, it goes."""
    import psycopg

    console = make_console(pg_settings, attach_to="")
    window = console.window
    run_async(console.engine.start())
    service = Engine(pg_settings, credentials=KeyringCredentials())
    try:
        outcome = run_async(service.submit(Request("What are your opening hours?",
                                                   id="served-live")))
        service.store.flush()
        qtbot.waitUntil(lambda: "What are your opening hours?" in feed_texts(window),
                        timeout=20_000)

        first = service.router.rules[0]
        version = RuleBook(service).apply(
            [dataclasses.replace(r, enabled=not r.enabled) if r.id == first.id else r
             for r in service.router.rules], author="bea")
        view = window.rules
        qtbot.waitUntil(lambda: view.history.versions[0].id == version.id, timeout=20_000)
        assert view.draft.rules[view.draft.index_of(first.id)].enabled is not first.enabled
        assert outcome.request.id == "served-live"

        # A service escalates; another station claims it: this station's queue shows both.
        human = run_async(service.submit(Request("I want to talk to a human please",
                                                 customer_id=3, id="served-human")))
        assert human.status is Status.ESCALATED
        window.show_workspace(Workspace.ESCALATIONS)
        queue = window.escalations.model

        def state_of(request_id: str) -> str | None:
            for row, item in enumerate(queue.items):
                if item.request.id == request_id:
                    return str(queue.index(row, QueueColumn.STATE).data())
            return None

        qtbot.waitUntil(lambda: state_of("served-human") == "open", timeout=20_000)
        item = next(i for i in queue.items if i.request.id == "served-human")
        run_async(service.escalations.claim(item.id, "bea", 300))
        qtbot.waitUntil(lambda: state_of("served-human") == "claimed by bea", timeout=20_000)
    finally:
        run_async(service.close())

    url = postgres_server.url(pg_settings.database_url.rsplit("/", 1)[1],
                              with_password=True)
    qtbot.waitUntil(lambda: bool(_listeners(url)), timeout=20_000)
    banner = window.link_banner
    shown: list[tuple[bool, bool]] = []  # (the link up, the banner shown) at each report
    console.bridge.database_link.connect(
        lambda up, _problem: shown.append((up, banner.isVisibleTo(window))))
    with psycopg.connect(url, autocommit=True) as conn:
        for pid in _listeners(url):
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    qtbot.waitUntil(lambda: (True, False) in shown, timeout=30_000)  # lost, then back
    assert shown[0] == (False, True)
    assert banner.text.text().startswith("Lost the live link to the PostgreSQL server at")
    assert banner.text.text().endswith("What you see may be out of date; reconnecting…")
    segment = window.attached_segment
    assert segment is not None and plain(segment).startswith("● Attached to")


def test_compose_at_a_station_is_answered_by_the_service_behind_its_intake(
        make_console, pg_settings, tmp_path, qtbot, run_async):
    """`agentcore serve` in its own process answers what the station's Compose sends;
    the station shows the answer in its feed and its detail."""
    import signal

    from tests.processes import serve_process

    KeyringCredentials().set(pg_settings.intake.token_entry, "team-intake-token")
    path = tmp_path / "service-settings.json"
    pg_settings.save(path)
    proc, url = run_async(serve_process(path, tmp_path / "keyring.json"), 60_000)
    try:
        console = make_console(pg_settings, attach_to=url)
        window = console.window
        run_async(console.engine.start())
        assert f"via {url}" in window.windowTitle()
        window.compose.text.setPlainText("What are your opening hours?")
        task = window.compose.send()
        assert task is not None
        outcome = run_async(task, 30_000)
        assert outcome.status is Status.ANSWERED and outcome.answer
        # The detail shows the service's answer, and the row from the store is selected.
        qtbot.waitUntil(lambda: window.detail_model.outcome is outcome)
        assert outcome.answer in window.detail.answer.toPlainText()
        qtbot.waitUntil(lambda: "What are your opening hours?" in feed_texts(window))
        qtbot.waitUntil(lambda: window.feed.view.currentIndex().isValid())
        selected = window.feed.proxy.mapToSource(window.feed.view.currentIndex())
        assert window.feed_model.outcome(selected.row()).request.id == outcome.request.id
        assert feed_texts(window).count("What are your opening hours?") == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
