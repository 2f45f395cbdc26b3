"""Button and select actions: switching the modal's app, opening it from App Home."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App
from slack_sdk.errors import SlackApiError

from bot.slack.deps import SlackDeps
from bot.slack.home import OPEN_MODAL_ACTION
from bot.slack.listeners.clicks import Click, on_click
from bot.slack.listeners.shortcuts import open_update_modal
from bot.slack.modal import APP_ACTION, parse_page_value, typed_message, update_modal

logger = logging.getLogger(__name__)


def register(app: App, deps: SlackDeps) -> None:
    """Register the block action listeners."""

    @on_click(app, APP_ACTION)
    def switch_app(click: Click) -> None:
        view: dict[str, Any] = click.body["view"]
        page = parse_page_value(deps.service.layout, click.action["selected_option"]["value"])
        new_view = update_modal(deps.service, page, typed_message(view))
        try:
            click.client.views_update(view_id=view["id"], hash=view.get("hash"), view=new_view)
        except SlackApiError as exc:
            if exc.response.get("error") != "hash_conflict":
                raise
            # The user changed the view again meanwhile; their newer choice wins.
            logger.info("skipped a stale modal update for %s", click.user_id)

    @on_click(app, OPEN_MODAL_ACTION)
    def open_from_home(click: Click) -> None:
        open_update_modal(deps, click.client, click.body["trigger_id"], click.user_id)
