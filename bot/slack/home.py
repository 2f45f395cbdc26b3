"""The App Home tab: a button opening the update modal, then the whole board."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement
from slack_sdk.models.views import View

from bot.close.conductor import shown
from bot.model import utcnow
from bot.service import StatusService
from bot.slack.blocks import (
    VIEW_BLOCKS_MAX,
    board_paragraphs,
    fit_blocks,
    header,
    note,
    paragraph_blocks,
    section_blocks,
)
from bot.slack.close import summary_lines
from bot.slack.holds import conductor_lines
from bot.slack.jobs import runnable_board_blocks
from bot.slack.mrkdwn import slack_date
from bot.slack.report import report_home_blocks

if TYPE_CHECKING:
    from bot.estate import Estate

OPEN_MODAL_ACTION = "open_update_modal"
ACTIONS_BLOCK = "home_actions"


def home_view(
    service: StatusService,
    *,
    can_run: bool = False,
    approver_id: str | None = None,
    estate: Estate | None = None,
) -> View:
    """The Home tab: the *Update statuses* button and the board.

    ``estate`` holds the job specs (None: no job can start). With ``can_run`` (an editor)
    rows whose domain has an EPM job get a *Run* button;
    a sign-off approver (``approver_id``) sees first what waits for their approval.
    """
    button = ButtonElement(text="Update statuses", action_id=OPEN_MODAL_ACTION, style="primary")
    blocks: list[Block] = [
        header("EPM status"),
        ActionsBlock(block_id=ACTIONS_BLOCK, elements=[button]),
    ]
    blocks.append(note(f"As of {slack_date(utcnow())}. Reopen this tab to refresh."))
    if approver_id is not None and service.sign_off is not None:
        from bot.slack.signoff import waiting_blocks  # SPEC §18

        blocks.extend(waiting_blocks(service, approver_id))
    if service.close.configured:  # the close summary (SPEC §11) above the board
        blocks.extend(section_blocks(summary_lines(service.close.summary())))
        # What starts by itself, and when (SPEC §17).
        blocks.extend(section_blocks(conductor_lines(shown(service, estate))))
    blocks.extend(report_home_blocks(service))
    if can_run and estate is not None:
        blocks.extend(runnable_board_blocks(service, estate))
    else:
        blocks.extend(paragraph_blocks(board_paragraphs(service.board())))
    overflow = "Use `/epmpulse status APP` for the rest."
    return View(type="home", blocks=fit_blocks(blocks, VIEW_BLOCKS_MAX, overflow))
