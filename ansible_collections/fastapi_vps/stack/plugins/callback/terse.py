# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A stdout callback for people: one line per play, the full output in the log file."""

from __future__ import annotations

DOCUMENTATION = r"""
name: terse
type: stdout
short_description: One line per play with live progress; the full output goes to the log file
description:
  - Prints one line per play when it ends, with its time and the hosts it changed (and how many
    of their tasks changed) or the hosts that failed; then the play recap, the run's total time,
    its slowest tasks and where the full log is.
  - On a terminal, a status line shows the play and the task under way, with the task's number.
  - A failure, an unreachable host, a diff (C(--diff)) and what C(ansible.builtin.debug) tasks
    print (status, run, logs) appear in full, as P(ansible.builtin.default#callback) shows them.
  - Everything P(ansible.builtin.default#callback) would print goes to the log file set by
    C(log_path) (C(ANSIBLE_LOG_PATH)); without one, only the lines above remain.
extends_documentation_fragment:
  - ansible.builtin.default_callback
  - ansible.builtin.result_format_callback
"""

EXAMPLES = r"""
# ansible.cfg
# [defaults]
# stdout_callback = fastapi_vps.stack.terse
# log_path = .cache/ansible.log
"""

import os
import sys
import time
import typing as t
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from ansible import constants as C
from ansible.executor.stats import AggregateStats
from ansible.executor.task_result import CallbackTaskResult
from ansible.playbook.play import Play
from ansible.playbook.task import Task
from ansible.plugins.callback.default import CallbackModule as DefaultCallback
from ansible.utils.display import Display

DEBUG_ACTIONS = frozenset({"debug", "ansible.builtin.debug", "ansible.legacy.debug"})


class _LogOnly:
    """The display the default callback writes through: to the log file only. Warnings,
    deprecations and errors still reach the screen (they go through the real display)."""

    def __init__(self, display: Display) -> None:
        self._real = display

    def display(
        self,
        msg: str,
        color: str | None = None,
        stderr: bool = False,
        screen_only: bool = False,
        log_only: bool = False,
        newline: bool = True,
        caplevel: int | None = None,
    ) -> None:
        if not screen_only:
            self._real.display(
                msg, color=color, stderr=stderr, log_only=True, newline=newline, caplevel=caplevel
            )

    def banner(self, msg: str, color: str | None = None, cows: bool = True) -> None:
        msg = msg.strip()
        self.display(f"\n{msg} {'*' * max(3, self._real.columns - len(msg))}", color=color)

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{host} ({n})" for host, n in sorted(counter.items()))


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


