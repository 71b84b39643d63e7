"""The escalation workspace as an operator uses it: a reply prefilled with a draft
that follows the pending write (a refund offered, then done), and the team's saved
replies inserted filled in for the customer, added, edited and deleted."""

from __future__ import annotations

from tests.console.desk import (
    OPERATOR,
    claimed_refund,
)
from tests.console.dialogs import approve


def first_name(console, order: int) -> str:
    shop = console.engine.domain.shop
    customer = shop.get_order(order)["customer_id"]
    return shop.get_customer(customer)["name"].split(" ")[0]


def test_the_draft_offers_the_refund_and_follows_its_approval(desk, tight, run_async, qtbot):
    window, panel = desk.window, desk.window.escalation
    order = claimed_refund(desk, tight, run_async, qtbot)
    name = first_name(desk, order)
    # The customer's message as the first turn, at a time of day, not an ISO stamp.
    assert "<b>Customer</b>" in panel.conversation.text()
    assert "just now" in panel.conversation.text()
    desk.engine.clock.advance(180)
    qtbot.waitUntil(lambda: "3 min ago" in panel.conversation.text(), timeout=3000)
    draft = panel.composer.toPlainText()
    assert draft.startswith(f"Hi {name},")
    assert f"I've checked order #{order}, and I can refund $49.99." in draft
    assert draft.endswith(f"Best regards,\n{OPERATOR}")
    approve(qtbot, window)
    # Untouched, the draft now says what was done.
    assert f"I've refunded $49.99 for order #{order}." in panel.composer.toPlainText()


def test_an_edited_reply_is_not_replaced_when_the_write_is_approved(desk, tight, run_async,
                                                                  qtbot):
    window, panel = desk.window, desk.window.escalation
    claimed_refund(desk, tight, run_async, qtbot)
    qtbot.keyClicks(panel.composer, " PS: sorry for the wait.")
    typed = panel.composer.toPlainText()
    approve(qtbot, window)
    assert panel.composer.toPlainText() == typed


def test_saved_replies_are_inserted_filled_in_and_edited_by_the_team(desk, tight, run_async,
                                                                     qtbot):
    window, panel = desk.window, desk.window.escalation
    order = claimed_refund(desk, tight, run_async, qtbot)
    bar = panel.saved_replies
    titles = [bar.combo.itemText(i) for i in range(bar.combo.count())]
    assert titles[0] == "Insert a saved reply…" and "Looking into it" in titles
    inserted = bar.insert("Looking into it")  # the untouched draft gives way to it
    assert panel.composer.toPlainText() == inserted
    assert inserted.startswith(f"Hi {first_name(desk, order)},")
    assert f"order #{order} myself" in inserted and "{" not in inserted

    dialog = bar.edit()
    dialog.start_new()
    qtbot.keyClicks(dialog.title, "Courier delay")
    dialog.body.setPlainText("Sorry {first_name}, the courier is late with #{order_id}.")
    dialog.save_button.click()
    assert "Courier delay" in [bar.combo.itemText(i) for i in range(bar.combo.count())]
    dialog.start_new()  # the same title again: refused, said
    dialog.title.setText("Courier delay")
    dialog.body.setPlainText("again")
    dialog.save_button.click()
    assert "already called 'Courier delay'" in dialog.error.text()
    assert "already called" in window.statusBar().currentMessage()

    panel.composer.setPlainText("Dear customer, ")  # the operator's own words: kept
    cursor = panel.composer.textCursor()
    cursor.movePosition(cursor.MoveOperation.End)
    panel.composer.setTextCursor(cursor)
    bar.insert("Courier delay")
    assert panel.composer.toPlainText() == (
        f"Dear customer, Sorry {first_name(desk, order)}, the courier is late with #{order}.")

    # Edited, then deleted: every console on the database sees the same list.
    row = next(r for r in range(dialog.list.count())
               if dialog.list.item(r).text() == "Courier delay")
    dialog.list.setCurrentRow(row)
    dialog.body.setPlainText("Sorry, {first_name}: the courier is late.")
    dialog.save_button.click()
    assert dialog.changed.text().startswith(f"Last changed by {OPERATOR} on ")
    assert [r.body for r in desk.engine.store.replies.list() if r.title == "Courier delay"] == [
        "Sorry, {first_name}: the courier is late."]
    dialog.list.setCurrentRow(next(r for r in range(dialog.list.count())
                                   if dialog.list.item(r).text() == "Courier delay"))
    dialog.delete_button.click()
    assert "Courier delay" not in [bar.combo.itemText(i) for i in range(bar.combo.count())]
    dialog.close()


def test_a_narrow_queue_gives_up_its_text_columns_not_its_width(desk, qtbot):
    from console.escalations_view import Column

    queue = desk.window.escalations
    queue.resize(480, 400)  # a third of a 1600 px window
    qtbot.waitUntil(lambda: queue.view.isColumnHidden(Column.INTENT))
    assert queue.view.isColumnHidden(Column.REQUEST)
    assert not queue.view.isColumnHidden(Column.REASON)
    queue.resize(900, 400)
    qtbot.waitUntil(lambda: not queue.view.isColumnHidden(Column.INTENT))
