#!/usr/bin/python3
"""A screen reader's journey through `letterbox --demo`, by AT-SPI only.

Run by tests/integration/screen_reader.rs with the session bus and the
accessibility bus of a private Xvfb display. Everything is found by its
accessible name and role, and done by the actions a screen reader offers
(no pointer, no coordinates):

  Check mail -> a "New" message is one list item, named after it ->
  its default action selects it -> the preview shows its first lines ->
  Download -> the same message's item says "Downloaded".

Prints one line per step; exits non-zero with the reason when a step fails.
"""

import sys
import time

import pyatspi

TIMEOUT = 60.0


def say(text):
    print(text, flush=True)


APP = None


def fail(text):
    print(f"FAILED: {text}", flush=True)
    if APP is not None:
        print("what the application shows:", flush=True)
        for node in walk(APP):
            try:
                print(f"  {node.getRoleName()}: {(node.name or '')[:100]!r}", flush=True)
            except Exception:
                continue
    sys.exit(1)


def walk(node, depth=0):
    """Every accessible under `node` (depth first)."""
    if node is None or depth > 40:
        return
    yield node
    try:
        children = list(node)
    except Exception:  # a node that went away while walking
        return
    for child in children:
        yield from walk(child, depth + 1)


def the_app():
    desktop = pyatspi.Registry.getDesktop(0)
    for app in desktop:
        if app is not None and app.name == "letterbox":
            return app
    return None


def wait_for(what, find):
    """Polls `find()` until it answers something, or fails after TIMEOUT."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            found = find()
        except Exception:  # the tree changed under us: look again
            found = None
        if found:
            return found
        time.sleep(0.2)
    fail(f"timed out waiting for {what}")


def by_role_and_name(app, role, test):
    for node in walk(app):
        try:
            if node.getRoleName() == role and test(node.name or ""):
                return node
        except Exception:
            continue
    return None


def do_default_action(node, what):
    action = node.queryAction()
    if action.nActions < 1:
        fail(f"{what} offers no action")
    names = [action.getName(i) for i in range(action.nActions)]
    index = names.index("click") if "click" in names else 0
    if not action.doAction(index):
        fail(f"{what}: the action {names[index]!r} was refused")


def main():
    global APP
    app = wait_for("an application named letterbox on the accessibility bus", the_app)
    APP = app
    say("found the application letterbox")

    check = wait_for(
        "the Check mail button",
        lambda: by_role_and_name(app, "push button", lambda n: n == "Check mail"),
    )
    do_default_action(check, "Check mail")
    say("pressed Check mail")
    wait_for(
        "the check to finish",
        lambda: by_role_and_name(app, "label", lambda n: "checked" in n and "new of" in n),
    )

    subject = "Tip: some messages are worth keeping on the server"
    item = wait_for(
        "a new message as one list item",
        lambda: by_role_and_name(
            app, "list item", lambda n: n.startswith("New, from ") and subject in n
        ),
    )
    say(f"list item: {item.name}")
    states = item.getState()
    if not states.contains(pyatspi.STATE_SELECTABLE):
        fail("the message's item is not selectable")
    do_default_action(item, "the message's item")
    wait_for(
        "the item to be selected",
        lambda: by_role_and_name(
            app,
            "list item",
            lambda n: subject in n,
        ).getState().contains(pyatspi.STATE_SELECTED),
    )
    say("selected it with its default action")

    # The preview pane's text is readable: the message's first lines.
    first_line = "This is the last message in the demo mailbox"
    preview = wait_for(
        "the preview of the selected message",
        lambda: by_role_and_name(app, "label", lambda n: first_line in n),
    )
    say(f"preview: {preview.name.splitlines()[0][:60]}")

    download = by_role_and_name(app, "push button", lambda n: n == "Download")
    if download is None:
        fail("no Download button")
    do_default_action(download, "Download")
    say("pressed Download")
    done = wait_for(
        "the message's item to say Downloaded",
        lambda: by_role_and_name(
            app, "list item", lambda n: n.startswith("Downloaded, from ") and subject in n
        ),
    )
    say(f"list item: {done.name}")
    say("journey complete")


if __name__ == "__main__":
    main()
