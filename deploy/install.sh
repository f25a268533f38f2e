#!/bin/sh
# Installs the register on a board: the kassa user, the binary, the systemd unit, and a
# configuration directory. Run as root on the board, from a release unpacked beside deploy/:
#
#   sh deploy/install.sh [BINARY]
#
# BINARY defaults to the board build (dist/kassa-board-linux-ARCH, scripts/build) for this
# machine's architecture: the register without the sandbox, cloud and emulators. The
# configuration itself (/etc/kassa/kassa.json, docs/config.md) is the installer's to write; the
# service is enabled but only started when it exists. Running it again upgrades the binary
# and the unit, and restarts a running service.
set -eu
here=$(cd "$(dirname "$0")" && pwd)

if [ "$(id -u)" -ne 0 ]; then
	echo "install.sh: run as root" >&2
	exit 1
fi

bin=${1:-}
if [ -z "$bin" ]; then
	case $(uname -m) in
	armv7l | armv8l) bin=$here/../dist/kassa-board-linux-armv7 ;;
	aarch64 | arm64) bin=$here/../dist/kassa-board-linux-arm64 ;;
	x86_64) bin=$here/../dist/kassa-board-linux-amd64 ;;
	*) echo "install.sh: no build for $(uname -m); pass the binary" >&2; exit 1 ;;
	esac
fi
[ -x "$bin" ] || { echo "install.sh: $bin: not an executable (run scripts/build)" >&2; exit 1; }
"$bin" version >/dev/null || { echo "install.sh: $bin does not run on this machine" >&2; exit 1; }

# A system user with no login and no home of its own: its only state is /var/lib/kassa.
for g in dialout gpio; do
	getent group "$g" >/dev/null || groupadd --system "$g"
done
if ! getent passwd kassa >/dev/null; then
	useradd --system --user-group --home-dir /var/lib/kassa --no-create-home \
		--shell /usr/sbin/nologin --comment "kassa cash register" kassa
fi
usermod -a -G dialout,gpio kassa

# GPIO character devices for the gpio group, as Raspberry Pi OS does and Debian does not.
if [ ! -e /etc/udev/rules.d/60-kassa-gpio.rules ]; then
	cat >/etc/udev/rules.d/60-kassa-gpio.rules <<'RULES'
SUBSYSTEM=="gpio", KERNEL=="gpiochip*", GROUP="gpio", MODE="0660"
KERNEL=="gpiomem", GROUP="gpio", MODE="0660"
RULES
	if udevadm control --reload-rules 2>/dev/null; then
		udevadm trigger --subsystem-match=gpio 2>/dev/null || true
	fi
fi

install -d -m 0700 -o kassa -g kassa /var/lib/kassa
install -d -m 0750 -o root -g kassa /etc/kassa
install -m 0755 "$bin" /usr/local/bin/kassa.new
mv -f /usr/local/bin/kassa.new /usr/local/bin/kassa # atomic: a running service keeps its inode
install -m 0644 "$here/kassa.service" /etc/systemd/system/kassa.service
if [ -f "$here/../docs/board.md" ]; then
	install -D -m 0644 "$here/../docs/board.md" /usr/local/share/doc/kassa/board.md
fi

systemctl daemon-reload
systemctl enable kassa.service
if [ -f /etc/kassa/kassa.json ]; then
	systemctl restart kassa.service
	echo "install.sh: kassa $(/usr/local/bin/kassa version | cut -d' ' -f2) installed and (re)started"
else
	echo "install.sh: kassa installed and enabled; write /etc/kassa/kassa.json (docs/config.md), then: systemctl start kassa"
fi
