#!/usr/bin/env bash
# Build a minimal busybox root filesystem as a tar, for `berth import FILE busybox`.
#
#   scripts/make-busybox-rootfs.sh OUT.tar
#
# The busybox binary is Debian's busybox-static (/bin/busybox); a dynamically linked busybox
# would not start in a rootfs without a libc. The tar is byte-for-byte reproducible (sorted
# entries, fixed owners and mtimes), so importing it twice yields the same image ID.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 OUT.tar" >&2
  exit 2
fi
out=$1
busybox=${BUSYBOX:-/bin/busybox}

if [ ! -x "$busybox" ]; then
  echo "$0: $busybox not found: install busybox-static (apt-get install -y busybox-static)" >&2
  exit 1
fi
if [ -z "${BUSYBOX:-}" ] && ! dpkg-query -S "$busybox" 2>/dev/null | grep -q '^busybox-static:'; then
  echo "$0: $busybox does not come from busybox-static; a dynamic busybox cannot run in the image" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs

mkdir -p "$root"/{bin,etc,tmp,proc,sys,dev,root,home/user}
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
cp "$busybox" "$root/bin/busybox"

# What `busybox --install -s bin` does, except that --install points every link at the absolute
# host path of the binary it ran from (/proc/self/exe); relative links stay valid in the image.
for applet in $("$root/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done

# An unprivileged user with supplementary groups, so `run -u user` has groups to pick up.
cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$root/etc/group" <<'GROUP'
root:x:0:
daemon:x:1:
tty:x:5:
wheel:x:10:root
audio:x:29:user
users:x:100:user
user:x:1000:
nogroup:x:65534:
GROUP
chown 1000:1000 "$root/home/user"

tmp_out="$out.partial.$$"
tar --sort=name --numeric-owner --mtime=@0 -C "$root" -cf "$tmp_out" .
mv -f "$tmp_out" "$out"
