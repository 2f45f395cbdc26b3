"""The batch update modal: one app (or one page of a big app's domains) at a time.

The app picker is a section accessory, so choosing an app sends ``block_actions``
and the listener re-renders the domain rows with ``views.update``. Block ids of the
domain rows contain the app's index, so Slack does not carry a selection over from
one app to another. A submission updates only the domains whose status the user
changed, all in one batch; a row missing from ``state.values`` (or with no choice)
counts as unchanged. Problems come back as ``{block_id: message}`` errors.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    InputBlock,
    Option,
    OptionGroup,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.errors import UnknownNameError
from bot.estate import Estate
from bot.model import MESSAGE_LIMIT, Status, Update
from bot.service import StatusService
from bot.slack.blocks import mrkdwn, note
from bot.slack.text import clip, escape, status_label

logger = logging.getLogger(__name__)

CALLBACK_ID = "epmpulse_update"
APP_BLOCK = "app"
APP_ACTION = "app_select"
STATUS_ACTION = "status"
MESSAGE_BLOCK = "message"
MESSAGE_ACTION = "message"
TITLE = "Update EPM status"
# 100 blocks per modal, minus the app picker, the hint and the message input.
DOMAINS_PER_PAGE = 95
OPTIONS_MAX = 100
OPTION_TEXT_MAX = 75
INPUT_LABEL_MAX = 2000
# One message for the whole batch (SPEC §4), labelled so that nobody expects it to
# stay with one row: it is saved on every domain whose status changes.
MESSAGE_LABEL = "Message for every domain you change"
MESSAGE_HINT = (
    f"Optional, up to {MESSAGE_LIMIT} characters. Saved on each domain whose status you "
    "change; for a note on one domain only, change it on its own or use "
    "/epmpulse status APP DOMAIN STATUS MESSAGE."
)


@dataclass(frozen=True)
class Page:
    """What the modal shows: an app and which page of its domains (0-based)."""

    app: str
    number: int = 0


def pages(estate: Estate) -> list[Page]:
    """Every app, split into pages of at most DOMAINS_PER_PAGE domains."""
    found: list[Page] = []
    for app, cfg in estate.apps.items():
        count = max(1, -(-len(cfg.domains) // DOMAINS_PER_PAGE))
        found.extend(Page(app, n) for n in range(count))
    return found


def page_domains(estate: Estate, page: Page) -> list[tuple[int, str]]:
    """The (index, name) of the domains on ``page``."""
    domains = estate.apps[page.app].domains
    start = page.number * DOMAINS_PER_PAGE
    return list(enumerate(domains))[start : start + DOMAINS_PER_PAGE]


def status_block_id(estate: Estate, app: str, domain_index: int) -> str:
    """The block id of one domain's status row."""
    return f"status_{list(estate.apps).index(app)}_{domain_index}"


def page_value(estate: Estate, page: Page) -> str:
    """The app picker's option value for ``page`` (short: option values max 150)."""
    return f"{list(estate.apps).index(page.app)}:{page.number}"


def parse_page_value(estate: Estate, value: str) -> Page:
    """The page an app-picker option value stands for; the first page if unknown."""
    index, _, number = value.partition(":")
    apps = list(estate.apps)
    try:
        page = Page(apps[int(index)], int(number))
    except (ValueError, IndexError):
        return Page(apps[0])
    return page if page in pages(estate) else Page(page.app)


def update_modal(service: StatusService, page: Page | None = None, message: str = "") -> View:
    """The modal for ``page`` (default: the first app) with current statuses preselected."""
    estate = service.estate
    page = page or Page(next(iter(estate.apps)))
    records = {r.domain: r for r in service.app_board(page.app)}
    blocks: list[Block] = [
        SectionBlock(
            block_id=APP_BLOCK,
            text=clip(f"*App*: {escape(page.app)}", 3000),
            accessory=_app_picker(estate, page),
        ),
        note("Only the domains whose status you change are updated; the message goes with them."),
    ]
    for index, domain in page_domains(estate, page):
        current = _status_option(records[domain].status)
        blocks.append(
            InputBlock(
                block_id=status_block_id(estate, page.app, index),
                label=PlainTextObject(text=clip(domain, INPUT_LABEL_MAX)),
                element=StaticSelectElement(
                    action_id=STATUS_ACTION,
                    options=[_status_option(s) for s in Status],
                    initial_option=current,
                ),
            )
        )
    blocks.append(
        InputBlock(
            block_id=MESSAGE_BLOCK,
            label=MESSAGE_LABEL,
            optional=True,
            hint=MESSAGE_HINT,
            element=PlainTextInputElement(
                action_id=MESSAGE_ACTION,
                multiline=True,
                max_length=MESSAGE_LIMIT,
                initial_value=message[:MESSAGE_LIMIT] or None,
            ),
        )
    )
    return View(
        type="modal",
        callback_id=CALLBACK_ID,
        title=TITLE,
        submit="Apply",
        close="Cancel",
        private_metadata=json.dumps({"app": page.app, "page": page.number}),
        blocks=blocks,
    )


