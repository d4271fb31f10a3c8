# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Entirely implemented as an action plugin (plugins/action/app_release.py, the builder in
# plugins/plugin_utils/app_release.py); this file holds its documentation.
from __future__ import annotations

DOCUMENTATION = r"""
---
module: app_release
short_description: Build a Python app's release once, on the controller, for every host's platform
description:
  - Copies the app's source tree (a local directory or a commit of a git repository), reads the
    app's own lock and builds, for each distinct Python/platform among O(targets), a tarball of
    the source tree and a wheelhouse of exactly what the lock holds for that target, with a
    sha256-locked C(requirements.txt). Hosts then install it offline, with neither a compiler
    nor access to PyPI, with uv for their machine (RV(installers)), the controller's own uv
    version, fetched once into the cache.
  - 'Locks read, in this order: C(uv.lock) (in the project dir or a folder above it, as a uv
    workspace keeps it), C(pylock.toml), C(poetry.lock), C(requirements.txt) (or O(requirements))
    with a hash on every line; without any of them, C(requirements.txt) pins or
    C(pyproject.toml) dependencies are resolved for each target, and RV(resolved) says so.'
  - uv resolves the set for each target's Python and platform, which also proves a lock
    complete there; the app server's pins (O(server_requirements)) are added, and a conflict
    with the app's own pins is an error naming both.
  - The release id is a hash of the source tree, the project dir, the requirements name and the
    server pins, unless O(release_id) is given. Artifacts are cached by that hash in O(cache),
    so the same code as a new release costs no build, and a second run reports C(changed=false).
  - Needs C(uv) beside the controller's Python or on its C(PATH), and C(git) for O(git_repo).
author:
  - fastapi-vps maintainers (@fastapi-vps)
options:
  name:
    description: The app's name, its namespace in O(cache) and the name in the release's metadata.
    type: str
    required: true
  cache:
    description:
      - The controller's cache root. Releases go to C(<cache>/<name>/builds), git mirrors to
        C(<cache>/git).
    type: path
    required: true
  targets:
    description:
      - Each host's Python and platform as C(PYTHON-ARCH-GLIBC), for example
        C(3.11.2-x86_64-2.36) (Debian 12 on x86_64), keyed by the host's name. One artifact is
        built per distinct value; errors name the hosts that run it.
    type: dict
    required: true
  server_requirements:
    description:
      - A pip requirements file of the app server's pins (gunicorn, uvicorn), part of every
        release.
    type: path
    required: true
  source:
    description:
      - The app's source directory on the controller. Exactly one of O(source) and O(git_repo).
    type: path
  git_repo:
    description: A git repository to build from, mirrored in O(cache) and fetched on every run.
    type: str
  git_version:
    description: The branch, tag or commit of O(git_repo).
    type: str
    default: HEAD
  release_id:
    description: The release's id; empty means the hash of what was built.
    type: str
    default: ""
  project:
    description:
      - The app's project directory within the source tree, for example C(backend) in a uv
        workspace.
    type: str
    default: "."
  requirements:
    description: A requirements file in the project directory to use instead of detecting the lock.
    type: str
    default: ""
  exclude:
    description:
      - Globs left out of the source tree besides VCS data, virtualenvs and caches. A pattern
        without C(/) matches a name anywhere; one with C(/) a path from the tree's root, as in
        C(.gitignore).
    type: list
    elements: str
    default: []
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details:
      - The build runs in check mode too, since it writes only the controller's cache; the
        result tells which release a run would install.
  diff_mode:
    support: none
  platform:
    platforms: posix
    details: Runs on the controller only; the targets are only named.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
notes:
  - Use it with C(run_once=true) and every host of the play in O(targets), so one build serves
    the batch.
seealso:
  - name: uv export
    description: How a uv lock becomes the release's locked requirements.
    link: https://docs.astral.sh/uv/reference/cli/#uv-export
"""

EXAMPLES = r"""
- name: Find each host's Python and platform
  ansible.builtin.command:
    argv:
      - python3
      - -c
      - >-
        import platform, sys;
        print('%d.%d.%d-%s-%s' % (*sys.version_info[:3],
              platform.machine(), platform.libc_ver()[1]))
  register: host_python
  changed_when: false

- name: Build the release once for all of them
  fastapi_vps.stack.app_release:
    name: myapp
    source: "{{ playbook_dir }}/../myapp"
    project: backend
    cache: ~/.cache/fastapi_vps/app-build
    server_requirements: files/server-requirements.txt
    targets: >-
      {{ dict(ansible_play_hosts
              | zip(ansible_play_hosts | map('extract', hostvars, ['host_python', 'stdout']))) }}
  run_once: true
  register: release

- name: Copy this host's artifact
  ansible.builtin.copy:
    src: "{{ release.host_artifacts[inventory_hostname] }}"
    dest: "/srv/myapp/releases/{{ release.release }}.tar.gz"
    mode: "0640"
"""

RETURN = r"""
release:
  description: The release id, O(release_id) or RV(build).
  returned: success
  type: str
  sample: 3f9a0c1d2e4b
build:
  description: The hash of what was built; artifacts are cached under it.
  returned: success
  type: str
  sample: 3f9a0c1d2e4b
version:
  description: The app's version, from its project metadata or its built wheel.
  returned: success
  type: str
  sample: 0.1.0
origin:
  description: Where the source came from, a directory or C(repository@commit).
  returned: success
  type: str
  sample: https://github.com/example/myapp.git@0a1b2c3d4e5f60718293a4b5c6d7e8f901234567
lock:
  description:
    - Which input gave the pins, C(uv.lock), C(pylock.toml), C(poetry.lock), C(requirements.txt)
      or C(pyproject.toml).
  returned: success
  type: str
  sample: uv.lock
project:
  description: The project directory within the tree.
  returned: success
  type: str
  sample: backend
resolved:
  description: Whether the pins were resolved here because the input carried no hashes.
  returned: success
  type: bool
  sample: false
artifacts:
  description: The tarball built for each target, by C(PYTHON-ARCH-GLIBC).
  returned: success
  type: dict
  sample: {"3.11.2-x86_64-2.36": "/home/me/.cache/myapp/builds/3f9a0c1d2e4b-py3.11-x86_64.tar.gz"}
host_artifacts:
  description: The tarball for each host of O(targets).
  returned: success
  type: dict
  sample: {"web1": "/home/me/.cache/myapp/builds/3f9a0c1d2e4b-py3.11-x86_64.tar.gz"}
installers:
  description: >-
    For each target, uv for its machine (the controller's version), which the hosts install
    the release's wheels with.
  returned: success
  type: dict
  sample: {"3.11.2-x86_64-2.36": "/home/me/.cache/myapp/tools/uv-0.13.9-x86_64"}
host_installers:
  description: uv for each host of O(targets).
  returned: success
  type: dict
  sample: {"web1": "/home/me/.cache/myapp/tools/uv-0.13.9-x86_64"}
packages:
  description: For each target, the packages the release holds, name to version.
  returned: success
  type: dict
  sample: {"3.11.2-x86_64-2.36": {"fastapi": "0.121.0", "gunicorn": "23.0.0"}}
changed:
  description: Whether an artifact had to be built; a cached one is reused.
  returned: always
  type: bool
"""
