"""What the Slack listeners share: the status service and the Slack-side helpers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from slack_sdk import WebClient

from bot.metrics import Metrics
from bot.service import StatusService
from bot.slack.commandline import CommandContext, CommandLine
from bot.slack.editors import Editors
from bot.slack.home import home_view
from bot.slack.subscriptions import Subscriptions

if TYPE_CHECKING:
    from bot.epm.launch import JobLauncher
    from bot.estate import Estate


@dataclass
class SlackDeps:
    """Dependencies handed to every listener module's ``register(app, deps)``.

    ``on_refresh`` may be set after construction (the canvas part provides it).
    """

    service: StatusService
    editors: Editors
    subscriptions: Subscriptions
    commands: CommandLine
    metrics: Metrics | None = None
    on_refresh: Callable[[], object] | None = None
    launcher: JobLauncher | None = None  # starts EPM jobs (``run``, App Home's Run buttons)
    approvers: Editors | None = None  # sign-off approvers (SPEC §18); None: no sign-off

    @property
    def estate(self) -> Estate | None:
        """The job specs, which come with the launcher (None: no job can start)."""
        return self.launcher.estate if self.launcher is not None else None

    def is_approver(self, user_id: str) -> bool:
        """Whether ``user_id`` is a sign-off approver (usergroups resolved as for editors)."""
        return self.approvers is not None and self.approvers.is_editor(user_id)

    def publish_home(self, client: WebClient, user_id: str) -> None:
        """Publish App Home for ``user_id``: Run buttons for editors, sign-offs for approvers."""
        view = home_view(
            self.service,
            can_run=self.launcher is not None and self.editors.is_editor(user_id),
            approver_id=user_id if self.is_approver(user_id) else None,
            estate=self.estate,
        )
        client.views_publish(user_id=user_id, view=view)

    def context_for(self, user_id: str, channel_id: str = "") -> CommandContext:
        """The sub-command context for one caller."""
        return CommandContext(
            user_id=user_id,
            channel_id=channel_id,
            service=self.service,
            editors=self.editors,
            subscriptions=self.subscriptions,
            metrics=self.metrics,
            on_refresh=self.on_refresh,
            subcommands=self.commands.subcommands,
            launcher=self.launcher,
        )