class CallbackModule(DefaultCallback):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "fastapi_vps.stack.terse"

    def __init__(self) -> None:
        super().__init__()
        self._screen = self._display
        self._log = _LogOnly(self._screen)
        self._display = self._log
        self._live = sys.stdout.isatty()
        if C.DEFAULT_LOG_PATH and os.path.isfile(C.DEFAULT_LOG_PATH):
            os.chmod(C.DEFAULT_LOG_PATH, 0o600)  # it holds what the tasks returned
        self._started = time.monotonic()
        self._play_line: tuple[str, float] | None = None
        self._play_changed: Counter[str] = Counter()
        self._play_failed: set[str] = set()
        self._changed: Counter[str] = Counter()
        self._failed: set[str] = set()
        self._task_number = 0
        self._task: tuple[str, float] | None = None
        self._task_times: list[tuple[float, str]] = []
        self._shown_task: str | None = None

    # ---------------------------------------------------------------- the screen

    def _status(self, text: str) -> None:
        """The live line, rewritten in place (terminals only)."""
        if self._live:
            width = max(20, self._screen.columns - 1)
            sys.stdout.write("\r\033[K" + text[:width])
            sys.stdout.flush()

    def _clear_status(self) -> None:
        if self._live:
            sys.stdout.write("\r\033[K")
            sys.stdout.flush()

    def _say(self, line: str, color: str | None = None) -> None:
        self._clear_status()
        self._screen.display(line, color=color, screen_only=True)

    @contextmanager
    def _on_screen(self) -> Iterator[None]:
        """The default callback's output, on the screen and in the log."""
        self._clear_status()
        self._display = self._screen
        try:
            yield
        finally:
            self._display = self._log

    def _in_full(
        self, method: t.Callable[..., None], result: CallbackTaskResult, *args: bool
    ) -> None:
        """What the default callback prints for this result, under its task's name (printed
        once per task)."""
        task = result.task
        if self._shown_task != task._uuid:
            self._say(f"\nTASK [{task.get_name().strip()}]")
            self._shown_task = task._uuid
        with self._on_screen():
            method(result, *args)

    # ---------------------------------------------------------------- plays and tasks

    def _end_task(self) -> None:
        if self._task is not None:
            name, started = self._task
            self._task_times.append((time.monotonic() - started, name))
            self._task = None

    def _end_play(self) -> None:
        self._end_task()
        if self._play_line is None:
            return
        name, started = self._play_line
        took = _duration(time.monotonic() - started)
        if self._play_failed:
            outcome, color = f"FAILED on {', '.join(sorted(self._play_failed))}", C.COLOR_ERROR
        elif self._play_changed:
            outcome, color = f"changed {_counts(self._play_changed)}", C.COLOR_CHANGED
        else:
            outcome, color = "no change", C.COLOR_OK
        self._say(f"{name} · {took} · {outcome}", color=color)
        self._changed.update(self._play_changed)
        self._failed |= self._play_failed
        self._play_line = None

    def v2_playbook_on_play_start(self, play: Play) -> None:
        self._end_play()
        super().v2_playbook_on_play_start(play)
        name = play.get_name().strip() or ", ".join(play.hosts)
        self._play_line = (f"PLAY {name}", time.monotonic())
        self._play_changed = Counter()
        self._play_failed = set()
        self._status(f"PLAY {name}")

    def v2_playbook_on_no_hosts_matched(self) -> None:
        # A play that runs nowhere (its hosts pattern is empty) gets no line; the log says so.
        super().v2_playbook_on_no_hosts_matched()
        self._play_line = None

    def _task_status(self, task: Task, state: str = "") -> None:
        play = self._play_line[0] if self._play_line else ""
        self._status(f"{play} · task {self._task_number}: {task.get_name().strip()}{state}")

    def _task_started(self, task: Task) -> None:
        self._end_task()
        self._task_number += 1
        self._task = (task.get_name().strip(), time.monotonic())
        self._task_status(task)

    def v2_playbook_on_task_start(self, task: Task, is_conditional: bool) -> None:
        super().v2_playbook_on_task_start(task, is_conditional)
        self._task_started(task)

    def v2_playbook_on_handler_task_start(self, task: Task) -> None:
        super().v2_playbook_on_handler_task_start(task)
        self._task_started(task)

    # ---------------------------------------------------------------- results

    def v2_runner_on_ok(self, result: CallbackTaskResult) -> None:
        if result.result.get("changed"):
            self._play_changed[result.host.get_name()] += 1
        if result.task.action in DEBUG_ACTIONS and not result.result.get("skipped_reason"):
            self._in_full(super().v2_runner_on_ok, result)
        else:
            super().v2_runner_on_ok(result)

    def v2_runner_on_failed(self, result: CallbackTaskResult, ignore_errors: bool = False) -> None:
        if ignore_errors:
            super().v2_runner_on_failed(result, ignore_errors)
            return
        self._play_failed.add(result.host.get_name())
        self._in_full(super().v2_runner_on_failed, result, ignore_errors)

    def v2_runner_on_unreachable(self, result: CallbackTaskResult) -> None:
        if not result.task.ignore_unreachable:
            self._play_failed.add(result.host.get_name())
        self._in_full(super().v2_runner_on_unreachable, result)

    def v2_runner_item_on_failed(self, result: CallbackTaskResult) -> None:
        self._in_full(super().v2_runner_item_on_failed, result)

    def v2_on_file_diff(self, result: CallbackTaskResult) -> None:
        self._in_full(super().v2_on_file_diff, result)

    def v2_runner_retry(self, result: CallbackTaskResult) -> None:
        super().v2_runner_retry(result)
        left = result.result.get("retries", 0) - result.result.get("attempts", 0)
        self._task_status(result.task, f" (waiting, {left} tries left)")

    # ---------------------------------------------------------------- the end

    def v2_playbook_on_stats(self, stats: AggregateStats) -> None:
        self._end_play()
        with self._on_screen():
            super().v2_playbook_on_stats(stats)
        slowest = sorted(self._task_times, reverse=True)[:3]
        changed = _counts(self._changed)
        took = _duration(time.monotonic() - self._started)
        lines = [
            f"{'FAILED' if self._failed else 'Done'} in {took}"
            + (f": failed on {', '.join(sorted(self._failed))}" if self._failed else "")
            + (f"; changed {changed}" if changed else "; nothing changed"),
        ]
        if slowest:
            lines.append(
                "slowest tasks: " + ", ".join(f"{name} ({_duration(s)})" for s, name in slowest)
            )
        if C.DEFAULT_LOG_PATH:
            lines.append(f"full log: {C.DEFAULT_LOG_PATH}")
        for line in lines:
            self._say(line, color=C.COLOR_ERROR if self._failed and line is lines[0] else None)
