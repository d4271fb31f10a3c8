#!/usr/bin/env bash
# Turns a debootstrapped tree into a lab host: apt sources like a real VPS, the machine's CA
# bundle (lab-only: this machine reaches PyPI through an interception proxy), the lab's package
# cache, an empty machine-id and per-container SSH host keys.
set -euo pipefail
rootfs=$1 codename=$2 mirror=$3 security_mirror=$4

cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: $codename $codename-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security_mirror
Suites: $codename-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
rm -f "$rootfs/etc/apt/sources.list"

# Every CA this machine trusts, installed the Debian way so later updates keep it.
mkdir -p "$rootfs/usr/local/share/ca-certificates/lab"
awk -v dir="$rootfs/usr/local/share/ca-certificates/lab" '
    /BEGIN CERTIFICATE/ { n++; file = sprintf("%s/machine-%03d.crt", dir, n) }
    file { print > file }
    /END CERTIFICATE/ { close(file); file = "" }
' /etc/ssl/certs/ca-certificates.crt
chroot "$rootfs" update-ca-certificates >/dev/null

# Fresh identity per container, as on a new VPS.
: >"$rootfs/etc/machine-id"
rm -f "$rootfs"/etc/ssh/ssh_host_*
install -m 0644 "$(dirname "$0")/lab-ssh-hostkeys.service" "$rootfs/etc/systemd/system/"
chroot "$rootfs" systemctl enable lab-ssh-hostkeys.service >/dev/null 2>&1 \
    || ln -sf /etc/systemd/system/lab-ssh-hostkeys.service "$rootfs/etc/systemd/system/multi-user.target.wants/"

# Lab only: apt goes through the lab machine's package cache when it answers (apt-proxy), and
# dpkg skips the fsync after each file, as Docker's own Debian images do: a lab host is thrown
# away, never power-cut.
install -m 0755 "$(dirname "$0")/apt-proxy" "$rootfs/usr/local/lib/lab-apt-proxy"
echo 'Acquire::http::Proxy-Auto-Detect "/usr/local/lib/lab-apt-proxy";' \
    >"$rootfs/etc/apt/apt.conf.d/01lab-proxy"
echo force-unsafe-io >"$rootfs/etc/dpkg/dpkg.cfg.d/lab-unsafe-io"

# Lab only: Python keeps the code it compiles from a zip archive (each Ansible task's module
# and module_utils) in /var/cache/lab-zipimport, so a task does not compile them again; about a
# third of a task's CPU on the host. scripts/bench removes the directory to measure a plain host.
site_packages=$rootfs/usr/lib/python3/dist-packages
install -m 0644 "$(dirname "$0")/lab_zipimport_cache.py" "$site_packages/"
echo 'import lab_zipimport_cache' >"$site_packages/lab_zipimport_cache.pth"
install -d -m 0755 "$rootfs/var/cache/lab-zipimport"

# Units that have nothing to do in a container.
for unit in getty@tty1.service console-getty.service systemd-udevd.service \
            systemd-udev-trigger.service systemd-remount-fs.service; do
    ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done

rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
