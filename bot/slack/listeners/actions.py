"""Button and select actions: switching the modal's app, opening it from App Home."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.deps import SlackDeps
from bot.slack.home import OPEN_MODAL_ACTION
from bot.slack.listeners.errors import reported
from bot.slack.listeners.shortcuts import open_update_modal
from bot.slack.modal import APP_ACTION, parse_page_value, typed_message, update_modal

logger = logging.getLogger(__name__)


def register(app: App, deps: SlackDeps) -> None:
    """Register the block action listeners."""

    @app.action(APP_ACTION)
    def switch_app(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient
    ) -> None:
        ack()
        with reported(body, client):
            view = body["view"]
            page = parse_page_value(deps.service.layout, action["selected_option"]["value"])
            new_view = update_modal(deps.service, page, typed_message(view))
            try:
                client.views_update(view_id=view["id"], hash=view.get("hash"), view=new_view)
            except SlackApiError as exc:
                if exc.response.get("error") != "hash_conflict":
                    raise
                # The user changed the view again meanwhile; their newer choice wins.
                logger.info("skipped a stale modal update for %s", body["user"]["id"])

    @app.action(OPEN_MODAL_ACTION)
    def open_from_home(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        with reported(body, client):
            open_update_modal(deps, client, body["trigger_id"], body["user"]["id"])
