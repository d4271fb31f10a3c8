# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Entirely implemented as an action plugin (plugins/action/fast_template.py); this file holds
# its documentation, as ansible.builtin.template's module file does for that action.
from __future__ import annotations

DOCUMENTATION = r"""
---
module: fast_template
short_description: Template a file out to a target host, in one remote call when it is already right
description:
  - M(ansible.builtin.template) with the same options, results, check mode and diff.
  - For a file whose content already matches, the builtin action runs the C(file) module a second
    time to put owner, group and mode right. This action skips that run when the stat it has
    already made shows the requested O(owner), O(group) and O(mode), and returns C(changed=false)
    as C(file) would have.
  - Arguments a stat cannot vouch for (symbolic modes, SELinux contexts, O(attributes), O(follow))
    keep the builtin path.
  - With O(known), a role reads all of its files' stats in one call and each template task makes
    no remote call at all for a file already right.
  - With pipelining, the temporary directory on the host (three round trips of the builtin action
    in every task) is made only for a file that must be written.
author:
  - fastapi-vps maintainers (@fastapi-vps)
options:
  known:
    description:
      - The stats of files read in one call before, as the C(files) that M(ansible.builtin.find)
        returns with O(ansible.builtin.find#module:get_checksum=true).
      - When O(dest) is among them as a regular file, that stat answers whether the file is
        already right, and the task makes no remote call of its own for it; otherwise the file
        is stat'ed as usual.
      - Read them after the last task that may change these files, and before the templates.
    type: list
    elements: dict
    default: []
  follow:
    description:
      - Whether symbolic links are followed, as in M(ansible.builtin.template).
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - ansible.builtin.action_common_attributes.files
  - ansible.builtin.backup
  - ansible.builtin.files
  - ansible.builtin.template_common
  - ansible.builtin.validate
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
  safe_file_operations:
    support: full
    description: The file is written atomically, as by M(ansible.builtin.template).
  vault:
    support: full
    description: Templates may be vault-encrypted, as with M(ansible.builtin.template).
seealso:
  - module: ansible.builtin.template
"""

EXAMPLES = r"""
- name: Write the app's gunicorn settings
  fastapi_vps.stack.fast_template:
    src: gunicorn.conf.py.j2
    dest: /srv/app/shared/gunicorn.conf.py
    owner: root
    group: app
    mode: "0640"
"""

RETURN = r"""
dest:
  description: Destination file or path.
  returned: success
  type: str
  sample: /srv/app/shared/gunicorn.conf.py
changed:
  description: Whether the content, owner, group or mode had to change.
  returned: always
  type: bool
  sample: false
"""