def not_allowed_modal() -> View:
    """A modal telling a non-editor why there is no form."""
    return View(
        type="modal",
        callback_id=CALLBACK_ID,
        title=TITLE,
        close="Close",
        blocks=[
            mrkdwn(
                ":no_entry: You are not allowed to change statuses; you can still read them "
                "with `/epmpulse status`. Ask an EPMPulse admin to add you to the editors."
            )
        ],
    )


def typed_message(view: dict[str, Any]) -> str:
    """The message the user has typed so far (kept when the app is switched)."""
    value = _element_state(_state(view), MESSAGE_BLOCK, MESSAGE_ACTION).get("value")
    return value if isinstance(value, str) else ""


def read_submission(estate: Estate, view: dict[str, Any]) -> tuple[list[Update], dict[str, str]]:
    """The updates a submitted modal asks for, or the errors to show per block."""
    errors: dict[str, str] = {}
    page = _page_of(estate, view)
    if page is None:
        return [], {MESSAGE_BLOCK: "This form is out of date; close it and open it again."}
    message = typed_message(view).strip()
    if len(message) > MESSAGE_LIMIT:
        errors[MESSAGE_BLOCK] = f"Keep it to {MESSAGE_LIMIT} characters (now {len(message)})."
    shown = _initial_statuses(view)
    state = _state(view)
    updates: list[Update] = []
    first_block = ""
    for index, domain in page_domains(estate, page):
        block_id = status_block_id(estate, page.app, index)
        first_block = first_block or block_id
        chosen = _selected_value(state, block_id)
        if chosen is None:
            continue  # left out of the submission or nothing picked: leave it as it is
        try:
            status = Status.parse(chosen)
        except UnknownNameError as exc:
            errors[block_id] = str(exc)
            continue
        if status.value != shown.get(block_id):
            updates.append(Update(app=page.app, domain=domain, status=status, message=message))
    if not errors and not updates:
        errors[first_block or MESSAGE_BLOCK] = (
            "Nothing to change: pick a new status for at least one domain."
        )
    return updates, errors


def _page_of(estate: Estate, view: dict[str, Any]) -> Page | None:
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
        page = Page(estate.resolve_app(str(meta["app"])), int(meta.get("page", 0)))
    except (ValueError, KeyError, TypeError, UnknownNameError):
        return None
    return page if page in pages(estate) else None


def _state(view: dict[str, Any]) -> dict[str, Any]:
    values = (view.get("state") or {}).get("values") or {}
    return values if isinstance(values, dict) else {}


def _element_state(state: dict[str, Any], block_id: str, action_id: str) -> dict[str, Any]:
    block = state.get(block_id)
    element = block.get(action_id) if isinstance(block, dict) else None
    return element if isinstance(element, dict) else {}


def _selected_value(state: dict[str, Any], block_id: str) -> str | None:
    """The status value picked in one row, or None when the row sent no choice."""
    option = _element_state(state, block_id, STATUS_ACTION).get("selected_option")
    value = option.get("value") if isinstance(option, dict) else None
    return None if value is None else str(value)


def _initial_statuses(view: dict[str, Any]) -> dict[str, str]:
    shown: dict[str, str] = {}
    for block in view.get("blocks") or []:
        element = block.get("element") or {}
        initial = element.get("initial_option") or {}
        if element.get("action_id") == STATUS_ACTION and isinstance(initial, dict):
            shown[block.get("block_id", "")] = str(initial.get("value"))
    return shown


def _status_option(status: Status) -> Option:
    return Option(value=status.value, text=PlainTextObject(text=status_label(status), emoji=True))


def _app_picker(estate: Estate, current: Page) -> StaticSelectElement:
    every = pages(estate)
    multi_page = {p.app for p in every if p.number > 0}
    options = [_page_option(estate, p, p.app in multi_page) for p in every]
    initial = _page_option(estate, current, current.app in multi_page)
    if len(options) <= OPTIONS_MAX:
        return StaticSelectElement(action_id=APP_ACTION, options=options, initial_option=initial)
    if len(options) > OPTIONS_MAX * OPTIONS_MAX:
        logger.warning(
            "the app picker shows the first %d of %d pages", OPTIONS_MAX**2, len(options)
        )
    groups = [
        OptionGroup(
            label=f"Apps {start + 1}-{min(start + OPTIONS_MAX, len(options))}",
            options=options[start : start + OPTIONS_MAX],
        )
        for start in range(0, min(len(options), OPTIONS_MAX**2), OPTIONS_MAX)
    ]
    return StaticSelectElement(action_id=APP_ACTION, option_groups=groups, initial_option=initial)


def _page_option(estate: Estate, page: Page, paged: bool) -> Option:
    label = page.app
    if paged:
        domains = page_domains(estate, page)
        label = f"{clip(page.app, 50)} (domains {domains[0][0] + 1}-{domains[-1][0] + 1})"
    return Option(value=page_value(estate, page), text=clip(label, OPTION_TEXT_MAX))
