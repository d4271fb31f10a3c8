"""Every test that runs Ansible reads its default output (the recap, each task's result), with
each task's timing, rather than the terse one people get from ansible.cfg; the test's own
output is its log."""

import os

os.environ.setdefault("ANSIBLE_STDOUT_CALLBACK", "ansible.builtin.default")
os.environ.setdefault(
    "ANSIBLE_CALLBACKS_ENABLED", "ansible.posix.profile_tasks,fastapi_vps.stack.module_cache"
)
os.environ.setdefault("ANSIBLE_LOG_PATH", os.devnull)
